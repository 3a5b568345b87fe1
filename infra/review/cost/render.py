"""Rendering StackCosts: the summary rows, Markdown, a rich table, the base/head and
before/after comparisons.
"""

from __future__ import annotations

from typing import Any

from infra.config import STAGES
from infra.pricing.prices import PriceTable, num_text
from infra.review.cost.model import StackCost


def summary_rows(costs: list[tuple[StackCost, StackCost]]) -> list[dict[str, Any]]:
    """One summary row per stack; the delta is against the stage before it in the same env,
    when that stack is in the list too (otherwise there is no delta to show)."""
    by_key = {(t.env, t.stage): (t, g) for t, g in costs}
    rows = []
    for today, target in costs:
        i = STAGES.index(today.stage) if today.stage in STAGES else 0
        before = by_key.get((today.env, STAGES[i - 1])) if i > 0 else None
        rows.append(
            {
                "stack": today.ref or f"{today.env}/{today.stage}",
                "env": today.env,
                "stage": today.stage,
                "today": today.total,
                "today_delta": None if before is None else today.total - before[0].total,
                "today_per_m": today.per_million,
                "target": target.total,
                "target_delta": None if before is None else target.total - before[1].total,
                "target_per_m": target.per_million,
                "target_label": target.scenario.label,
            }
        )
    return rows


def money(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+,.0f}" if signed else f"{x:,.0f}"


def render_markdown(costs: list[tuple[StackCost, StackCost]], explain: bool = False) -> str:
    out = [
        "| stack | today $/mo | Δ vs previous stage | $ per 1M requests "
        "| 5x $/mo | Δ | $ per 1M requests |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary_rows(costs):
        out.append(
            f"| `{r['stack']}` | {money(r['today'])} | {money(r['today_delta'], True)} | "
            f"{r['today_per_m']:.2f} | {money(r['target'])} | {money(r['target_delta'], True)} | "
            f"{r['target_per_m']:.2f} |"
        )
    out.append("")
    out.append("dev is priced at a fixed test load in both columns; see `assumptions/usage.yaml`.")
    if explain:
        for today, _ in costs:
            out += [
                "",
                f"#### `{today.ref}` today",
                "",
                "| resource | price row | monthly $ | computation |",
                "|---|---|---:|---|",
            ]
            out += [
                f"| `{ln.resource}` | `{ln.row}` | {ln.monthly:,.2f} | {ln.how} |"
                for ln in today.lines
            ]
    return "\n".join(out)


def render_rich(costs: list[tuple[StackCost, StackCost]], explain: bool, table: PriceTable) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 140))
    for today, target in costs:
        t = Table(
            title=f"{today.ref}: monthly cost ({today.scenario.label} / {target.scenario.label})"
        )
        for col in (
            "resource",
            "type",
            "price row",
            "quantity",
            f"{today.scenario.label} $",
            f"{target.scenario.label} $",
        ):
            t.add_column(col, justify="right" if "$" in col or col == "quantity" else "left")
        for a, b in zip(today.lines, target.lines, strict=True):
            t.add_row(
                a.resource,
                a.type.split(":")[1] if ":" in a.type else a.type,
                a.row,
                f"{num_text(a.quantity)} {a.unit}",
                f"{a.monthly:,.2f}",
                f"{b.monthly:,.2f}",
            )
        t.add_row("total", "", "", "", f"{today.total:,.2f}", f"{target.total:,.2f}", style="bold")
        console.print(t)
        if explain:
            for note in today.traffic.notes:
                console.print(f"  traffic ({today.scenario.label}): {note}", markup=False)
            for ln in today.lines:
                row = table.rows[ln.row]
                console.print(
                    f"  [{ln.row}] {ln.resource}: {ln.how}  ({row['source']}, {row['date']})",
                    markup=False,
                )
            free_types = ", ".join(sorted({t for _, t in today.free}))
            console.print(f"  free (listed in the price table): {free_types}", markup=False)
    s = Table(title="monthly cost per stack (USD)")
    for col in ("stack", "today", "Δ prev", "$/1M req", "5x", "Δ prev", "$/1M req"):
        s.add_column(col, justify="left" if col == "stack" else "right")
    for r in summary_rows(costs):
        s.add_row(
            r["stack"],
            money(r["today"]),
            money(r["today_delta"], True),
            f"{r['today_per_m']:.2f}",
            money(r["target"]),
            money(r["target_delta"], True),
            f"{r['target_per_m']:.2f}",
        )
    console.print(s)


def render_against(
    head: list[tuple[StackCost, StackCost]], base: list[tuple[StackCost, StackCost] | None]
) -> str:
    """Markdown: each stack's monthly cost on the base branch, on the head, and the change."""
    out = [
        "| stack | base today $/mo | head today $/mo | Δ | base 5x $/mo | head 5x $/mo | Δ |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (h_today, h_target), b in zip(head, base, strict=True):
        b_today = b[0].total if b else None
        b_target = b[1].total if b else None
        d_today = None if b_today is None else h_today.total - b_today
        d_target = None if b_target is None else h_target.total - b_target
        out.append(
            f"| `{h_today.env}/{h_today.stage}` | {money(b_today)} | {money(h_today.total)} | "
            f"{money(d_today, True)} | {money(b_target)} | {money(h_target.total)} | "
            f"{money(d_target, True)} |"
        )
    return "\n".join(out)


def _delta(x: float) -> str:
    return f"{x:+,.0f}" if abs(x) >= 10 else f"{x:+,.2f}"


def render_delta_markdown(
    before: tuple[StackCost, StackCost], after: tuple[StackCost, StackCost]
) -> str:
    out = [
        f"| scenario | {before[0].ref} $/mo | {after[0].ref} $/mo | Δ |",
        "|---|---:|---:|---:|",
    ]
    for b, n in zip(before, after, strict=True):
        out.append(
            f"| {b.scenario.label} | {money(b.total)} | {money(n.total)} | "
            f"{_delta(n.total - b.total)} |"
        )
    out.append("")
    out += [f"- {line}" for line in unpriced_lines(before[0], after[0])]
    return "\n".join(out)


def unpriced_lines(before: StackCost, after: StackCost) -> list[str]:
    lines = []
    for side in (before, after):
        if side.unpriced:
            lines.append(
                f"{side.ref}: {len(side.unpriced)} resource(s) not priced, left out of the "
                "total: " + "; ".join(f"{n} ({why})" for n, _, why in side.unpriced)
            )
    return lines
