"""Writing the report: the Jinja templates filled with the StageRows, as HTML and Markdown."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from infra.capacity.inputs import Workload
from infra.paths import output_dir
from infra.review import cost, diff
from infra.review.report.figures import peak_rps
from infra.review.report.model import CATEGORIES, OUT, StageRow, capacity_rows, cost_parts
from infra.review.report.svg import Point, cost_load_svg

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = lambda x: "—" if x is None else f"${x:,.0f}"
    env.filters["delta"] = lambda x: "—" if x is None else f"{x:+,.0f}"
    env.filters["pct"] = lambda x: "elastic" if x is None else f"{x:.0%}"
    env.filters["num"] = lambda x: (
        "—" if x is None else (f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}")
    )
    env.filters["whole"] = lambda x: f"{x:,.0f}"
    env.filters["short_type"] = diff.short_type
    env.filters["usd"] = cost.usd_text
    env.filters["describe"] = diff.describe
    return env


def _workload_text(w: Workload) -> dict[str, Any]:
    """The workload figures the templates print, as whole numbers where they are."""
    return {
        "today": {"hits_per_day": int(w.hits_per_day), "movies": int(w.movies)},
        "target_multiplier": f"{w.multiplier:g}",
    }


CHART = "cost-vs-load.svg"  # beside report.md, which links it


def chart_points(rows: list[StageRow]) -> list[Point]:
    """One point per stage and series: the prod bill today against the load the stage
    carries, per the model and per the lab (in AWS terms)."""
    return [
        Point(
            r.stage,
            r.index,
            r.prod_today.total,
            r.carried.rps if r.carried is not None else None,
            r.lab.aws_rps if r.lab is not None else None,
        )
        for r in rows
    ]


def render(rows: list[StageRow], out: Path = OUT) -> tuple[Path, Path]:
    output_dir(out, "report directory")
    env = _env()
    points = chart_points(rows)
    w = cost.load_assumptions().workload
    today = peak_rps(w, 1.0)
    marks = [(today, "today's peak"), (peak_rps(w, w.multiplier), f"{w.multiplier:g}x")]
    chart = (
        cost_load_svg(points, marks)
        if any(p.model_rps is not None or p.lab_rps is not None for p in points)
        else ""
    )
    if chart:
        (out / CHART).write_text('<?xml version="1.0" encoding="utf-8"?>\n' + chart + "\n")
    ctx = {
        "rows": rows,
        "categories": CATEGORIES,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "usage": cost.load_assumptions().usage,
        "workload": _workload_text(cost.load_assumptions().workload),
        "has_capacity": any(r.capacity is not None for r in rows),
        "capacity_rows": capacity_rows,
        "cost_parts": cost_parts,
        "chart": chart,
        "chart_file": CHART,
        "lab_scale": next((r.lab for r in rows if r.lab is not None), None),
    }
    table = cost.load_prices()
    used = sorted(
        {ln.row for r in rows for sc in (r.dev, r.prod_today, r.prod_target) for ln in sc.lines}
    )
    ctx["prices"] = [(row_id, table.rows[row_id]) for row_id in used]
    html = out / "index.html"
    md = out / "report.md"
    html.write_text(env.get_template("report.html.j2").render(**ctx))
    md.write_text(env.get_template("report.md.j2").render(**ctx))
    return html, md
