"""`python -m infra diff A B`: what changes between two offline plans.

A and B are stacks (``dev/cached``) or plan files. Resources are matched by URN; for each
matched pair the planned inputs are compared property by property (nested paths such as
``rootBlockDevice.volumeSize`` or ``tags[stage].value``). A stateful resource (see
``infra.catalog``) is reported as ``REPLACE: data loss`` when its URN goes away while one
of the same type appears (a rename or a new parent, without an alias), or when one of its
replace-triggering inputs changes. The command exits 1 on such a replacement unless it is
allowed (``--allow-replace`` or ``--allow-replace-urn URN``), and 2 on a bad argument.

Every changed resource also gets an *impact*, what AWS does when the change is applied
(``infra.review.impacts``: replace, failover or reboot, rolling refresh, deferred to the
maintenance window, in place, ignored), with its reason and source; an Auto Scaling group
whose launch template changes shows the rolling refresh it starts. One line per diff sums
up the move ("refreshes 1 fleet(s) (~5 min, full capacity), ..., loses no data").
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import catalog as stateful
from infra.plans.build import load_or_build
from infra.plans.index import ResourceRefError, inp, resolve_refs
from infra.plans.load import PlanRefError
from infra.review import impacts

SECRET = "[secret]"
_SECRET_KEY = re.compile(r"password|secret|token|privatekey|passphrase", re.I)
_NOT_SECRET_KEY = re.compile(r"(arn|id|ids|name|version|kmskeyid|enabled|strategy)$", re.I)
_SECRET_IN_TEXT = re.compile(
    r"(?i)\b([A-Z0-9_]*(?:PASSWORD|AUTH_TOKEN|SECRET_KEY)[A-Z0-9_]*)\s*([=:])\s*(\S+)"
)
_LOUD_HEAD = re.compile(r"^(REPLACE: data loss(?: \(allowed\))?|DELETE: stateful|WARN)")
_STAGE_TAG = re.compile(r"(^|\.)(tags|tagsAll|volumeTags)(\.stage|\[stage\]\.value)$", re.I)
ASG = "aws:autoscaling/group:Group"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
_WORLD = ("0.0.0.0/0", "::/0")
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

    @property
    def blocking(self) -> bool:
        return self.action == "replace" and not self.allowed


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


def _compare_resources(old: dict, new: dict) -> list[Change]:
    changes = compare_values(old.get("inputs") or {}, new.get("inputs") or {})
    for key in ("protect", "retainOnDelete", "deleteBeforeReplace", "ignoreChanges"):
        a = (old.get("options") or {}).get(key)
        b = (new.get("options") or {}).get(key)
        if a != b:
            changes.append(Change(f"options.{key}", a, b))
    return changes


def _holds_data(resource: dict, plan: dict) -> bool:
    """A stateful type, except an EC2 instance once an RDS instance holds the data."""
    type_ = resource["type"]
    if not stateful.is_stateful(type_):
        return False
    if type_ == "aws:ec2/instance:Instance":
        return not any(r["type"] == "aws:rds/instance:Instance" for r in plan["resources"])
    return True


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
    return inputs.get(spec.triggers[0]) if spec else None


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
        stage = [c for c in changes if _STAGE_TAG.search(c.path)]
        rest = [c for c in changes if not _STAGE_TAG.search(c.path)]
        for c in stage:
            stage_pairs.add((str(c.old), str(c.new)))
        # A group whose launch template changes refreshes even with no change of its own.
        refresh = not rest and _refreshes(b, old_by, new_by)
        if stage and not rest:
            retagged += 1
        if not rest and old_urn == new_urn and not refresh:
            continue
        entry = Entry("change", new_urn, b["type"], b["name"], changes=rest)
        entry.warnings = _shrinks(b["type"], rest)
        if old_urn != new_urn:
            entry.old_urn = old_urn
            entry.reasons.append("moved by alias (same resource, new URN)")
        if _holds_data(a, old_plan):
            triggers = stateful.triggers_for(b["type"], b.get("inputs") or {})
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
        if _holds_data(res, old_plan):
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
        entries.append(entry)
    for res in added:
        if res["urn"] not in paired_new:
            entries.append(Entry("add", res["urn"], res["type"], res["name"]))

    for e in entries:
        if e.action == "replace":
            e.allowed = allow_all or bool({e.urn, e.old_urn, e.name} & allow)
    _assign_impacts(entries, paired, old_plan, profile)
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
            if [c for c in changes if not _STAGE_TAG.search(c.path)]:
                return True
    return False


def _world_open(rule: dict) -> bool:
    inputs = rule.get("inputs") or {}
    return inputs.get("cidrIpv4") in _WORLD or inputs.get("cidrIpv6") in _WORLD


def _assign_impacts(
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
                changed_paths=[c.path for c in e.changes if not _STAGE_TAG.search(c.path)],
                ignore_changes=(b.get("options") or {}).get("ignoreChanges") or (),
                profile=profile,
                holds_data=_holds_data(a, old_plan),
                old_outputs=a.get("outputs") or {},
                new_outputs=b.get("outputs") or {},
            )
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


def _shrinks(type_: str, changes: list[Change]) -> list[str]:
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


# -------------------------------------------------------------------------- rendering


def _is_secret_key(path: str) -> bool:
    leaf = re.split(r"[.\[]", path)[-1].rstrip("]")
    return bool(_SECRET_KEY.search(leaf)) and not _NOT_SECRET_KEY.search(leaf)


def mask(path: str, value: Any) -> Any:
    """Hide secret values: plan-masked ones, secret-named keys, KEY=value in text."""
    if value is None or isinstance(value, bool):
        return value
    if value == SECRET or _is_secret_key(path):
        return SECRET
    if isinstance(value, str):
        return _SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{SECRET}", value)
    if isinstance(value, dict):
        return {k: mask(f"{path}.{k}", v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(f"{path}[{i}]", v) for i, v in enumerate(value)]
    return value


def _decoded(value: Any) -> Any:
    """Launch-template user data is base64: show the text so a reviewer can read it."""
    if isinstance(value, str) and len(value) > 40 and re.fullmatch(r"[A-Za-z0-9+/=\s]+", value):
        try:
            return base64.b64decode(value, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return value
    return value


def describe(change: Change, width: int = 70) -> str:
    """One line (or a few, for text) saying how one property changes, secrets masked."""
    old, new = mask(change.path, _decoded(change.old)), mask(change.path, _decoded(change.new))
    if old == SECRET and new == SECRET:
        return f"{change.path}: {SECRET} (changed)"
    if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
        a, b = old.splitlines(), new.splitlines()
        gone = [line for line in a if line not in b]
        came = [line for line in b if line not in a]
        lines = [f"{change.path}: text, -{len(gone)} +{len(came)} lines"]
        lines += [f"  - {_short(x, width)}" for x in gone[:4]]
        lines += [f"  + {_short(x, width)}" for x in came[:4]]
        return "\n".join(lines)
    if change.old is None:
        return f"{change.path}: + {_short(_fmt(new), width)}"
    if change.new is None:
        return f"{change.path}: - {_short(_fmt(old), width)}"
    return f"{change.path}: {_short(_fmt(old), width // 2)} → {_short(_fmt(new), width // 2)}"


def _fmt(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _short(text: str, width: int) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= width else text[: width - 1] + "…"


def short_type(type_: str) -> str:
    """``aws:rds/instance:Instance`` -> ``rds/instance``; component types stay whole."""
    m = re.fullmatch(r"aws:([^:]+):[^:]+", type_)
    return m.group(1) if m else type_


SYMBOL = {"add": "+", "remove": "-", "change": "~", "replace": "±", "delete": "-"}
# Only a real preview (--preview) has these: a stateless resource the engine replaces, and
# an existing resource adopted by import (Pulumi's own symbols).
SYMBOL |= {"recreate": "+-", "import": "="}
REASONED = ("replace", "delete", "recreate", "import")


def summary_line(d: PlanDiff) -> str:
    parts = [
        f"{len(d.of('add'))} to add",
        f"{len(d.of('change'))} to change",
        f"{len(d.of('remove')) + len(d.of('delete'))} to remove",
        f"{len(d.of('replace'))} stateful replacement(s)",
    ]
    parts += [f"{len(d.of(a))} to {a}" for a in ("recreate", "import") if d.of(a)]
    if d.retagged:
        old, new = d.stage_tags or ("?", "?")
        parts.append(f"{d.retagged} retagged only (stage {old} → {new})")
    return ", ".join(parts)


def impact_line(d: PlanDiff) -> str:
    """What applying the whole diff does, in one line (impacts.MoveSummary)."""
    return "applying it " + d.move_summary().line()


def impact_cell(e: Entry) -> str:
    """The impact and its reason, for one row of a table."""
    if e.impact is None:
        return ""
    if e.impact.impact in (impacts.CREATE, impacts.DELETE):
        return e.impact.impact
    if e.impact.impact in (impacts.IN_PLACE, impacts.IGNORED):
        # Short: the changes column says what changes; only a rule's own words are news.
        notes = sorted(
            {
                f.note
                for f in e.impact.findings
                if f.impact == e.impact.impact and f.note != impacts.DEFAULT_NOTE and f.source
            }
        )
        return e.impact.impact + (": " + "; ".join(notes) if notes else "")
    return f"{e.impact.impact}: {e.impact.reason}"


def _ignored_note(e: Entry, change: Change) -> str:
    """` (ignored: ...)` after a change the engine will not apply (ignore_changes)."""
    note = e.notes.get(change.path)
    return f" ({note})" if note else ""


def loud_lines(d: PlanDiff) -> list[str]:
    lines = []
    for e in d.of("replace"):
        who = e.urn if e.old_urn is None else f"{e.old_urn} → {e.urn}"
        tag = " (allowed)" if e.allowed else ""
        lines.append(f"REPLACE: data loss{tag}: {e.type} {e.name}: {'; '.join(e.reasons)} [{who}]")
    for e in d.of("delete"):
        lines.append(f"DELETE: stateful: {e.type} {e.name}: {'; '.join(e.reasons)}")
    for e in d.entries:
        lines += [f"WARN: {e.type} {e.name}: {w}" for w in e.warnings]
    return lines


def render_markdown(d: PlanDiff, *, title: str | None = None) -> str:
    out = [f"### {title or f'Infrastructure diff: `{d.old_label}` → `{d.new_label}`'}", ""]
    out.append(f"**{summary_line(d)}**")
    out.append("")
    out.append(f"**{impact_line(d)}**")
    out.append("")
    loud = loud_lines(d)
    if loud:
        out += [_md_loud(line) for line in loud]
        out.append("")
    else:
        out += ["No stateful resource is replaced or deleted.", ""]
    rows = [e for e in d.entries if e.action in SYMBOL]
    if rows:
        out += ["| | type | name | impact | what changes |", "|---|---|---|---|---|"]
        for e in rows:
            what = "<br>".join(
                _md_escape(describe(c) + _ignored_note(e, c)).replace("\n", "<br>")
                for c in e.changes[:8]
            )
            if len(e.changes) > 8:
                what += f"<br>… {len(e.changes) - 8} more"
            if e.action in REASONED:
                what = f"**{'; '.join(e.reasons)}**" + (f"<br>{what}" if what else "")
            impact = _md_escape(impact_cell(e))
            if e.impact is not None and e.impact.source:
                impact += f" ([source]({e.impact.source}))"
            out.append(
                f"| {SYMBOL[e.action]} {e.action} | `{e.type}` | `{e.name}` | {impact} | {what} |"
            )
        out.append("")
    return "\n".join(out)


def _md_loud(line: str) -> str:
    """A loud line as a Markdown quote; URNs in code spans (their `$` would start math)."""
    line = re.sub(r"\[(urn:[^\]]+)\]", lambda m: "`" + m.group(1) + "`", line)
    return _LOUD_HEAD.sub(r"> **\1**", line) + "  "


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


IMPACT_STYLE = {
    impacts.REPLACE_DATA_LOSS: "bold red",
    impacts.DELETE_DATA_LOSS: "bold red",
    impacts.REPLACE: "red",
    impacts.FAILOVER: "magenta",
    impacts.REBOOT: "magenta",
    impacts.ROLLING: "cyan",
    impacts.DEFERRED: "yellow",
    impacts.IN_PLACE: "default",
    impacts.IGNORED: "dim",
    impacts.CREATE: "green",
    impacts.DELETE: "red",
}


def render_rich(d: PlanDiff) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=max(Console().width, 160))  # property paths and values need room
    table = Table(title=escape(f"{d.old_label} → {d.new_label}"), show_lines=False, expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("impact", max_width=60)
    table.add_column("what changes")
    style = {
        "add": "green",
        "remove": "red",
        "change": "yellow",
        "replace": "bold red",
        "delete": "bold red",
        "recreate": "yellow",
        "import": "cyan",
    }
    for e in d.entries:
        what = "\n".join(describe(c) + _ignored_note(e, c) for c in e.changes[:12])
        if len(e.changes) > 12:
            what += f"\n… {len(e.changes) - 12} more"
        if e.action in REASONED:
            what = "; ".join(e.reasons) + ("\n" + what if what else "")
        table.add_row(
            f"[{style[e.action]}]{SYMBOL[e.action]} {e.action}[/]",
            escape(short_type(e.type)),
            escape(e.name),
            f"[{IMPACT_STYLE.get(e.impact.impact if e.impact else '', 'default')}]"
            f"{escape(impact_cell(e))}[/]",
            escape(what),
        )
    console.print(table)
    console.print(escape(summary_line(d)))
    console.print(f"[bold]{escape(impact_line(d))}[/]")
    for line in loud_lines(d):
        console.print(f"[bold white on red]{escape(line)}[/]")


# ------------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra diff", description=__doc__.split("\n\n")[0])
    p.add_argument("old", metavar="A", nargs="?", help="ENV/STAGE or a plan file (the base)")
    p.add_argument("new", metavar="B", nargs="?", help="ENV/STAGE or a plan file (the change)")
    p.add_argument(
        "--preview",
        metavar="FILE",
        help="judge a real `pulumi preview --json` instead of two plans (no A, B)",
    )
    p.add_argument(
        "--state",
        metavar="FILE",
        help="with --preview: a `pulumi stack export` as the before side",
    )
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    p.add_argument("--allow-replace", action="store_true", help="do not fail on replacements")
    p.add_argument(
        "--allow-replace-urn",
        action="append",
        default=[],
        metavar="URN",
        help="allow the replacement of this resource: its URN (old or new), logical name or "
        "TYPE::NAME; repeatable; one that names no resource is refused",
    )
    return p


def main(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line error
        return int(exc.code or 0)
    if args.preview or args.state:
        from infra.review.preview_diff import main_preview

        return main_preview(args)
    if args.old is None or args.new is None:
        print("error: give A and B (stacks or plan files), or --preview FILE", file=sys.stderr)
        return 2
    if Path(args.old).is_dir() or Path(args.new).is_dir():
        return _main_dirs(args)
    try:
        old, new = load_or_build(args.old), load_or_build(args.new)
        allow = resolve_refs((old, new), args.allow_replace_urn)
    except (PlanRefError, ResourceRefError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    d = diff_plans(
        old,
        new,
        allow_all=args.allow_replace,
        allow_urns=allow,
        old_label=args.old,
        new_label=args.new,
    )
    if args.format == "markdown":
        print(render_markdown(d))
    elif args.format == "json":
        print(json.dumps(_as_json(d), indent=2, sort_keys=True))
    else:
        render_rich(d)
    if d.blocking:
        print(
            f"error: {len(d.blocking)} stateful replacement(s); pass --allow-replace or "
            "--allow-replace-urn URN if the data loss is intended",
            file=sys.stderr,
        )
        return 1
    return 0


def _main_dirs(args: argparse.Namespace) -> int:
    """Both refs are plan directories (CI: base and head): diff every ENV-STAGE.json."""
    old_dir, new_dir = Path(args.old), Path(args.new)
    for d in (old_dir, new_dir):
        if not d.is_dir():
            print(
                f"error: {d} is not a directory; give two plan directories or two plans",
                file=sys.stderr,
            )
            return 2
    names = sorted({p.name for d in (old_dir, new_dir) for p in d.glob("*-*.json")})
    if not names:
        print(f"error: no ENV-STAGE.json plan files in {old_dir} or {new_dir}", file=sys.stderr)
        return 2
    empty = {"resources": []}
    diffs: list[PlanDiff] = []
    seen: list[dict] = []
    for name in names:
        a, b = old_dir / name, new_dir / name
        try:
            old = load_or_build(str(a)) if a.exists() else empty
            new = load_or_build(str(b)) if b.exists() else empty
            allow = resolve_refs((old, new), args.allow_replace_urn, unknown_ok=True)
        except (PlanRefError, ResourceRefError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        label = name.removesuffix(".json").replace("-", "/", 1)
        seen += [old, new]
        diffs.append(
            diff_plans(
                old,
                new,
                allow_all=args.allow_replace,
                allow_urns=allow,
                old_label=f"base {label}",
                new_label=f"head {label}",
            )
        )
    try:  # each ref must name a resource in some stack
        resolve_refs(seen, args.allow_replace_urn)
    except ResourceRefError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    changed = [d for d in diffs if d.entries]
    if args.format == "markdown":
        out = ["### Offline infrastructure diff (base → head)", ""]
        if not changed:
            out.append(f"No resource changes in any of the {len(diffs)} stacks.")
        else:
            out += ["| stack | summary | applying it |", "|---|---|---|"]
            out += [
                f"| `{d.new_label.split(' ', 1)[1]}` | {summary_line(d)} | "
                f"{_md_escape(d.move_summary().line())} |"
                for d in changed
            ]
            out.append("")
            for d in changed:
                out += [_md_loud(line) for line in loud_lines(d)]
            for d in changed:
                body = render_markdown(d, title=f"`{d.new_label.split(' ', 1)[1]}`")
                out += [
                    "",
                    "<details><summary>" + d.new_label.split(" ", 1)[1] + "</summary>",
                    "",
                    body,
                    "</details>",
                ]
            unchanged = len(diffs) - len(changed)
            out += ["", f"{unchanged} other stack(s) unchanged."]
        print("\n".join(out))
    elif args.format == "json":
        print(json.dumps([_as_json(d) for d in diffs], indent=2, sort_keys=True))
    else:
        for d in changed:
            render_rich(d)
    blocking = sum(len(d.blocking) for d in diffs)
    if blocking:
        print(f"error: {blocking} stateful replacement(s) across stacks", file=sys.stderr)
        return 1
    return 0


def _as_json(d: PlanDiff) -> dict[str, Any]:
    return {
        "old": d.old_label,
        "new": d.new_label,
        "summary": summary_line(d),
        "impactSummary": d.move_summary().line(),
        "entries": [
            {
                "action": e.action,
                "urn": e.urn,
                "oldUrn": e.old_urn,
                "type": e.type,
                "name": e.name,
                "reasons": e.reasons,
                "allowed": e.allowed,
                "warnings": e.warnings,
                **(e.impact.as_json() if e.impact else {}),
                "changes": [
                    {"path": c.path, "old": mask(c.path, c.old), "new": mask(c.path, c.new)}
                    for c in e.changes
                ],
            }
            for e in d.entries
        ],
    }
