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
from pathlib import Path

from infra.capacity.inputs import ModelError
from infra.config import ENVIRONMENTS as ENVS
from infra.config import STAGES, ConfigError
from infra.paths import output_dir
from infra.plans.build import load_or_build
from infra.plans.load import PlanRefError
from infra.review import cost
from infra.review.report.figures import FiguresError
from infra.review.report.model import OUT, collect
from infra.review.report.render import render


def load_all() -> dict[tuple[str, str], dict]:
    return {(e, s): load_or_build(f"{e}/{s}") for e in ENVS for s in STAGES}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m infra report", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT, help="output directory (default build/report)")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    output_dir(args.out, "report directory")
    try:
        rows = collect(load_all(), args.out)
    except (PlanRefError, cost.CostError, ConfigError, ModelError, FiguresError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    html, md = render(rows, args.out)
    print(f"wrote {html} and {md}")
    return 0
