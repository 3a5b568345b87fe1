"""docs/infra.md's "What each stage move does" with a measured column (issue 21 item 3).

The declared columns are `python -m infra diff`'s move summaries (dev, prod); the measured
one is the prod rehearsal's figures from `lab/results/moves.json` (`python -m lab move
--all`): errors during and after the move by route, the longest error window in AWS time
(the rehearsal's time scale undone), and acknowledged writes later missing. A move with no
rehearsal says so; nothing is filled in that was not measured.

`python -m lab move --write-docs` rewrites the table in docs/infra.md from the committed
moves.json; `tests/review/test_diff_impacts.py` keeps checking the declared columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SECTION = "## What each stage move does"
HEADER = (
    "| move | dev | prod | measured, prod (lab rehearsal: errors during and after the move, "
    "longest error window in AWS time, writes lost) |"
)
RULE = "|---|---|---|---|"
TABLE_ROW = re.compile(r"^\| `[a-z0-9-]+` → `[a-z0-9-]+` \|")


class TableError(ValueError):
    pass


def measured_cell(entry: Mapping[str, Any] | None) -> str:
    """One move's measured figures in one cell."""
    if entry is None:
        return "not rehearsed"
    if "not_rehearsed" in entry:
        return f"not rehearsed ({entry['not_rehearsed']})"
    try:
        windows = [entry["during"], entry["after"]]
        writes = entry["writes"]
        aws_window = float(entry["longest_error_window_aws_s"])
        scale = float(entry["time_scale_lab_s_per_aws_min"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TableError(f"moves.json, move {entry.get('move')!r}: missing figure {exc}") from None
    errors = sum(int(w["errors"]) for w in windows)
    offered = sum(int(w["offered"]) for w in windows)
    routes: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for w in windows:
        for k, v in (w.get("errors_by_route") or {}).items():
            routes[k] = routes.get(k, 0) + int(v)
        for k, v in (w.get("errors_by_status") or {}).items():
            statuses[k] = statuses.get(k, 0) + int(v)
    text = f"{errors} errors of {offered} requests"
    if errors:
        text += f" ({_counts(routes)}; {_counts(statuses)})"
    text += f"; longest error window {aws_window:g} AWS s"
    text += f"; writes lost {int(writes['lost'])} of {int(writes['acknowledged'])} acknowledged"
    if writes.get("failed"):
        text += f", {int(writes['failed'])} refused or failed"
    return text + f" (at {scale:g} lab s per AWS min)"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def render(declared: Sequence[tuple[str, str, str, str]], moves: Mapping[str, Any]) -> list[str]:
    """The table: ``declared`` = (from, to, dev summary, prod summary) per move, in order;
    ``moves`` = moves.json's document (its prod entries are used)."""
    by_move = {e["move"]: e for e in moves.get("moves", []) if e.get("env", "prod") == "prod"}
    lines = [HEADER, RULE]
    for before, after, dev, prod in declared:
        cell = measured_cell(by_move.get(f"{before} -> {after}"))
        lines.append(f"| `{before}` → `{after}` | {dev} | {prod} | {cell} |")
    return lines


def replace_table(text: str, table: Sequence[str]) -> str:
    """``text`` with the first table of the section replaced by ``table``."""
    if SECTION not in text:
        raise TableError(f"no {SECTION!r} section")
    head, rest = text.split(SECTION, 1)
    lines = rest.split("\n")
    start = next((i for i, x in enumerate(lines) if x.startswith("| move |")), None)
    if start is None:
        raise TableError(f"no table under {SECTION!r}")
    end = start + 2
    while end < len(lines) and TABLE_ROW.match(lines[end]):
        end += 1
    return head + SECTION + "\n".join([*lines[:start], *table, *lines[end:]])


def declared_rows() -> list[tuple[str, str, str, str]]:
    """The diff's move summaries for both environments, from the plans."""
    from itertools import pairwise

    from infra.config import STAGES
    from infra.plans.build import build_plan
    from infra.review.diff import diff_plans

    plans = {(env, s): build_plan(env, s) for env in ("dev", "prod") for s in STAGES}
    rows = []
    for before, after in pairwise(STAGES):
        dev, prod = (
            diff_plans(plans[(env, before)], plans[(env, after)]).move_summary().line()
            for env in ("dev", "prod")
        )
        rows.append((before, after, dev, prod))
    return rows


def write_docs(docs: Path, moves_json: Path) -> None:
    moves = json.loads(moves_json.read_text())
    docs.write_text(replace_table(docs.read_text(), render(declared_rows(), moves)))
