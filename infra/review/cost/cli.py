"""`python -m infra cost [ENV/STAGE ...]`: monthly cost per stack from the price table.

Sizes (instance types, node types, counts, storage) are read from the planned resources'
inputs; prices from ``assumptions/prices.yaml`` (each with source and date); traffic from
``assumptions/workload.yaml`` and the cost-only assumptions in ``assumptions/usage.yaml``.
Every cost line names the price row it uses. A resource type that is neither priced here
nor listed as free in the price table is an error naming the type.

Scenarios: prod is priced at today's traffic (15M hits a day) and at the target (5x);
dev at a small fixed test load (``dev_hits_per_day``), the same in both columns.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.capacity.inputs import ModelError
from infra.plans.load import PlanRefError
from infra.plans.preview import PreviewError, load_state
from infra.plans.preview_inputs import load_inputs
from infra.pricing.prices import CostError, load_prices
from infra.review.cost.from_plans import base_cost, cost_stack, default_refs
from infra.review.cost.from_preview import before_after, price_both
from infra.review.cost.model import load_assumptions
from infra.review.cost.render import (
    money,
    render_against,
    render_delta_markdown,
    render_markdown,
    render_rich,
    unpriced_lines,
)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m infra cost", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "refs", nargs="*", metavar="ENV/STAGE", help="stacks or plan files (default: all 14)"
    )
    p.add_argument("--format", choices=("table", "markdown"), default="table")
    p.add_argument("--explain", action="store_true", help="show each line's computation and source")
    p.add_argument(
        "--against",
        type=Path,
        metavar="PLAN_DIR",
        help="compare with the plans in this directory (CI: the base branch's build/plan)",
    )
    p.add_argument(
        "--preview",
        metavar="FILE",
        help="price a real `pulumi preview --json`: the stack after it, and the change",
    )
    p.add_argument(
        "--state", metavar="FILE", help="a `pulumi stack export`: the live stack (the before side)"
    )
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.preview or args.state:
        if args.refs or args.against:
            print(
                "error: give stacks (or --against) or --preview/--state, not both", file=sys.stderr
            )
            return 2

        return _main_preview(args)
    try:
        table, a = load_prices(), load_assumptions()
        costs = [cost_stack(ref, table, a) for ref in (args.refs or default_refs())]
    except (CostError, ModelError, PlanRefError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.against is not None:
        try:
            base = [base_cost(args.against, today, table, a) for today, _ in costs]
        except (CostError, ModelError, PlanRefError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(render_against(costs, base))
    elif args.format == "markdown":
        print(render_markdown(costs, args.explain))
    else:
        render_rich(costs, args.explain, table)
    return 0


def _main_preview(args: argparse.Namespace) -> int:
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
                print(f"| {side.scenario.label} | {money(side.total)} |")
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
