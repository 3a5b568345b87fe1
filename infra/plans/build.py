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

from infra import REPO_ROOT
from infra.config import ENVIRONMENTS, PROJECT, STAGES, ConfigError, load_stack_config

PLAN_DIR = REPO_ROOT / "build" / "plan"
STACK_TYPE = "pulumi:pulumi:Stack"


def plan_path(env: str, stage: str, out_dir: Path = PLAN_DIR) -> Path:
    return out_dir / f"{env}-{stage}.json"


def build_plan(
    env: str, stage: str, *, artifact: str | None = None, template: Path | None = None
) -> dict[str, Any]:
    """Run the stage's program under the mocks; the plan-file dict (deterministic)."""
    # Imported here: pulumi and the components cost a second the config commands don't need.
    from infra.plans.mocks import run_program
    from infra.program.composer import declare_stage

    config = load_stack_config(env, stage)
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


def dumps_plan(plan: dict[str, Any]) -> str:
    return json.dumps(plan, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_plan(plan: dict[str, Any], out_dir: Path = PLAN_DIR) -> Path:
    path = plan_path(plan["env"], plan["stage"], out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dumps_plan(plan)
    # Leave an identical file untouched (mtime too), so make-style tools see no change.
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        # Atomic: a reader in another process never sees half a file.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
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
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    envs = [args.env] if args.env else list(ENVIRONMENTS)
    stages = [args.stage] if args.stage else list(STAGES)
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        # Piped or captured: do not squeeze the per-kind columns into 80 characters.
        console = Console(width=200)
    started = time.perf_counter()
    plans = []
    for env in envs:
        for stage in stages:
            try:
                plan = build_plan(env, stage)
            except (ConfigError, ValueError) as exc:
                print(f"error: {env}/{stage}: {exc}", file=sys.stderr)
                return 1
            write_plan(plan, args.out)
            plans.append(plan)
    elapsed = time.perf_counter() - started
    console.print(_table(plans))
    console.print(
        f"{len(plans)} stack(s) planned in {elapsed:.1f}s; wrote {args.out}/<env>-<stage>.json"
    )
    return 0
