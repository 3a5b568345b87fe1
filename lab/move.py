"""`python -m lab move FROM TO`: one stage move's steps, in the engine's order, in AWS time
and in lab time.

What this module does today (issue 21 item 2, first half):

- the steps are the ones `python -m infra diff` shows (``infra.review.diff.diff_plans``,
  impacts included): nothing is re-derived here;
- each step's duration comes from its impact (``infra.review.impacts``): a rolling refresh
  its estimate (warm-up x batches), an RDS failover the upper end of its declared window;
  an Auto Scaling group's create lasts until its instances pass the target group's health
  checks only when the group waits for them (``waitForElbCapacity`` / ``minElbCapacity``:
  terraform-provider-aws website/docs/r/autoscaling_group.html.markdown, "Waiting for
  Capacity": without them the provider waits for InService instances, which an instance
  is during its health check grace period, before its service answers); every other step
  counts as instant (no sourced duration; stated in the output);
- the order is the engine's (``lab.engine_order``, with its pulumi/pulumi citations);
- ``search_gap``: how long, in AWS time, the search listener rule forwards to a target
  group none of whose targets has booted (the ALB answers 503 then): the regression the
  rehearsal exists for.

The replay on the lab's running servers under load is `lab/replay.py`; this module
stays pure (plans in, timeline out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.review import impacts
from infra.review.diff import Entry, PlanDiff, diff_plans
from infra.tokens import ResourceType
from lab.engine_order import Action, Op, Step, Timed, finished, schedule

ASG = ResourceType.AUTOSCALING_GROUP
LISTENER_RULE = ResourceType.LB_LISTENER_RULE
TARGET_GROUP = ResourceType.LB_TARGET_GROUP
DEFAULT_TIME_SCALE = 5.0 / 60.0  # lab seconds per AWS second: one AWS minute = 5 lab seconds


@dataclass(frozen=True)
class MoveStep:
    """One resource's step with what the diff says about it."""

    step: Step
    name: str
    type: str
    impact: str
    reason: str


@dataclass(frozen=True)
class MovePlan:
    old_label: str
    new_label: str
    steps: dict[str, MoveStep]
    timeline: list[Timed]
    new_deps: dict[str, tuple[str, ...]]
    summary: str


def dependency_graph(plan: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """URN -> what the engine makes it wait for: its dependencies and its parent."""
    urns = {r["urn"] for r in plan["resources"]}
    out: dict[str, tuple[str, ...]] = {}
    for r in plan["resources"]:
        deps = [d for d in r.get("dependencies") or () if d in urns]
        if r.get("parent") in urns:
            deps.append(r["parent"])
        out[r["urn"]] = tuple(dict.fromkeys(deps))
    return out


def asg_create_s(inputs: Mapping[str, Any]) -> float:
    """A new group's create step: until its targets are healthy only when it waits for them.

    The boot is taken as the group's health check grace period (the time the program
    gives an instance to boot before its health counts)."""
    waits = bool(inputs.get("waitForElbCapacity") or inputs.get("minElbCapacity"))
    return float(inputs.get("healthCheckGracePeriod") or 300) if waits else 0.0


def boot_s(inputs: Mapping[str, Any]) -> float:
    return float(inputs.get("healthCheckGracePeriod") or 300)


def step_duration(entry: Entry, new_res: Mapping[str, Any] | None) -> float:
    """AWS seconds the step takes, from its impact (see the module docstring)."""
    impact = entry.impact
    if entry.action == "add" and entry.type == ASG and new_res is not None:
        return asg_create_s(new_res.get("inputs") or {})
    if impact is None:
        return 0.0
    if impact.impact == impacts.ROLLING and impact.refresh is not None:
        return float(impact.refresh.duration_s)
    if impact.interruption_s is not None:
        return float(impact.interruption_s[1])
    return 0.0


def _op(entry: Entry) -> Op:
    if entry.action == "add":
        return Op.CREATE
    if entry.action in ("remove", "delete"):
        return Op.DELETE
    if entry.action == "replace" or (
        entry.impact is not None
        and entry.impact.impact in (impacts.REPLACE, impacts.REPLACE_DATA_LOSS)
    ):
        return Op.REPLACE
    return Op.UPDATE


def move_plan(
    old_plan: Mapping[str, Any],
    new_plan: Mapping[str, Any],
    old_label: str = "A",
    new_label: str = "B",
) -> MovePlan:
    """The move's steps (from the diff), their durations and the engine's timeline."""
    diff: PlanDiff = diff_plans(
        dict(old_plan), dict(new_plan), allow_all=True, old_label=old_label, new_label=new_label
    )
    new_by = {r["urn"]: r for r in new_plan["resources"]}
    steps: dict[str, MoveStep] = {}
    for e in diff.entries:
        op = _op(e)
        res = new_by.get(e.urn)
        dbr = bool(((res or {}).get("options") or {}).get("deleteBeforeReplace"))
        seconds = step_duration(e, res)
        impact = e.impact.impact if e.impact else "-"
        reason = e.impact.reason if e.impact else ""
        if e.old_urn and e.old_urn != e.urn and op == Op.REPLACE:
            # A new URN: the engine sees a create and a delete (deleted at the end).
            steps[e.urn] = MoveStep(Step(e.urn, Op.CREATE, seconds), e.name, e.type, impact, reason)
            steps[e.old_urn] = MoveStep(Step(e.old_urn, Op.DELETE), e.name, e.type, impact, reason)
            continue
        step = Step(e.urn, op, seconds if op != Op.DELETE else 0.0, 0.0, dbr)
        steps[e.urn] = MoveStep(step, e.name, e.type, impact, reason)
    new_deps, old_deps = dependency_graph(new_plan), dependency_graph(old_plan)
    timeline = schedule({u: s.step for u, s in steps.items()}, new_deps, old_deps)
    return MovePlan(
        old_label,
        new_label,
        steps,
        timeline,
        new_deps,
        diff.move_summary().line(),
    )


@dataclass(frozen=True)
class SearchGap:
    """When the search rule starts forwarding vs when the search fleet has booted (AWS s)."""

    rule_done_s: float
    fleet_booted_s: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.fleet_booted_s - self.rule_done_s)


