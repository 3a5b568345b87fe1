"""The engine-order replay on small hand-made plans (lab/engine_order.py)."""

from __future__ import annotations

import pytest

from lab.engine_order import Action, Op, OrderError, Step, delete_waves, finished, schedule


def _at(timeline, urn, action):
    [hit] = [t for t in timeline if t.urn == urn and t.action == action]
    return hit.start_s, hit.end_s


def test_a_create_waits_for_its_dependencies_and_independent_ones_run_together():
    deps = {"vpc": (), "tg": ("vpc",), "asg": ("tg",), "rule": ("tg",), "bucket": ()}
    steps = {
        "tg": Step("tg", Op.CREATE, 10),
        "asg": Step("asg", Op.CREATE, 300),
        "rule": Step("rule", Op.CREATE, 5),
        "bucket": Step("bucket", Op.CREATE, 20),
    }
    tl = schedule(steps, deps, {"vpc": ()})
    assert _at(tl, "tg", Action.CREATE) == (0, 10)
    assert _at(tl, "bucket", Action.CREATE) == (0, 20)  # independent: from the start
    # Both wait only for the group: the rule is done long before the fleet.
    assert _at(tl, "asg", Action.CREATE) == (10, 310)
    assert _at(tl, "rule", Action.CREATE) == (10, 15)


def test_a_dependency_on_the_fleet_makes_the_rule_wait_for_it():
    deps = {"tg": (), "asg": ("tg",), "rule": ("tg", "asg")}
    steps = {s: Step(s, Op.CREATE, d) for s, d in (("tg", 10), ("asg", 300), ("rule", 5))}
    tl = schedule(steps, deps, {})
    assert _at(tl, "rule", Action.CREATE) == (310, 315)


def test_an_unchanged_resource_passes_its_wait_on_to_dependents():
    deps = {"a": (), "same": ("a",), "c": ("same",)}
    tl = schedule({"a": Step("a", Op.UPDATE, 7), "c": Step("c", Op.UPDATE, 1)}, deps, deps)
    assert _at(tl, "c", Action.UPDATE) == (7, 8)
    assert [t.urn for t in tl] == ["a", "c"]


def test_a_replacement_creates_first_and_deletes_the_old_one_after_every_create():
    deps = {"db": (), "app": ("db",), "late": ("app",)}
    steps = {
        "db": Step("db", Op.REPLACE, 100, delete_s=30),
        "app": Step("app", Op.UPDATE, 50),
        "late": Step("late", Op.CREATE, 40),
    }
    tl = schedule(steps, deps, {"db": (), "app": ("db",)})
    assert _at(tl, "db", Action.CREATE_REPLACEMENT) == (0, 100)
    assert _at(tl, "late", Action.CREATE) == (150, 190)
    assert _at(tl, "db", Action.DELETE_REPLACED) == (190, 220)  # after the program is done


def test_delete_before_replace_deletes_first():
    deps = {"db": (), "app": ("db",)}
    steps = {
        "db": Step("db", Op.REPLACE, 100, delete_s=30, delete_before_replace=True),
        "app": Step("app", Op.UPDATE, 5),
    }
    tl = schedule(steps, deps, deps)
    assert _at(tl, "db", Action.DELETE_REPLACED) == (0, 30)
    assert _at(tl, "db", Action.CREATE_REPLACEMENT) == (30, 130)
    assert _at(tl, "app", Action.UPDATE) == (130, 135)


def test_deletes_come_last_and_dependents_go_first():
    old = {"vpc": (), "tg": ("vpc",), "rule": ("tg",), "box": ("vpc",)}
    new = {"vpc": (), "alb": ("vpc",)}
    steps = {
        "alb": Step("alb", Op.CREATE, 60),
        "tg": Step("tg", Op.DELETE, delete_s=10),
        "rule": Step("rule", Op.DELETE, delete_s=3),
        "box": Step("box", Op.DELETE, delete_s=20),
    }
    tl = schedule(steps, new, old)
    # ScheduleDeletes peels off what depends on no condemned resource (tg, box) and
    # reverses: the rule goes first, then tg and box together (box is independent, yet
    # waits: the engine's waves are conservative).
    assert _at(tl, "rule", Action.DELETE) == (60, 63)
    assert _at(tl, "tg", Action.DELETE) == (63, 73)
    assert _at(tl, "box", Action.DELETE) == (63, 83)
    assert delete_waves({"tg", "rule", "box"}, old) == [["rule"], ["box", "tg"]]
    assert finished(tl, "box") == 83


def test_a_cycle_and_a_step_outside_the_plans_are_named():
    with pytest.raises(OrderError, match="cycle"):
        schedule({"a": Step("a", Op.CREATE, 1)}, {"a": ("b",), "b": ("a",)}, {})
    with pytest.raises(OrderError, match="not in the old state"):
        schedule({"x": Step("x", Op.DELETE)}, {}, {})
    with pytest.raises(KeyError, match="no create of nope"):
        finished([], "nope", Action.CREATE)
