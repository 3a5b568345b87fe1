"""`python -m infra capacity [--env prod] [--stage S ...]`: one table per stage with each
tier's capacity, today's peak load and headroom, and the same at 5x (also Markdown, JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from infra.capacity.checks import (
    StageCapacity,
    TierCheck,
    capacity_tables,
    cross_checks,
    model_inputs,
    model_sources,
)
from infra.capacity.inputs import ModelError, Scale
from infra.config import ENVIRONMENTS, TIERS, ConfigError, choice_error


def _fmt(value: float, unit: str) -> str:
    if unit == "GB":
        return f"{value:,.1f} GB"
    if unit == "vCPU":
        return f"{value:,.2f} vCPU"
    return f"{value:,.0f} {unit}"


def _headroom_cell(check: TierCheck, scale: Scale, required: float) -> str:
    h = check.headroom(scale)
    if h is None:
        return "[cyan]elastic[/]"
    style = "red" if h < required else "green"
    return f"[{style}]{h:.0%}[/]"


def render(tables: list[StageCapacity], console: Any) -> None:
    from rich.table import Table

    for sc in tables:
        fails = sc.failing("target")
        verdict = (
            f"[green]carries {sc.multiplier:g}x with >= {sc.required_headroom:.0%} headroom[/]"
            if not fails
            else "[red]short at {m:g}x on: {t}[/]".format(
                m=sc.multiplier, t=", ".join(sorted({f"{c.tier} {c.measure}" for c in fails}))
            )
        )
        table = Table(title=f"{sc.env}/{sc.stage}: {verdict}", title_justify="left")
        for col in (
            "tier",
            "measure",
            "capacity",
            "today",
            "headroom",
            f"{sc.multiplier:g}x",
            "headroom ",
            "basis",
        ):
            table.add_column(
                col,
                justify="left" if col in {"tier", "measure", "basis"} else "right",
                overflow="fold",
            )
        for c in sc.checks:
            table.add_row(
                c.tier,
                c.measure,
                "elastic" if c.capacity is None else _fmt(c.capacity, c.unit),
                _fmt(c.load_today, c.unit),
                _headroom_cell(c, "today", sc.required_headroom),
                _fmt(c.load_target, c.unit),
                _headroom_cell(c, "target", sc.required_headroom),
                c.basis,
            )
        console.print(table)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra capacity",
        description="Per-tier load, capacity and headroom per stage, today and at the target.",
    )
    parser.add_argument("--env", default="prod", help=f"one of {', '.join(ENVIRONMENTS)}")
    parser.add_argument("--stage", action="append", help="a stage (repeatable); default all")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the figures as JSON")
    out.add_argument("--markdown", action="store_true", help="print a Markdown summary")
    parser.add_argument(
        "--scale",
        action="append",
        metavar="N",
        help="the road past 5x: where prod/scale-5x runs out at N x today (repeatable)",
    )
    args = parser.parse_args(argv)
    if (bad := choice_error(args.env, args.stage or [])) is not None:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    if args.scale:
        from infra.capacity import road

        out = "json" if args.json else "markdown" if args.markdown else "rich"
        return road.main_scale(args.env, args.scale, out)
    try:
        tables = capacity_tables(args.env, args.stage)
    except (ModelError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([_as_json(t) for t in tables], indent=2))
        return 0
    if args.markdown:
        print(markdown(tables))
        for sc in tables if args.stage else []:
            print(f"\n{sc.env}/{sc.stage}\n\n{markdown_detail(sc)}")
        return 0
    from rich.console import Console

    console = Console(width=max(Console().width, 160))
    render(tables, console)
    console.print("Sources:")
    for key, text in model_sources().items():
        console.print(f"  {key}: {text}")
    w, _, _ = model_inputs()
    console.print(
        f"  search cache: {w.search_hit_ratio('today'):.1%} hit today, "
        f"{w.search_hit_ratio('target'):.1%} at {w.multiplier:g}x (derived from the TTL and an "
        "assumed query popularity, assumptions/workload.yaml requests.search_cache)"
    )
    checks = cross_checks()
    if checks:
        console.print("Cross-check, DB reads per API request today (model vs lab bench):")
        for c in checks:
            console.print(f"  {c.stage}: model {c.model:.3f}, bench {c.measured:.3f}")
    return 0


def markdown(tables: list[StageCapacity]) -> str:
    """One row per stage, one column per tier: the tightest headroom today / at target."""
    # TIERS is the request's path, edge first.
    tiers = [t for t in TIERS if any(c.tier == t for sc in tables for c in sc.checks)]
    mult = f"{tables[0].multiplier:g}x" if tables else "5x"
    lines = [
        f"| stage | {' | '.join(tiers)} | short at {mult} on |",
        "|---" * (len(tiers) + 2) + "|",
    ]
    for sc in tables:
        today, target = sc.tier_headroom("today"), sc.tier_headroom("target")
        cells = []
        for tier in tiers:
            if tier not in today:
                cells.append("")
            elif today[tier] is None:
                cells.append("elastic")
            else:
                cells.append(f"{_pct(today[tier])} / {_pct(target[tier])}")
        short = sorted({f"{c.tier} {c.measure}" for c in sc.failing("target")})
        lines.append(f"| {sc.stage} | {' | '.join(cells)} | {', '.join(short) or '-'} |")
    return "\n".join(lines)


def markdown_detail(sc: StageCapacity) -> str:
    """Every check of one stage as a Markdown table."""
    lines = [
        f"| tier | measure | capacity | today | headroom | {sc.multiplier:g}x | headroom | basis |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in sc.checks:
        cap = "elastic" if c.capacity is None else _fmt(c.capacity, c.unit)
        h_today, h_target = c.headroom("today"), c.headroom("target")
        lines.append(
            f"| {c.tier} | {c.measure} | {cap} | {_fmt(c.load_today, c.unit)} | "
            f"{'elastic' if h_today is None else _pct(h_today)} | {_fmt(c.load_target, c.unit)} | "
            f"{'elastic' if h_target is None else _pct(h_target)} | {c.basis} |"
        )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _as_json(sc: StageCapacity) -> dict[str, Any]:
    return {
        "env": sc.env,
        "stage": sc.stage,
        "required_headroom": sc.required_headroom,
        "checks": [
            {
                "tier": c.tier,
                "measure": c.measure,
                "unit": c.unit,
                "capacity": c.capacity,
                "today": round(c.load_today, 4),
                "target": round(c.load_target, 4),
                "headroom_today": c.headroom("today"),
                "headroom_target": c.headroom("target"),
                "basis": c.basis,
            }
            for c in sc.checks
        ],
    }
