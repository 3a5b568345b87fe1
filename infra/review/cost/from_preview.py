"""``python -m infra cost --preview FILE [--state FILE]`` and ``cost --state FILE``.

The stack after the preview (the state export, or the preview's ``same`` steps, with every
step applied) is priced with the offline price table and traffic model; the stack before
it too, and the table shows the change per scenario (today, and the target at 5x for prod).
A resource whose price depends on a value the engine does not know yet (an instance type
from an unknown output, say) or on a secret is not priced: it is listed, and both totals
say they leave it out. Reads (resources not managed by this stack) and providers cost
nothing here.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from infra.capacity.inputs import ModelError
from infra.plans.preview import Preview, PreviewError, load_state, priceable
from infra.review.cost import (
    Assumptions,
    CostError,
    PriceTable,
    StackCost,
    load_assumptions,
    load_prices,
    price_plan,
    render_rich,
)
from infra.review.preview_diff import load_inputs


def price_both(
    plan: dict[str, Any], env: str, label: str, table: PriceTable, a: Assumptions
) -> tuple[StackCost, StackCost]:
    today, target = a.scenarios(env)
    plan = priceable(plan)
    return price_plan(plan, today, table, a, label), price_plan(plan, target, table, a, label)


def before_after(
    preview: Preview, state: dict[str, Any] | None, table: PriceTable, a: Assumptions
) -> tuple[tuple[StackCost, StackCost], tuple[StackCost, StackCost]]:
    if state is None and not preview.has_sames:
        raise CostError(
            f"{preview.source}: no `same` steps, so the unchanged resources are not in it "
            "and neither side can be priced; allowed: a preview run with "
            "`pulumi preview --json --show-sames`, or --state FILE from `pulumi stack export`"
        )
    env = preview.env or "?"
    if env not in ("dev", "prod"):
        raise CostError(f"{preview.source}: environment {env!r} unknown; allowed: dev, prod")
    before = price_both(preview.old_plan(state), env, f"{env} now", table, a)
    after = price_both(
        preview.new_plan(state), env, f"{env} after ({preview.stage or '?'})", table, a
    )
    return before, after


def _money(x: float) -> str:
    return f"{x:,.0f}"


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
            f"| {b.scenario.label} | {_money(b.total)} | {_money(n.total)} | "
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


def main_preview(args: argparse.Namespace) -> int:
    try:
        table, a = load_prices(), load_assumptions()
        if args.preview:
            preview, state = load_inputs(args.preview, args.state)
            before, after = before_after(preview, state, table, a)
        else:
            state = load_state(args.state)
            env = state["env"]
            if env not in ("dev", "prod"):
                raise CostError(f"{args.state}: environment {env!r} unknown; allowed: dev, prod")
            live = price_both(state, env, f"{env} live ({state['stage']})", table, a)
    except (CostError, ModelError, PreviewError) as exc:
        # Name the file the resource came from when the message does not already.
        source, text = str(args.preview or args.state), str(exc)
        print(f"error: {text if source in text else f'{source}: {text}'}", file=sys.stderr)
        return 2
    if not args.preview:
        if args.format == "markdown":
            t, g = live
            print(f"| scenario | {t.ref} $/mo |\n|---|---:|")
            for side in (t, g):
                print(f"| {side.scenario.label} | {_money(side.total)} |")
        else:
            render_rich([live], args.explain, table)
        for line in unpriced_lines(live[0], live[0])[:1]:
            print(line)
        return 0
    if args.format == "markdown":
        print(render_delta_markdown(before, after))
    else:
        render_rich([after], args.explain, table)
        print(render_delta_markdown(before, after))
    return 0
