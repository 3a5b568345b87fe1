"""``python -m infra diff --preview FILE [--state FILE]``: the engine's own steps, judged.

Each step of a real ``pulumi preview --json`` gets the offline diff's classification:

- ``create`` -> add, ``import`` -> import (adopted, nothing created), ``update`` -> change
  (property changes from the states, plus every path the engine's ``detailedDiff``
  names: a secret that changed shows as ``[secret] (changed)``), ``delete`` -> remove;
- a replacement (``replace``, or ``create-replacement`` + ``delete-replaced``, one entry
  per URN) of a resource that holds data (``infra.catalog``, the one list) is
  ``replace: data loss`` with the provider's ``replaceReasons``; of any other resource,
  ``recreate``;
- a ``delete`` of a resource that holds data is ``replace: data loss`` too (nothing takes
  its place);
- ``same`` and ``read`` steps change nothing (reads are counted).

The engine decides what replaces (the provider's replace reasons, e.g. the RDS
replacements of pulumi-aws#2682 and #2823 after a provider upgrade), so nothing here
second-guesses it from the hand-kept trigger list. Values the engine does not know yet
are shown as such and counted; secrets are never shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from infra import catalog
from infra.plans.preview import (
    REPLACE_OPS,
    Preview,
    Step,
    is_unknown,
    secret_paths,
    unknown_paths,
)
from infra.review import impacts
from infra.review.diff.model import (
    Change,
    Entry,
    PlanDiff,
    PreviewDiff,
    assign_impacts,
    compare_values,
    holds_data,
    shrinks,
)
from infra.tokens import SECRET_MARKER

UNKNOWN_TEXT = "(known after apply)"
# The engine's own word: replaceReasons in `pulumi preview --json` (pkg/display/json.go).
SRC_PREVIEW = "https://www.pulumi.com/docs/iac/cli/commands/pulumi_preview/"
SRC_IMPORT = "https://www.pulumi.com/docs/iac/concepts/options/import/"
PROVIDER_SAYS = "the provider reports a change; the values shown are equal"


def _value_at(value: Any, path: str) -> Any:
    """The value at a detailedDiff path (``a.b[0].c``, or ``a["b.c"]`` for dotted keys)."""
    import re

    for token in re.findall(r'\["([^"]*)"\]|\[(\d+)\]|([^.\[\]]+)', path):
        quoted, index, key = token
        if index:
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value = value[int(index)]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(quoted or key)
    return value


def _shown(value: Any) -> Any:
    """Unknowns said in words; everything else as it is (secrets are already masked)."""
    if is_unknown(value):
        return UNKNOWN_TEXT
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def step_changes(old: dict | None, new: dict | None, detailed: dict[str, Any]) -> list[Change]:
    """Input changes between two states, plus each engine-reported path not found by value
    (a secret on both sides, an output-only difference)."""
    old_in = (old or {}).get("inputs") or {}
    new_in = (new or {}).get("inputs") or {}
    changes = compare_values(old_in, new_in)
    seen = {c.path for c in changes}
    for path in sorted(detailed):
        if any(_under(path, p) or _under(p, path) for p in seen):
            continue
        # inputDiff false: the provider compared the old *state* (outputs) with the new
        # inputs (pkg/display PropertyDiff), e.g. a default its new version reads apart.
        before = old_in if detailed[path].get("inputDiff", True) else (old or {}).get("outputs")
        a, b = _value_at(before or {}, path), _value_at(new_in, path)
        if a == SECRET_MARKER or b == SECRET_MARKER:
            changes.append(Change(path, SECRET_MARKER, SECRET_MARKER))
        elif a == b:
            changes.append(Change(path, a, f"{_fmt_plain(b)} ({PROVIDER_SAYS})"))
        else:
            changes.append(Change(path, a, b))
    return [Change(c.path, _shown(c.old), _shown(c.new)) for c in changes]


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top + ".") or path.startswith(top + "[")


def _fmt_plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _by_urn(steps: Iterable[Step]) -> dict[str, list[Step]]:
    grouped: dict[str, list[Step]] = {}
    for s in steps:
        grouped.setdefault(s.urn, []).append(s)
    return grouped


def diff_preview(
    preview: Preview,
    *,
    state: dict[str, Any] | None = None,
    allow_all: bool = False,
    allow_urns: Iterable[str] = (),
    old_label: str | None = None,
    new_label: str | None = None,
) -> PreviewDiff:
    allow = set(allow_urns)
    before = preview.old_plan(state)
    entries: list[Entry] = []
    paired: dict[str, tuple[dict, dict]] = {}
    reads = 0
    for urn, steps in _by_urn(preview.steps).items():
        ops = {s.op for s in steps}
        old = next((s.old for s in steps if s.old is not None), None)
        new = next(
            (
                s.new
                for s in steps
                if s.new is not None and s.op not in ("delete", "delete-replaced")
            ),
            None,
        )
        head = steps[0]
        detailed: dict[str, Any] = {}
        for s in steps:
            detailed.update(s.detailed_diff)
        if ops & REPLACE_OPS:
            reasons = sorted({r for s in steps for r in s.replace_reasons})
            said = ", ".join(reasons) if reasons else "no reason given"
            entry = Entry(
                "recreate", urn, head.type, head.name, changes=step_changes(old, new, detailed)
            )
            if old is not None and holds_data(old, before):
                entry.action = "replace"
                entry.reasons = [
                    f"the engine replaces it (provider's replaceReasons: {said}): "
                    f"lost: {catalog.holds(old)}"
                ]
            else:
                entry.reasons = [f"replaced (provider's replaceReasons: {said})"]
        elif "delete" in ops:
            entry = Entry("remove", urn, head.type, head.name)
            if old is not None and holds_data(old, before):
                entry.action = "replace"
                entry.reasons = ["deleted with nothing in its place; lost: " + catalog.holds(old)]
        elif "import" in ops:
            import_id = (new or {}).get("importId") or (new or {}).get("id") or "?"
            entry = Entry(
                "import", urn, head.type, head.name, reasons=[f"adopted by import of {import_id}"]
            )
        elif "create" in ops:
            entry = Entry("add", urn, head.type, head.name)
        elif "update" in ops:
            changes = step_changes(old, new, detailed)
            entry = Entry("change", urn, head.type, head.name, changes=changes)
            entry.warnings = shrinks(head.type, changes)
            if old is not None and new is not None:
                paired[urn] = (old, new)
        else:
            reads += sum(1 for s in steps if s.op in ("read", "read-replacement"))
            continue
        if old is not None and new is not None and old["urn"] != new["urn"]:
            entry.old_urn = old["urn"]
            entry.reasons.append("moved by alias (same resource, new URN)")
        if entry.action == "replace":
            entry.allowed = allow_all or bool({entry.urn, entry.old_urn, entry.name} & allow)
        entries.append(entry)

    _impacts(entries, paired, before)
    order = {
        "replace": 0,
        "delete": 1,
        "recreate": 2,
        "remove": 3,
        "import": 4,
        "add": 5,
        "change": 6,
    }
    entries.sort(key=lambda e: (order[e.action], e.type, e.urn))
    d = PlanDiff(
        old_label or (state or {}).get("source") or f"{preview.env}/live",
        new_label or preview.source,
        entries,
        None,
        0,
    )
    return PreviewDiff(d, preview_notes(preview), reads)


def _impacts(entries: list[Entry], paired: dict[str, tuple[dict, dict]], before: dict) -> None:
    """The offline diff's impacts (infra.review.impacts) for creates, deletes and updates;
    for what only the engine decides (a replacement, an import) the engine is the source."""
    offline = [e for e in entries if e.action in ("add", "remove", "change")]
    assign_impacts(offline, paired, before, None)
    for e in entries:
        reason = "; ".join(e.reasons)
        if e.action == "replace":
            deleted = reason.startswith("deleted")
            kind = impacts.DELETE_DATA_LOSS if deleted else impacts.REPLACE_DATA_LOSS
            e.impact = impacts.Impact(kind, reason, SRC_PREVIEW)
        elif e.action == "recreate":
            e.impact = impacts.Impact(impacts.REPLACE, reason, SRC_PREVIEW)
        elif e.action == "import":
            e.impact = impacts.Impact(
                impacts.IN_PLACE, f"{reason}; the live resource is not changed", SRC_IMPORT
            )


def preview_notes(preview: Preview) -> list[str]:
    """What this preview could not tell: unknown values, secrets, steps left out."""
    notes = []
    unknown = [
        f"{s.name}.{p}"
        for s in preview.steps
        if s.new is not None and s.op not in ("same", "read")
        for p in unknown_paths({"inputs": s.new["inputs"], "outputs": s.new["outputs"]})
    ]
    if unknown:
        shown = ", ".join(unknown[:6]) + (
            f", … {len(unknown) - 6} more" if len(unknown) > 6 else ""
        )
        notes.append(
            f"{len(unknown)} value(s) known only after apply (not compared, not priced): {shown}"
        )
    secrets = sorted(
        {
            f"{s.name}.{p}"
            for s in preview.steps
            for state in (s.old, s.new)
            if state is not None
            for p in secret_paths({"inputs": state["inputs"], "outputs": state["outputs"]})
        }
    )
    if secrets:
        notes.append(
            f"{len(secrets)} secret value(s) not shown (a change to one is reported, "
            "never its value): "
            + ", ".join(secrets[:6])
            + (f", … {len(secrets) - 6} more" if len(secrets) > 6 else "")
        )
    if preview.partial:
        notes.append(f"partial preview: {preview.unseen_text()} (or give --state)")
    for message in preview.diagnostics:
        notes.append(f"engine: {message.splitlines()[0][:200]}")
    return notes
