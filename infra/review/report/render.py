"""Writing the report: the Jinja templates filled with the StageRows, as HTML and Markdown."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from infra.capacity.inputs import Workload
from infra.paths import output_dir
from infra.review import cost, diff
from infra.review.report.model import CATEGORIES, OUT, StageRow, capacity_rows, cost_parts

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


def render(rows: list[StageRow], out: Path = OUT) -> tuple[Path, Path]:
    output_dir(out, "report directory")
    env = _env()
    ctx = {
        "rows": rows,
        "categories": CATEGORIES,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "usage": cost.load_assumptions().usage,
        "workload": _workload_text(cost.load_assumptions().workload),
        "has_capacity": any(r.capacity is not None for r in rows),
        "capacity_rows": capacity_rows,
        "cost_parts": cost_parts,
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
