"""The two plans the move rehearsal's regression is about (issue 21, item 1), shared by
test_move_plan (the timeline) and test_move_replay (the live rehearsal): the search rule
with and without the wait for its fleet, built from a real plan so neither test depends on
which of the two the program declares today."""

from __future__ import annotations

import copy
from typing import Any

from lab.move import ASG, LISTENER_RULE

Plan = dict[str, Any]


def one(plan: Plan, type_: str, name: str) -> dict[str, Any]:
    [r] = [r for r in plan["resources"] if r["type"] == type_ and r["name"] == name]
    return r


def with_fix(plan: Plan) -> Plan:
    """The rule depends on the fleet, which waits for healthy targets
    (wait_for_elb_capacity)."""
    fixed = copy.deepcopy(plan)
    asg = one(fixed, ASG, "search-asg")
    asg["inputs"]["waitForElbCapacity"] = asg["inputs"]["desiredCapacity"]
    rule = one(fixed, LISTENER_RULE, "alb-search")
    rule["dependencies"] = [*rule["dependencies"], asg["urn"]]
    return fixed


def without_fix(plan: Plan) -> Plan:
    """The rule depends on the listener and the target group only (main before the fix)."""
    bare = copy.deepcopy(plan)
    asg = one(bare, ASG, "search-asg")
    asg["inputs"].pop("waitForElbCapacity", None)
    asg["inputs"].pop("minElbCapacity", None)
    rule = one(bare, LISTENER_RULE, "alb-search")
    rule["dependencies"] = [d for d in rule["dependencies"] if d != asg["urn"]]
    return bare
