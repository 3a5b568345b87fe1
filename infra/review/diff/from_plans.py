"""Source one: two offline plans (``python -m infra plan`` output), compared by URN into a
``PlanDiff``; the rules are the CLI's (``infra.review.diff.cli``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from infra import catalog as stateful
from infra.plans.index import inp
from infra.review import impacts
from infra.review.diff.model import (
    ASG,
    LAUNCH_TEMPLATE,
    STAGE_TAG,
    Change,
    Entry,
    PlanDiff,
    assign_impacts,
    compare_values,
    holds_data,
    shrinks,
)
from infra.tokens import ResourceType

INGRESS_RULE = ResourceType.VPC_SECURITY_GROUP_INGRESS_RULE
_WORLD = ("0.0.0.0/0", "::/0")


def _compare_resources(old: dict, new: dict) -> list[Change]:
    changes = compare_values(old.get("inputs") or {}, new.get("inputs") or {})
    for key in ("protect", "retainOnDelete", "deleteBeforeReplace", "ignoreChanges"):
        a = (old.get("options") or {}).get(key)
        b = (new.get("options") or {}).get(key)
        if a != b:
            changes.append(Change(f"options.{key}", a, b))
    return changes


def _aliases(resource: dict) -> set[str]:
    found: set[str] = set()
    for alias in (resource.get("options") or {}).get("aliases") or []:
        if isinstance(alias, str):
            found.add(alias)
        elif isinstance(alias, dict):
            for key in ("urn", "name"):
                if isinstance(alias.get(key), str):
                    found.add(alias[key])
    return found


def _physical_name(resource: dict) -> Any:
    inputs = resource.get("inputs") or {}
    spec = stateful.STATEFUL.get(resource["type"])
    return inputs.get(spec.name_key) if spec else None


def diff_plans(
    old_plan: dict,
    new_plan: dict,
    *,
    allow_all: bool = False,
    allow_urns: Iterable[str] = (),
    old_label: str = "A",
    new_label: str = "B",
    profile: impacts.ApplyProfile | None = None,
) -> PlanDiff:
    """Compare two plans; see the module docstring for the replacement rules.

    ``profile`` says when RDS/ElastiCache modifications apply where the inputs do not
    (``applyImmediately``); the plans' own inputs win.
    """
    allow = set(allow_urns)
    old_by = {r["urn"]: r for r in old_plan["resources"]}
    new_by = {r["urn"]: r for r in new_plan["resources"]}

    # An alias on a new resource that names an old URN (or its name) is a move, not a loss.
    moved: dict[str, str] = {}
    for urn, res in new_by.items():
        if urn in old_by:
            continue
        for alias in _aliases(res):
            for old_urn, old_res in old_by.items():
                if old_urn in new_by or old_urn in moved:
                    continue
                if alias == old_urn or (
                    alias == old_res["name"] and old_res["type"] == res["type"]
                ):
                    moved[old_urn] = urn
    pairs = [(u, u) for u in old_by if u in new_by] + list(moved.items())

    entries: list[Entry] = []
    stage_pairs: set[tuple[str, str]] = set()
    retagged = 0
    paired: dict[str, tuple[dict, dict]] = {}
    for old_urn, new_urn in pairs:
        a, b = old_by[old_urn], new_by[new_urn]
        paired[new_urn] = (a, b)
        changes = _compare_resources(a, b)
        stage = [c for c in changes if STAGE_TAG.search(c.path)]
        rest = [c for c in changes if not STAGE_TAG.search(c.path)]
        for c in stage:
            stage_pairs.add((str(c.old), str(c.new)))
        # A group whose launch template changes refreshes even with no change of its own.
        refresh = not rest and _refreshes(b, old_by, new_by)
        if stage and not rest:
            retagged += 1
        if not rest and old_urn == new_urn and not refresh:
            continue
        entry = Entry("change", new_urn, b["type"], b["name"], changes=rest)
        entry.warnings = shrinks(b["type"], rest)
        if old_urn != new_urn:
            entry.old_urn = old_urn
            entry.reasons.append("moved by alias (same resource, new URN)")
        if holds_data(a, old_plan):
            triggers = stateful.triggers_for(
                b["type"], b.get("inputs") or {}, a.get("inputs") or {}
            )
            # An ignored input never reaches the provider: the engine keeps the live value,
            # so it cannot replace anything (the single box's ami).
            ignored = (b.get("options") or {}).get("ignoreChanges") or ()
            hits = [
                c
                for c in rest
                if any(stateful.path_matches(c.path, t) for t in triggers)
                and not any(stateful.path_matches(c.path, i) for i in ignored)
            ]
            if hits:
                entry.action = "replace"
                entry.reasons = [f"{c.path} changes (forces replacement)" for c in hits]
        entries.append(entry)

    removed = [old_by[u] for u in old_by if u not in new_by and u not in moved]
    added = [new_by[u] for u in new_by if u not in old_by and u not in moved.values()]
    paired_new: set[str] = set()
    for res in removed:
        entry = Entry("remove", res["urn"], res["type"], res["name"])
        if holds_data(res, old_plan):
            twin = _same_type_twin(res, [r for r in added if r["urn"] not in paired_new])
            if twin is not None:
                paired_new.add(twin["urn"])
                entry = Entry(
                    "replace",
                    twin["urn"],
                    twin["type"],
                    twin["name"],
                    old_urn=res["urn"],
                    changes=_compare_resources(res, twin),
                    reasons=[
                        "URN changes (rename or new parent) without an alias: "
                        "Pulumi deletes the old resource and creates a new one"
                    ],
                )
            else:
                entry.action = "delete"
                entry.reasons = [f"stateful resource removed: {stateful.holds(res)}"]
                entry.consent = stateful.delete_needs_consent(res)
                if entry.consent:
                    entry.reasons.append(
                        "declared undeletable (protect / deletion protection): allow it "
                        "and lift the protection first"
                    )
        entries.append(entry)
    for res in added:
        if res["urn"] not in paired_new:
            entries.append(Entry("add", res["urn"], res["type"], res["name"]))

    for e in entries:
        if e.action == "replace" or e.consent:
            e.allowed = allow_all or bool({e.urn, e.old_urn, e.name} & allow)
    assign_impacts(entries, paired, old_plan, profile)
    for res in removed:
        if res["type"] == INGRESS_RULE and _world_open(res):
            entry = next(e for e in entries if e.urn == res["urn"])
            entry.warnings.append(
                "public ingress ends with this update: clients still using this address "
                "lose service; point DNS at the new entry point first (docs/infra.md)"
            )

    order = {"replace": 0, "delete": 1, "remove": 2, "add": 3, "change": 4}
    entries.sort(key=lambda e: (order[e.action], e.type, e.urn))
    stage_tags = sorted(stage_pairs)[0] if stage_pairs else None
    return PlanDiff(old_label, new_label, entries, stage_tags, retagged)


def _refreshes(group: dict, old_by: dict[str, dict], new_by: dict[str, dict]) -> bool:
    """True when ``group`` is an ASG whose launch template's inputs change."""
    if group["type"] != ASG:
        return False
    lt_id = ((group.get("inputs") or {}).get("launchTemplate") or {}).get("id")
    for urn, template in new_by.items():
        if template["type"] == LAUNCH_TEMPLATE and template.get("id") == lt_id and urn in old_by:
            changes = _compare_resources(old_by[urn], template)
            if [c for c in changes if not STAGE_TAG.search(c.path)]:
                return True
    return False


def _world_open(rule: dict) -> bool:
    inputs = rule.get("inputs") or {}
    return inputs.get("cidrIpv4") in _WORLD or inputs.get("cidrIpv6") in _WORLD


def _same_type_twin(res: dict, candidates: list[dict]) -> dict | None:
    same = [c for c in candidates if c["type"] == res["type"]]
    if not same:
        return None
    for pick in (
        lambda c: c["name"] == res["name"],
        lambda c: _physical_name(c) is not None and _physical_name(c) == _physical_name(res),
    ):
        hit = [c for c in same if pick(c)]
        if hit:
            return hit[0]
    # A replica added in the same change is no twin of a removed primary: a replica has
    # replicateSourceDb, a primary does not.
    role = [
        c for c in same if bool(inp(c, "replicateSourceDb")) == bool(inp(res, "replicateSourceDb"))
    ]
    return role[0] if role else None
