"""`python -m infra plan`: run the program under the mocks and write the plan files.

For each (environment, stage) stack: `build/plan/<env>-<stage>.json`, shaped as in
docs/architecture.md, resources sorted by URN, keys sorted, secrets masked, so the same
code gives byte-identical files. Prints a table: stack, resource count, counts by kind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from infra.config import (
    EDGE_CUTOVER,
    EDGE_CUTOVER_KEY,
    ENVIRONMENTS,
    PROJECT,
    STAGES,
    ConfigError,
    load_stack_config,
    with_edge_cutover,
)
from infra.paths import output_dir
from infra.plans.load import PLAN_DIR, PlanRefError, load_plan, plan_path, stack_of, stale_reason
from infra.plans.urn import ROOT_STACK_TYPE
from infra.yamlfile import shown

STACK_TYPE = ROOT_STACK_TYPE


def build_plan(
    env: str,
    stage: str,
    *,
    artifact: str | None = None,
    template: Path | None = None,
    edge_cutover: str | None = None,
) -> dict[str, Any]:
    """Run the stage's program under the mocks; the plan-file dict (deterministic).
    `edge_cutover`: movies:edgeCutover (an edge stage's end state, `closed`, when None)."""
    # Imported here: pulumi and the components cost a second the config commands don't need.
    from infra.plans.mocks import run_program
    from infra.program.composer import declare_stage

    config = load_stack_config(env, stage)
    if edge_cutover is not None:
        config = with_edge_cutover(config, edge_cutover)
    run = run_program(
        lambda: declare_stage(config, artifact=artifact, template=template),
        project=PROJECT,
        stack=env,
        region=config.env.region,
    )
    stack_resource = {
        "urn": run.stack_urn,
        "type": STACK_TYPE,
        "name": f"{PROJECT}-{env}",
        "parent": None,
        "id": "",
        "inputs": {},
        "outputs": run.exports,
        "dependencies": [],
        "options": {
            "protect": False,
            "retainOnDelete": False,
            "aliases": [],
            "ignoreChanges": [],
            "deleteBeforeReplace": False,
        },
    }
    resources = [stack_resource] + [r.to_plan() for r in run.resources]
    resources.sort(key=lambda r: r["urn"])
    return {"env": env, "stage": stage, "resources": resources}


def load_or_build(ref: str, plan_dir: Path | None = None) -> dict[str, Any]:
    """`load_plan(ref)`, planning the stack first when its file is missing or stale.

    For the review tools run by hand: they say on stderr which stack they plan and why,
    then read the file written, so the caller always reads a plan from disk.
    """
    stack = stack_of(ref)
    if stack is not None:
        env, stage = stack
        directory = plan_dir or PLAN_DIR
        reason = stale_reason(plan_path(env, stage, directory))
        if reason is not None:
            print(f"planning {ref} (its plan file is {reason})", file=sys.stderr)
            try:
                write_plan(build_plan(env, stage), directory)
            except ConfigError as exc:
                raise PlanRefError(f"cannot load plan {shown(ref)}: {exc}") from exc
    return load_plan(ref, plan_dir)


def dumps_plan(plan: dict[str, Any]) -> str:
    return json.dumps(plan, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_plan(plan: dict[str, Any], out_dir: Path = PLAN_DIR) -> Path:
    path = plan_path(plan["env"], plan["stage"], out_dir)
    output_dir(out_dir, "plan directory")
    text = dumps_plan(plan)
    # Leave an identical file's bytes untouched, but mark it current: load_plan refuses a
    # file older than its sources, and a source edit that changes no plan must not leave
    # every plan stale for good (`python -m infra plan` could never fix it).
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        # Atomic: a reader in another process never sees half a file.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    else:
        os.utime(path)
    return path


def kind(type_token: str) -> str:
    """`aws:ec2/securityGroup:SecurityGroup` -> `ec2`; other packages by package name
    (`random`); our components -> `component`."""
    package = type_token.split(":", 1)[0]
    if package == "movies":
        return "component"
    if package != "aws" or type_token.count(":") < 2:
        return package
    return type_token.split(":")[1].split("/")[0]


def kind_counts(plan: dict[str, Any]) -> Counter[str]:
    return Counter(kind(r["type"]) for r in plan["resources"] if r["type"] != STACK_TYPE)


def _table(plans: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    counts = {f"{p['env']}/{p['stage']}": kind_counts(p) for p in plans}
    kinds = sorted({k for c in counts.values() for k in c}, key=lambda k: (k == "component", k))
    table = Table(title="Offline plan (Pulumi mocks)")
    table.add_column("stack", style="bold")
    table.add_column("resources", justify="right")
    for k in kinds:
        table.add_column(k, justify="right")
    for name, counter in counts.items():
        table.add_row(
            name,
            str(sum(counter.values())),
            *[str(counter[k]) if counter[k] else "·" for k in kinds],
        )
    return table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra plan",
        description="Run the Pulumi program under mocks and write build/plan/<env>-<stage>.json.",
    )
    parser.add_argument("--env", choices=ENVIRONMENTS, help="one environment (default: all)")
    parser.add_argument("--stage", choices=STAGES, help="one stage (default: all)")
    parser.add_argument(
        "--out", type=Path, default=PLAN_DIR, help="output directory (default: build/plan)"
    )
    parser.add_argument(
        "--edge-cutover",
        choices=EDGE_CUTOVER,
        help=f"{EDGE_CUTOVER_KEY} for the stages with an edge (default: their end state, "
        "closed); a variant, so only with --out DIR other than build/plan",
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.edge_cutover is not None and args.out.resolve() == PLAN_DIR.resolve():
        # build/plan holds the end states every review tool reads as ENV/STAGE.
        print(
            f"error: --edge-cutover {args.edge_cutover} writes variant plans; allowed: with "
            f"--out DIR other than {PLAN_DIR}",
            file=sys.stderr,
        )
        return 2
    output_dir(args.out, "plan directory")  # before minutes of planning, not after
    envs = [args.env] if args.env else list(ENVIRONMENTS)
    stages = [args.stage] if args.stage else list(STAGES)
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        # Piped or captured: do not squeeze the per-kind columns into 80 characters.
        console = Console(width=200)
    started = time.perf_counter()
    plans = []
    # All or none: every stack is planned before any file is written, so one bad spec
    # leaves build/plan/ as it was instead of a mix of old and new plans.
    for env in envs:
        for stage in stages:
            try:
                edge = load_stack_config(env, stage).stage.edge is not None
                cutover = args.edge_cutover if edge else None
                plans.append(build_plan(env, stage, edge_cutover=cutover))
            except (ConfigError, ValueError) as exc:
                print(f"error: {env}/{stage}: {exc}", file=sys.stderr)
                print(f"error: nothing written to {args.out}", file=sys.stderr)
                return 1
    for plan in plans:
        write_plan(plan, args.out)
    elapsed = time.perf_counter() - started
    console.print(_table(plans))
    console.print(
        f"{len(plans)} stack(s) planned in {elapsed:.1f}s; wrote {args.out}/<env>-<stage>.json"
    )
    return 0