def search_gap(plan: MovePlan, new_plan: Mapping[str, Any]) -> SearchGap | None:
    """The window in which searches reach a target group with no booted target.

    None when the move creates no listener rule forwarding to a new group. The fleet is
    the group whose targetGroupArns holds the rule's target group; it has booted one grace
    period after its create step started (AWS launches at the create call)."""
    by = {r["urn"]: r for r in new_plan["resources"]}
    arn_of = {(r.get("outputs") or {}).get("arn") or r.get("id"): u for u, r in by.items()}
    for urn, ms in plan.steps.items():
        if ms.type != LISTENER_RULE or ms.step.op != Op.CREATE:
            continue
        for action in (by[urn].get("inputs") or {}).get("actions") or ():
            group_urn = arn_of.get(action.get("targetGroupArn"))
            if group_urn is None:
                continue
            for asg_urn, res in by.items():
                inputs = res.get("inputs") or {}
                if res["type"] != ASG or by[group_urn].get("id") not in (
                    inputs.get("targetGroupArns") or ()
                ):
                    continue
                created = [
                    t
                    for t in plan.timeline
                    if t.urn == asg_urn and t.action in (Action.CREATE, Action.CREATE_REPLACEMENT)
                ]
                if not created:
                    continue  # the fleet was already there
                booted = created[0].start_s + boot_s(inputs)
                return SearchGap(finished(plan.timeline, urn, Action.CREATE), booted)
    return None


def render(plan: MovePlan, time_scale: float = DEFAULT_TIME_SCALE) -> list[str]:
    """The timeline, each time in AWS seconds with its lab seconds beside it."""
    lines = [
        f"{plan.old_label} -> {plan.new_label}: {plan.summary}",
        f"time scale: {time_scale * 60:g} lab s per AWS minute; durations from the impacts "
        "table (steps with no sourced duration count as instant)",
    ]
    for t in plan.timeline:
        ms = plan.steps[t.urn]
        if t.end_s == t.start_s and ms.impact in (impacts.IN_PLACE, impacts.IGNORED, "-"):
            continue
        lines.append(
            f"  {t.start_s:7.0f}-{t.end_s:<7.0f} AWS s ({t.start_s * time_scale:6.1f}-"
            f"{t.end_s * time_scale:<6.1f} lab s)  {t.action:<18} {ms.name:<28} {ms.impact}"
        )
    return lines
