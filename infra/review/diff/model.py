"""The diff model: one resource's fate (Entry), the whole move (PlanDiff), and the judgement
both sources share: property changes, which resources hold data, each entry's impact.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from infra import catalog as stateful
from infra.review import impacts
from infra.tokens import ResourceType

STAGE_TAG = re.compile(r"(^|\.)(tags|tagsAll|volumeTags)(\.stage|\[stage\]\.value)$", re.I)
ASG = ResourceType.AUTOSCALING_GROUP
LAUNCH_TEMPLATE = ResourceType.EC2_LAUNCH_TEMPLATE
SRC_ALIASES = "https://www.pulumi.com/docs/iac/concepts/options/aliases/"


# ---------------------------------------------------------------------- the diff model


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any


@dataclass
class Entry:
    """One resource's fate: add, remove, change, replace (stateful) or delete (stateful)."""

    action: str
    urn: str
    type: str
    name: str
    old_urn: str | None = None
    changes: list[Change] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    allowed: bool = False
    warnings: list[str] = field(default_factory=list)
    # What applying it does (infra.review.impacts); set for every entry by diff_plans.
    impact: impacts.Impact | None = None
    # Per changed path, what actually happens when it differs from the change shown.
    notes: dict[str, str] = field(default_factory=dict)

    # A delete of a resource declared undeletable (infra.catalog.delete_needs_consent):
    # it blocks like a replacement until allowed.
    consent: bool = False

    @property
    def blocking(self) -> bool:
        return (self.action == "replace" or self.consent) and not self.allowed


@dataclass
class PlanDiff:
    old_label: str
    new_label: str
    entries: list[Entry]
    stage_tags: tuple[str, str] | None
    retagged: int

    def of(self, action: str) -> list[Entry]:
        return [e for e in self.entries if e.action == action]

    @property
    def blocking(self) -> list[Entry]:
        return [e for e in self.entries if e.blocking]

    def move_summary(self) -> impacts.MoveSummary:
        return impacts.summarize((e.type, e.impact) for e in self.entries if e.impact)


def compare_values(old: Any, new: Any, path: str = "") -> list[Change]:
    """Property-level changes between two input values, as dotted/indexed paths."""
    if old == new:
        return []
    old, new = _json_text(old), _json_text(new)
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            out += compare_values(old.get(key), new.get(key), sub)
        return out
    if isinstance(old, list) and isinstance(new, list):
        keyed_old, keyed_new = _keyed(old), _keyed(new)
        if keyed_old is not None and keyed_new is not None:
            out = []
            for key in sorted(set(keyed_old) | set(keyed_new)):
                out += compare_values(keyed_old.get(key), keyed_new.get(key), f"{path}[{key}]")
            return out
        if all(isinstance(v, dict) for v in old + new):
            out = []
            for i in range(max(len(old), len(new))):
                a = old[i] if i < len(old) else None
                b = new[i] if i < len(new) else None
                out += compare_values(a, b, f"{path}[{i}]")
            return out
    return [Change(path, old, new)]


def _json_text(value: Any) -> Any:
    """IAM and bucket policies are JSON strings: parse them so the diff names the statement."""
    if isinstance(value, str) and value[:1] in "{[" and len(value) > 2:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """ASG-style tag lists ([{key, value, ...}]) indexed by key, so order is not a change."""
    if not items or not all(isinstance(i, dict) and isinstance(i.get("key"), str) for i in items):
        return None
    keys = [i["key"] for i in items]
    return dict(zip(keys, items, strict=True)) if len(set(keys)) == len(keys) else None


def holds_data(resource: dict, plan: dict) -> bool:
    """A stateful type, except an EC2 instance once an RDS instance holds the data."""
    type_ = resource["type"]
    if not stateful.is_stateful(type_):
        return False
    if type_ == ResourceType.EC2_INSTANCE:
        return not any(r["type"] == ResourceType.RDS_INSTANCE for r in plan["resources"])
    return True


