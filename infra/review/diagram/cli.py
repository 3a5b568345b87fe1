"""`python -m infra diagram [ENV/STAGE ...]`: one graphviz diagram per stack, from its plan.

Nodes are the planned resources that carry requests or data, grouped by tier (edge, load
balancer, app, cache, database, storage). Edges are the request path as the plan wires it:
CloudFront origins whose domain is the ALB's or the bucket's, listeners and listener rules
forwarding to target groups that an autoscaling group registers in, security-group ingress
rules that let one tier's group reach another's port, read replicas' source DB, the
Elastic IP's instance and the private DNS records that point at replicas. Nothing is
drawn by hand: a stage without a wire has no edge. Written as SVG and PNG under
``build/diagrams/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra import REPO_ROOT
from infra.config import ENVIRONMENTS, STAGES
from infra.paths import output_dir
from infra.plans.build import load_or_build
from infra.plans.load import PlanRefError
from infra.review.diagram.render import OUT, render


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m infra diagram", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "refs", nargs="*", metavar="ENV/STAGE", help="stacks or plan files (default: every stack)"
    )
    p.add_argument(
        "--out", type=Path, default=OUT, help="output directory (default build/diagrams)"
    )
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    output_dir(args.out, "diagram directory")
    refs = args.refs or [f"{e}/{s}" for e in ENVIRONMENTS for s in STAGES]
    for ref in refs:
        try:
            plan = load_or_build(ref)
        except PlanRefError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        svg, png = render(plan, args.out)
        print(f"{ref}: {_shown(svg)} {_shown(png)}")
    return 0
