"""The report model: one StageRow per stage (cost, capacity, diff, diagram, policy), from
the offline plans.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.capacity.checks import capacity_tables, model_inputs
from infra.config import ENVIRONMENTS as ENVS
from infra.config import STACKS_DIR, STAGES, load_stack_config, load_stage_spec
from infra.plans.load import PlanRefError
from infra.review import cost, diagram, diff
from infra.review.report import figures

ROOT = REPO_ROOT
OUT = ROOT / "build" / "report"

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
    # What the stage carries (infra/review/report/figures.py): the model's first tier to run
    # out, the lab's measured saturation (None: not measured), and the rehearsal of the move
    # into the stage (None: not rehearsed) next to what the diff declares it does.
    carried: figures.ModelCeiling | None = None
    lab: figures.LabRate | None = None
    move: figures.MoveResult | None = None
    move_declared: str = ""


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


def _ceilings(env: str) -> dict[str, figures.ModelCeiling]:
    """Per stage, the traffic at which the capacity model's first tier runs out."""
    try:
        w, rates, obs = model_inputs()
        return {
            s: figures.model_ceiling(load_stack_config(env, s).stage, w, rates, obs) for s in STAGES
        }
    except ValueError as exc:  # the model's inputs are wrong: say so, keep the rest
        print(f"warning: the model's load per stage left out: {exc}", file=sys.stderr)
        return {}


def collect(
    plans: dict[tuple[str, str], dict],
    out: Path = OUT,
    saturation: Path = figures.SATURATION,
    moves: Path = figures.MOVES,
) -> list[StageRow]:
    """Everything the report shows, from the 14 plans (keyed by (env, stage)), the lab's
    saturation per stage and its rehearsed moves (each optional: \"not measured\",
    \"not rehearsed\")."""
    missing = [f"{e}/{s}" for e in ENVS for s in STAGES if (e, s) not in plans]
    if missing:
        raise PlanRefError(f"the report needs every stack's plan; missing: {', '.join(missing)}")
    table, assumptions = cost.load_prices(), cost.load_assumptions()
    caps = _capacity("prod")
    ceilings = _ceilings("prod")
    lab = figures.lab_rates(saturation)
    rehearsed = figures.moves(moves, "prod")
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
            carried=ceilings.get(stage),
            lab=lab.get(stage),
            move=rehearsed.get(figures.move_key(prev.stage, stage)) if prev else None,
            move_declared=d.move_summary().line() if d else "",
        )
        rows.append(row)
        prev = row
    return rows
