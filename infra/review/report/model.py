"""`python -m infra report`: one static page (and Markdown) comparing every stage.

For each of the seven stages: what it adds and the bottleneck it removes (from its spec in
``stacks/<stage>.yaml``), its resource counts in dev and prod, its monthly cost (dev;
prod today and at 5x; cost per million requests), its diagram (inline SVG, generated from
the prod plan), its diff from the stage before (prod), and each tier's headroom today
and at 5x (``infra.capacity.checks.capacity_tables``). Written to
``build/report/index.html`` (self-contained) and ``build/report/report.md`` (diagrams
alongside in ``build/report/diagrams/``).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from infra import REPO_ROOT
from infra.capacity.checks import capacity_tables
from infra.capacity.inputs import ModelError, Workload
from infra.config import ENVIRONMENTS as ENVS
from infra.config import STACKS_DIR, STAGES, ConfigError, load_stage_spec
from infra.plans.build import load_or_build
from infra.plans.load import PlanRefError
from infra.review import cost, diagram, diff

ROOT = REPO_ROOT
OUT = ROOT / "build" / "report"
TEMPLATES = Path(__file__).resolve().parent / "templates"

CATEGORY = {
    # short type prefix -> column in the resource-count table
    "ec2/instance": "compute",
    "autoscaling/group": "compute",
    "ec2/launchTemplate": "compute",
    "lb/": "load balancing",
    "rds/instance": "database",
    "elasticache/replicationGroup": "cache",
    "s3/": "storage",
    "cloudfront/": "edge",
    "cloudwatch/": "observability",
    "sns/": "observability",
    "ec2/vpc": "network",
    "ec2/subnet": "network",
    "ec2/natGateway": "network",
    "ec2/eip": "network",
    "ec2/route": "network",
    "ec2/internetGateway": "network",
    "ec2/securityGroup": "security",
    "vpc/securityGroup": "security",
    "iam/": "security",
    "secretsmanager/": "security",
    "kms/": "security",
}
CATEGORIES = (
    "network",
    "security",
    "compute",
    "load balancing",
    "cache",
    "database",
    "storage",
    "edge",
    "observability",
    "other",
)


def category(type_: str) -> str:
    short = diff.short_type(type_)
    for prefix, cat in CATEGORY.items():
        if short.startswith(prefix):
            return cat
    return "other"


@dataclass
class StageRow:
    index: int
    stage: str
    summary: str
    reason: str
    counts: dict[str, int]
    categories: dict[str, dict[str, int]]
    dev: cost.StackCost
    prod_today: cost.StackCost
    prod_target: cost.StackCost
    dev_delta: float | None
    prod_delta: float | None
    target_delta: float | None
    svg: str
    diagram_file: str
    diff: diff.PlanDiff | None
    diff_md: str
    capacity: Any = None
    new_types: list[str] = field(default_factory=list)


def stage_text(stage: str) -> tuple[str, str]:
    """(what the stage adds, the bottleneck it removes): the validated spec's ``summary`` and
    ``bottleneck`` (``stacks/<stage>.yaml``); a spec without them is a ConfigError."""
    # Both are plain text, the same in every environment: prod is the one the report tells.
    spec = load_stage_spec(stage, "prod", STACKS_DIR)
    return spec.summary, spec.bottleneck


def _svg_inline(svg_path: Path) -> str:
    text = svg_path.read_text()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _capacity(env: str) -> dict[str, Any]:
    """Per-stage capacity tables from the capacity model."""
    try:
        return {t.stage: t for t in capacity_tables(env=env)}
    except ValueError as exc:  # the model's inputs are wrong: say so, keep the rest
        print(f"warning: capacity tables left out: {exc}", file=sys.stderr)
        return {}


def capacity_rows(sc: Any) -> list[dict[str, Any]]:
    """Flatten a capacity StageCapacity into rows the templates print."""
    rows = []
    for check in sc.checks:
        today, target = check.headroom("today"), check.headroom("target")
        rows.append(
            {
                "tier": check.tier,
                "measure": check.measure,
                "unit": check.unit,
                "capacity": check.capacity,
                "load_today": check.load_today,
                "load_target": check.load_target,
                "headroom_today": today,
                "headroom_target": target,
                "short_today": today is not None and today < sc.required_headroom,
                "short_target": target is not None and target < sc.required_headroom,
                "basis": check.basis,
            }
        )
    return rows


PART_OF_ROW = (
    # price-row prefix -> the part of the bill it belongs to, in reading order
    ("ec2.", "servers"),
    ("ebs.", "servers"),
    ("rds.", "database"),
    ("ec.", "cache"),
    ("alb.", "load balancer"),
    ("dto.", "data transfer out"),
    ("cf.", "CDN (CloudFront)"),
    ("s3.", "object storage"),
    ("nat.", "network (NAT, IPs, endpoints)"),
    ("ipv4.", "network (NAT, IPs, endpoints)"),
    ("vpce.", "network (NAT, IPs, endpoints)"),
    ("r53.", "network (NAT, IPs, endpoints)"),
    ("cw.", "monitoring and logs"),
    ("sm.", "secrets and keys"),
    ("kms.", "secrets and keys"),
)


def part_of(row_id: str) -> str:
    for prefix, part in PART_OF_ROW:
        if row_id.startswith(prefix):
            return part
    return "other"


def cost_parts(row: StageRow) -> list[tuple[str, float, float]]:
    """The prod bill of one stage by part: (part, today $, target $), largest first."""
    today: dict[str, float] = {}
    target: dict[str, float] = {}
    for a, b in zip(row.prod_today.lines, row.prod_target.lines, strict=True):
        today[part_of(a.row)] = today.get(part_of(a.row), 0.0) + a.monthly
        target[part_of(b.row)] = target.get(part_of(b.row), 0.0) + b.monthly
    return sorted(((p, today[p], target[p]) for p in today), key=lambda t: -t[1])


def collect(plans: dict[tuple[str, str], dict], out: Path = OUT) -> list[StageRow]:
    """Everything the report shows, from the 14 plans (keyed by (env, stage))."""
    missing = [f"{e}/{s}" for e in ENVS for s in STAGES if (e, s) not in plans]
    if missing:
        raise PlanRefError(f"the report needs every stack's plan; missing: {', '.join(missing)}")
    table, assumptions = cost.load_prices(), cost.load_assumptions()
    caps = _capacity("prod")
    rows: list[StageRow] = []
    prev: StageRow | None = None
    for i, stage in enumerate(STAGES, start=1):
        dev_plan, prod_plan = plans[("dev", stage)], plans[("prod", stage)]
        dev_today = cost.price_plan(
            dev_plan, assumptions.scenarios("dev")[0], table, assumptions, f"dev/{stage}"
        )
        p_today, p_target = (
            cost.price_plan(prod_plan, sc, table, assumptions, f"prod/{stage}")
            for sc in assumptions.scenarios("prod")
        )
        svg_path, _ = diagram.render(prod_plan, out / "diagrams")
        diagram.render(dev_plan, out / "diagrams")
        d = None
        if prev is not None:
            d = diff.diff_plans(
                plans[("prod", prev.stage)],
                prod_plan,
                old_label=f"prod/{prev.stage}",
                new_label=f"prod/{stage}",
            )
        summary, reason = stage_text(stage)
        real = {
            e: [r for r in plans[(e, stage)]["resources"] if r["type"].startswith("aws:")]
            for e in ENVS
        }
        prev_types = (
            {r["type"] for r in plans[("prod", prev.stage)]["resources"]} if prev else set()
        )
        row = StageRow(
            index=i,
            stage=stage,
            summary=summary,
            reason=reason,
            counts={e: len(real[e]) for e in ENVS},
            categories={e: dict(Counter(category(r["type"]) for r in real[e])) for e in ENVS},
            dev=dev_today,
            prod_today=p_today,
            prod_target=p_target,
            dev_delta=None if prev is None else dev_today.total - prev.dev.total,
            prod_delta=None if prev is None else p_today.total - prev.prod_today.total,
            target_delta=None if prev is None else p_target.total - prev.prod_target.total,
            svg=_svg_inline(svg_path),
            diagram_file=f"diagrams/{svg_path.name}",
            diff=d,
            diff_md=diff.render_markdown(d, title=f"Diff from stage {i - 1} (prod)") if d else "",
            capacity=caps.get(stage),
            new_types=sorted(
                {diff.short_type(r["type"]) for r in real["prod"] if r["type"] not in prev_types}
            )
            if prev
            else [],
        )
        rows.append(row)
        prev = row
    return rows


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
    out.mkdir(parents=True, exist_ok=True)
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


def load_all() -> dict[tuple[str, str], dict]:
    return {(e, s): load_or_build(f"{e}/{s}") for e in ENVS for s in STAGES}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m infra report", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT, help="output directory (default build/report)")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        rows = collect(load_all(), args.out)
    except (PlanRefError, cost.CostError, ConfigError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    html, md = render(rows, args.out)
    print(f"wrote {html} and {md}")
    return 0
