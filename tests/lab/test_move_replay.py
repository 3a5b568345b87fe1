"""`lab move` under traffic (lab/replay.py): the regression the rehearsal exists for. With
today's plans the search listener rule forwards before the search fleet has booted and
the rehearsal counts search errors; with the fix (the rule waits for the fleet, which
waits for healthy targets) it counts none (test_move_replay_fix.py; the rehearsal is in
move_rehearsal.py). No acknowledged write is lost either way."""

from __future__ import annotations

import copy
from itertools import pairwise

import pytest

from infra.config import STAGES
from infra.tokens import ResourceType
from lab.move import move_plan
from lab.replay import (
    RUNBOOKS,
    Runbook,
    Settings,
    effects,
    longest_error_window,
    phases_of,
    unmapped,
)
from lab.stats import Sample
from tests.lab.move_rehearsal import check_the_search_rule
from tests.lab.search_rule_variants import one, without_fix

pytestmark = pytest.mark.wall(37)  # seconds alone (tests/conftest.py)


# The session's plans (tests/conftest.py `stack_plans`: planned once per run and shared by
# the xdist workers); none of these tests changes a plan: the variants are deep copies.
@pytest.fixture(scope="module")
def plan(stack_plans):
    return lambda env, stage: stack_plans[env, stage]


@pytest.fixture(scope="module")
def plans(plan):
    return plan("prod", "edge"), plan("prod", "scale-5x")


def test_every_serving_step_of_edge_to_scale_5x_has_an_effect(plans):
    edge, scale = plans
    mp = move_plan(edge, without_fix(scale))
    assert unmapped(mp) == []
    kinds = {(e.step.name, e.kind) for e in effects(mp)}
    assert {("web-asg", "refresh"), ("search-asg", "launch"), ("alb-search", "rule")} <= kinds
    assert ("database-primary", "restart-db") in kinds


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_every_move_maps_every_serving_step_with_its_runbook(plan, env):
    """All six moves, the edge cut-over as its two settings: no step left unmapped."""
    for before, after in pairwise(STAGES):
        book = RUNBOOKS.get(f"{before} -> {after}", Runbook())
        phases = phases_of(before, after, plan(env, before), plan(env, after), book, env)
        assert [m for mp, _ in phases for m in unmapped(mp)] == [], (before, after)
    kinds = {
        e.kind
        for mp, _ in phases_of(
            "split-db",
            "load-balanced",
            plan("prod", "split-db"),
            plan("prod", "load-balanced"),
            RUNBOOKS["split-db -> load-balanced"],
            "prod",
        )
        for e in effects(mp)
    }
    assert {"new-alb", "launch", "stop-box"} <= kinds


def test_the_edge_cut_over_opens_first_and_deletes_only_when_closing(plan):
    book = RUNBOOKS["read-replicas -> edge"]
    edge = plan("prod", "edge")
    opened, closed = phases_of("read-replicas", "edge", plan("prod", "read-replicas"), edge,
                             book, "prod")  # fmt: skip
    assert not [t for t in opened[0].timeline if t.action == "delete"]
    assert {opened[0].steps[t.urn].name for t in closed[0].timeline if t.action == "delete"} == {
        "security-alb-from-internet-http"
    }
    assert closed[1] is edge


def test_a_step_the_lab_has_no_effect_for_is_named(plan):
    new = plan("prod", "load-balanced")
    changed = copy.deepcopy(new)
    one(changed, ResourceType.LB_LISTENER, "alb-http")["inputs"]["port"] = 8080
    assert unmapped(move_plan(new, copy.deepcopy(new))) == []
    assert [m for m in unmapped(move_plan(new, changed)) if "alb-http" in m]


def test_longest_error_window_joins_errors_less_than_a_gap_apart():
    s = [Sample(t, 0.01, 503, "search", True) for t in (1.0, 1.5, 2.2, 5.0)]
    s.append(Sample(1.7, 0.01, 200, "search", True))
    assert longest_error_window(s, gap=1.0) == pytest.approx(1.2)


@pytest.mark.servers
@pytest.mark.parametrize("fix", [False], ids=["todays-plans"])
def test_the_search_rule_without_the_fix_serves_errors_with_it_none(lab_root, plans, fix):
    check_the_search_rule(*plans, fix)


def test_the_dns_switch_runs_after_the_creates_and_before_the_box_is_deleted(plan, monkeypatch):
    """split-db -> load-balanced walked with the effects recorded, not applied: the runbook's
    "DNS to the ALB first" comes after every create and update, before every delete."""
    import types

    import lab.replay as replay

    book = RUNBOOKS["split-db -> load-balanced"]
    [(mp, new)] = phases_of(
        "split-db", "load-balanced", plan("prod", "split-db"),
        plan("prod", "load-balanced"), book, "prod",
    )  # fmt: skip
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(replay, "apply", lambda _lab, e, _p: seen.append((e.timed.action, e.kind)))
    lab = types.SimpleNamespace(settings=Settings(time_scale=0.01))
    out = replay.walk(lab, mp, new, lambda _lab: seen.append(("dns", "human")))
    assert out["step_errors"] == []
    at = seen.index(("dns", "human"))
    assert all(a not in ("delete", "delete-replaced") for a, _ in seen[:at])
    assert ("create", "new-alb") in seen[:at] and ("create", "launch") in seen[:at]
    assert ("delete", "stop-box") in seen[at:]
    assert all(a in ("delete", "delete-replaced") for a, _ in seen[at + 1 :])
