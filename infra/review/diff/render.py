"""Rendering a PlanDiff: one-line summaries, the loud lines, Markdown, a rich table, JSON;
secret values masked everywhere.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from infra.review import impacts
from infra.review.diff.model import Change, Entry, PlanDiff
from infra.tokens import SECRET_MARKER

_SECRET_KEY = re.compile(r"password|secret|token|privatekey|passphrase", re.I)
_NOT_SECRET_KEY = re.compile(r"(arn|id|ids|name|version|kmskeyid|enabled|strategy)$", re.I)
_SECRET_IN_TEXT = re.compile(
    r"(?i)\b([A-Z0-9_]*(?:PASSWORD|AUTH_TOKEN|SECRET_KEY)[A-Z0-9_]*)\s*([=:])\s*(\S+)"
)
_LOUD_HEAD = re.compile(r"^(REPLACE: data loss(?: \(allowed\))?|DELETE: stateful|WARN)")


# -------------------------------------------------------------------------- rendering


def _is_secret_key(path: str) -> bool:
    leaf = re.split(r"[.\[]", path)[-1].rstrip("]")
    return bool(_SECRET_KEY.search(leaf)) and not _NOT_SECRET_KEY.search(leaf)


def mask(path: str, value: Any) -> Any:
    """Hide secret values: plan-masked ones, secret-named keys, KEY=value in text."""
    if value is None or isinstance(value, bool):
        return value
    if value == SECRET_MARKER or _is_secret_key(path):
        return SECRET_MARKER
    if isinstance(value, str):
        return _SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{SECRET_MARKER}", value)
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
    if old == SECRET_MARKER and new == SECRET_MARKER:
        return f"{change.path}: {SECRET_MARKER} (changed)"
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
        tag = " (allowed)" if e.consent and e.allowed else ""
        lines.append(f"DELETE: stateful{tag}: {e.type} {e.name}: {'; '.join(e.reasons)}")
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
        out += [md_loud(line) for line in loud]
        out.append("")
    else:
        out += ["No stateful resource is replaced or deleted.", ""]
    rows = [e for e in d.entries if e.action in SYMBOL]
    if rows:
        out += ["| | type | name | impact | what changes |", "|---|---|---|---|---|"]
        for e in rows:
            what = "<br>".join(
                md_escape(describe(c) + _ignored_note(e, c)).replace("\n", "<br>")
                for c in e.changes[:8]
            )
            if len(e.changes) > 8:
                what += f"<br>… {len(e.changes) - 8} more"
            if e.action in REASONED:
                what = f"**{'; '.join(e.reasons)}**" + (f"<br>{what}" if what else "")
            impact = md_escape(impact_cell(e))
            if e.impact is not None and e.impact.source:
                impact += f" ([source]({e.impact.source}))"
            out.append(
                f"| {SYMBOL[e.action]} {e.action} | `{e.type}` | `{e.name}` | {impact} | {what} |"
            )
        out.append("")
    return "\n".join(out)


def md_loud(line: str) -> str:
    """A loud line as a Markdown quote; URNs in code spans (their `$` would start math)."""
    line = re.sub(r"\[(urn:[^\]]+)\]", lambda m: "`" + m.group(1) + "`", line)
    return _LOUD_HEAD.sub(r"> **\1**", line) + "  "


def md_escape(text: str) -> str:
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


def as_json(d: PlanDiff) -> dict[str, Any]:
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
