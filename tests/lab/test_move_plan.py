"""`lab move`'s steps and timeline from the real plans (lab/move.py), and the regression
the rehearsal exists for: the search listener rule forwarding before its fleet has booted."""

from __future__ import annotations

import pytest

from lab.engine_order import Action
from lab.move import ASG, LISTENER_RULE, move_plan, render, search_gap
from tests.lab.search_rule_variants import one, with_fix, without_fix


@pytest.fixture(scope="module")
def edge_and_scale(stack_plan):
    # The session's plans (tests/conftest.py), read-only: the variants are deep copies.
    return stack_plan("prod", "edge"), stack_plan("prod", "scale-5x")


def test_the_rule_without_the_fleet_dependency_forwards_to_an_unbooted_fleet(edge_and_scale):
    edge, scale = edge_and_scale
    new = without_fix(scale)
    gap = search_gap(move_plan(edge, new), new)
    assert gap is not None
    grace = one(new, ASG, "search-asg")["inputs"]["healthCheckGracePeriod"]
    # The whole boot at least: the rule is done before the group's create even starts.
    assert gap.seconds >= grace


def test_with_the_fix_the_rule_waits_for_healthy_targets(edge_and_scale):
    edge, scale = edge_and_scale
    new = with_fix(scale)
    mp = move_plan(edge, new)
    gap = search_gap(mp, new)
    assert gap is not None and gap.seconds == 0
    rule = one(new, LISTENER_RULE, "alb-search")["urn"]
    asg = one(new, ASG, "search-asg")["urn"]
    [rule_step] = [t for t in mp.timeline if t.urn == rule]
    [asg_step] = [t for t in mp.timeline if t.urn == asg]
    assert rule_step.start_s >= asg_step.end_s > asg_step.start_s


def test_the_steps_are_the_diffs_and_the_order_the_engines(edge_and_scale):
    edge, scale = edge_and_scale
    mp = move_plan(edge, scale, "prod-edge", "prod-scale-5x")
    by_name = {(s.type, s.name): s for s in mp.steps.values()}
    assert by_name[(ASG, "web-asg")].impact == "rolling refresh"
    # Every step starts after every dependency's step has ended.
    ends = {t.urn: t.end_s for t in mp.timeline if t.action != Action.DELETE_REPLACED}
    for t in mp.timeline:
        for dep in mp.new_deps.get(t.urn, ()):
            if dep in ends and t.action != Action.DELETE:
                assert t.start_s >= ends[dep], (t.urn, dep)
    text = "\n".join(render(mp))
    assert "5 lab s per AWS minute" in text and "rolling refresh" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["move", "edge", "cached"], "edge -> cached is not one move"),
        (["move", "edge"], "1 stage(s) given; allowed: FROM TO, or --all"),
        (["move", "nope", "edge"], "unknown stage 'nope'"),
        (["move", "--all", "edge", "scale-5x"], "give FROM TO or --all, not both"),
    ],
)
def test_a_bad_move_gets_one_line_naming_it(argv, message, capsys):
    from lab.__main__ import main

    assert main(argv) == 1
    assert message in capsys.readouterr().err