def assign_impacts(
    entries: list[Entry],
    paired: dict[str, tuple[dict, dict]],
    old_plan: dict,
    profile: impacts.ApplyProfile | None,
) -> None:
    """Set every entry's impact; an ASG whose launch template changed refreshes."""
    for e in entries:
        if e.action == "add":
            e.impact = impacts.Impact(impacts.CREATE, "new resource", impacts.SRC_PULUMI_UPDATE)
        elif e.action == "remove":
            e.impact = impacts.Impact(
                impacts.DELETE, "no longer declared", impacts.SRC_PULUMI_UPDATE
            )
        elif e.action == "delete":
            spec = stateful.STATEFUL[e.type]
            e.impact = impacts.Impact(impacts.DELETE_DATA_LOSS, "; ".join(e.reasons), spec.source)
        elif e.urn in paired and (e.action == "change" or e.old_urn is None):
            a, b = paired[e.urn]
            e.impact = impacts.classify(
                e.type,
                a.get("inputs") or {},
                b.get("inputs") or {},
                changed_paths=[c.path for c in e.changes if not STAGE_TAG.search(c.path)],
                ignore_changes=(b.get("options") or {}).get("ignoreChanges") or (),
                profile=profile,
                holds_data=holds_data(a, old_plan),
                old_outputs=a.get("outputs") or {},
                new_outputs=b.get("outputs") or {},
            )
            e.warnings.extend(w for w in e.impact.warnings if w not in e.warnings)
        else:  # a stateful resource whose URN changes without an alias
            e.impact = impacts.Impact(impacts.REPLACE_DATA_LOSS, "; ".join(e.reasons), SRC_ALIASES)
    for e in entries:
        if e.impact is None or e.urn not in paired:
            continue
        a, b = paired[e.urn]
        for finding in e.impact.findings:
            if finding.impact != impacts.IGNORED:
                continue
            e.notes[finding.path] = "ignored: ignore_changes keeps the live value"
            if e.type == ASG and finding.path == "desiredCapacity":
                ignore = (b.get("options") or {}).get("ignoreChanges") or ()
                count = impacts.running_count(a.get("inputs") or {}, b["inputs"], ignore)
                e.notes[finding.path] = (
                    f"ignored: AWS keeps the running count, raised to a new minimum: {count}"
                )
    templates = {
        paired[e.urn][1].get("id"): e
        for e in entries
        if e.type == LAUNCH_TEMPLATE and e.action == "change" and e.urn in paired
    }
    for e in entries:
        if e.type != ASG or e.urn not in paired or e.impact is None:
            continue
        a, b = paired[e.urn]
        lt_id = ((b.get("inputs") or {}).get("launchTemplate") or {}).get("id")
        template = templates.get(lt_id)
        if template is None and e.impact.impact != impacts.ROLLING:
            continue
        if impacts.SEVERITY[e.impact.impact] < impacts.SEVERITY[impacts.ROLLING]:
            continue  # something worse (a replace) already says what happens
        if template is not None:
            paths = sorted(
                {_top(c.path) for c in template.changes if not c.path.startswith("options.")}
            )
            cause = f"launch template {template.name} changes ({', '.join(paths)})"
        else:
            cause = e.impact.reason.split(": ", 1)[0] + " changes"
        ignore = (b.get("options") or {}).get("ignoreChanges") or ()
        count = impacts.running_count(a.get("inputs") or {}, b.get("inputs") or {}, ignore)
        refresh = impacts.refresh_impact(b.get("inputs") or {}, count, cause)
        e.impact = impacts.Impact(
            refresh.impact,
            refresh.reason,
            refresh.source,
            e.impact.findings + refresh.findings,
            refresh.refresh,
        )


def _top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def shrinks(type_: str, changes: list[Change]) -> list[str]:
    out = []
    for c in changes:
        if c.path in stateful.NO_SHRINK.get(type_, ()) and _smaller(c.new, c.old):
            out.append(
                f"{c.path} shrinks {c.old} → {c.new}: AWS cannot shrink it, the update fails"
            )
    return out


def _smaller(new: Any, old: Any) -> bool:
    try:
        return float(new) < float(old)
    except (TypeError, ValueError):
        return False


@dataclass
class PreviewDiff:
    diff: PlanDiff
    notes: list[str] = field(default_factory=list)
    reads: int = 0
