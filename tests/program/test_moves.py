"""Moves that interrupt nothing the diff does not declare, over all 12 moves (2 envs x 6).

- A route to a fleet: every forward (listener default action or rule) to a target group
  whose fleet is an ASG either exists before that ASG and is what the ASG waits on (its
  `attachments`: without a forward the ALB never checks the targets, so the ASG's
  wait_for_elb_capacity could not end), or is created after the ASG (depends on it). A
  forward that reaches live traffic in a move (its listener existed before the move) and
  is new in it must be of the second kind. The ASG waits for its desired count healthy.
- Replicas: replica 1 depends on the primary, replica N on replica N-1, so no two are
  created or modified at once and none while the primary is modified (failover).
- No move changes an existing ASG's min_size (the provider's update wait for an exact
  count would then run against a fleet target tracking has grown).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from infra.config import ENVIRONMENTS, STAGES
from infra.program.components.load_balancer import WARMUP_HEADER
from infra.tokens import ResourceType

Plan = dict[str, Any]
MOVES = [(env, a, b) for env in ENVIRONMENTS for a, b in pairwise(STAGES)]
ASG = "aws:autoscaling/group:Group"
LISTENER = "aws:lb/listener:Listener"
RULE = "aws:lb/listenerRule:ListenerRule"
RDS = "aws:rds/instance:Instance"


def test_twelve_moves() -> None:
    assert len(MOVES) == 12


def _forwards(resource: dict[str, Any]) -> list[str]:
    """Target group ARNs a listener's default actions or a rule's actions forward to."""
    key = "defaultActions" if resource["type"] == LISTENER else "actions"
    return [
        a["targetGroupArn"]
        for a in resource["inputs"].get(key) or []
        if a.get("type") == "forward" and a.get("targetGroupArn")
    ]


def _warmup_only(rule: dict[str, Any]) -> bool:
    """A rule no client request matches: only the warm-up header (load_balancer.py)."""
    conditions = rule["inputs"].get("conditions") or []
    return bool(conditions) and all(
        (c.get("httpHeader") or {}).get("httpHeaderName") == WARMUP_HEADER for c in conditions
    )


def _fleets(plan: Plan) -> dict[str, dict[str, Any]]:
    """Target group ARN -> the ASG that registers into it."""
    return {
        arn: r
        for r in plan["resources"]
        if r["type"] == ASG
        for arn in r["inputs"].get("targetGroupArns") or []
    }


def _routes(plan: Plan) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    fleets = _fleets(plan)
    return [
        (r, fleets[arn])
        for r in plan["resources"]
        if r["type"] in (LISTENER, RULE)
        for arn in _forwards(r)
        if arn in fleets
    ]


@pytest.mark.parametrize(("env", "a", "b"), MOVES, ids=[f"{e}:{a}->{b}" for e, a, b in MOVES])
def test_route_waits_for_fleet(plans: dict[tuple[str, str], Plan], env: str, a: str, b: str):
    before, after = plans[(env, a)], plans[(env, b)]
    existed = {r["urn"] for r in before["resources"]}
    routes = _routes(after)
    if any(r["type"] == ASG for r in after["resources"]):
        assert routes, f"{env}/{b}: no listener forwards to a fleet"
    for route, asg in routes:
        after_fleet = asg["urn"] in route["dependencies"]
        fleet_waits_on_it = route["urn"] in asg["dependencies"]
        assert after_fleet != fleet_waits_on_it, (
            f"{env}/{b}: {route['name']} must either wait for {asg['name']} or be one of its "
            "attachments (and not both: a cycle)"
        )
        listener_live = any(
            dep in existed for dep in route["dependencies"] if "lb/listener:Listener" in dep
        )
        carries_traffic = route["type"] == RULE and not _warmup_only(route)
        if route["urn"] not in existed and listener_live and carries_traffic:
            assert after_fleet, f"{env} {a}->{b}: new route {route['name']} on a live listener"
        assert asg["inputs"]["waitForElbCapacity"] >= asg["inputs"]["minSize"]
        assert asg["inputs"]["waitForElbCapacity"] == asg["inputs"]["desiredCapacity"]


def test_search_rule_waits_for_search_fleet(plans: dict[tuple[str, str], Plan]) -> None:
    """The regression: the search rule at scale-5x depends on the search ASG itself."""
    for env in ENVIRONMENTS:
        plan = plans[(env, "scale-5x")]
        asg = next(r for r in plan["resources"] if r["type"] == ASG and r["name"] == "search-asg")
        rules = [
            r for r in plan["resources"] if r["type"] == RULE and r["name"].endswith("-search")
        ]
        assert rules
        assert all(asg["urn"] in r["dependencies"] for r in rules)


def _replicas(plan: Plan) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    dbs = {r["name"]: r for r in plan["resources"] if r["type"] == RDS}
    replicas = sorted(
        (r for n, r in dbs.items() if "-replica-" in n),
        key=lambda r: int(r["name"].rsplit("-", 1)[1]),
    )
    return dbs.get("database-primary"), replicas


@pytest.mark.parametrize(("env", "a", "b"), MOVES, ids=[f"{e}:{a}->{b}" for e, a, b in MOVES])
def test_replicas_one_after_another(plans: dict[tuple[str, str], Plan], env: str, a: str, b: str):
    primary, replicas = _replicas(plans[(env, b)])
    for index, replica in enumerate(replicas):
        previous = replicas[index - 1] if index else primary
        assert previous is not None
        assert previous["urn"] in replica["dependencies"], (
            f"{env}/{b}: {replica['name']} does not wait for {previous['name']}"
        )
        # Transitively after the primary: none modified while the primary fails over.
        assert primary is not None and replica["inputs"]["replicateSourceDb"]
    if b == "read-replicas" and env == "prod":
        assert len(replicas) >= 2


@pytest.mark.parametrize(("env", "a", "b"), MOVES, ids=[f"{e}:{a}->{b}" for e, a, b in MOVES])
def test_no_move_changes_an_existing_min_size(
    plans: dict[tuple[str, str], Plan], env: str, a: str, b: str
) -> None:
    old = {r["urn"]: r for r in plans[(env, a)]["resources"] if r["type"] == ASG}
    for r in plans[(env, b)]["resources"]:
        if r["urn"] in old:
            assert r["inputs"]["minSize"] == old[r["urn"]]["inputs"]["minSize"], r["name"]


def test_every_prod_asg_can_grow(plans: dict[tuple[str, str], Plan]) -> None:
    for (env, stage), plan in plans.items():
        for r in plan["resources"]:
            if r["type"] == ASG and env == "prod":
                assert r["inputs"]["maxSize"] > r["inputs"]["desiredCapacity"], (stage, r["name"])


def test_every_rds_parameter_states_its_apply_method(plans: dict[tuple[str, str], Plan]) -> None:
    """Left out, the provider sends "immediate" (rds/parameter_group.go), which RDS refuses
    for a static parameter: the program always says which it means (issue 21, item 4)."""
    checked = 0
    for plan in plans.values():
        for r in plan["resources"]:
            if r["type"] != ResourceType.RDS_PARAMETER_GROUP:
                continue
            for parameter in r["inputs"].get("parameters", []):
                assert parameter.get("applyMethod") in ("immediate", "pending-reboot"), parameter
                checked += 1
    assert checked > 0, "no RDS parameter in any plan: the test would check nothing"
