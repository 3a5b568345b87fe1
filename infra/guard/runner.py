"""`python -m infra policy [ENV/STAGE | PLAN.json ...]`: the CrossGuard rules and the value
checks on offline plans, with no Pulumi CLI.

Each stack's plan (built when missing, see ``infra.plans.load``) goes through the pack's
rules with the enforcement its environment's pack config sets
(``policies/policy-config.<env>.json``: prod mandatory, dev advisory), then through the
value checks (``infra/guard/``). Exit status 1 when any mandatory violation or any
check finding remains, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from infra.config import ENVIRONMENTS, STAGES
from infra.guard.findings import StackReport

SHORT_TYPE_PARTS = 2


def evaluate(plan: dict[str, Any], checks: list[str] | None = None) -> StackReport:
    """Rules (at the plan's environment's enforcement) and value checks on one plan.

    ``checks``: None runs every check, an empty list none.
    """
    from infra.guard.checks import run_checks
    from policies.offline import analyze, enforcement_levels, load_config

    levels = enforcement_levels(load_config(plan["env"]))
    violations = accept(analyze(plan["resources"], levels), plan["env"])
    report = StackReport(plan["env"], plan["stage"], violations)
    if checks is None or checks:
        report.findings = run_checks(plan, checks)
    return report


def accept(violations: list[Any], env: str) -> list[Any]:
    """Mark the violations policies/accepted.yaml accepts in ``env`` with its reason."""
    import dataclasses

    from policies.accepted import acceptance_for

    marked = []
    for v in violations:
        entry = acceptance_for(v.policy, v.resource_name, v.message, env)
        marked.append(dataclasses.replace(v, accepted=entry.reason) if entry else v)
    return marked


def evaluate_live(plan: dict[str, Any], label: str) -> StackReport:
    """The pack on a live stack's resources (a state export, or the new state a real
    preview leads to), at the environment's enforcement, the way the engine runs it in a
    preview: a rule that reads a value not known until apply is an advisory "can't run
    policy ... during preview". Reads (resources this stack does not manage) and providers
    are left out; the value checks are not run (they judge planned user data and classes
    offline)."""
    from infra.plans.preview import priceable
    from policies.offline import analyze, enforcement_levels, load_config

    env = plan["env"]
    levels = enforcement_levels(load_config(env))
    resources = priceable(plan)["resources"]
    return StackReport(env, label, accept(analyze(resources, levels, preview=True), env))


def _main_live(args: argparse.Namespace) -> int:
    from infra.plans.preview import PreviewError, load_state
    from infra.plans.preview_inputs import load_inputs

    try:
        if args.preview:
            preview, state = load_inputs(args.preview, args.state)
            plan = preview.new_plan(state)
            label = f"{preview.stage or '?'} (after the preview)"
        else:
            plan = load_state(args.state)
            label = f"{plan['stage']} (live)"
        if plan["env"] not in ENVIRONMENTS:
            raise PreviewError(
                f"environment {plan['env']!r} unknown; allowed: {', '.join(ENVIRONMENTS)}"
            )
        report = evaluate_live(plan, label)
    except (ValueError, RuntimeError) as error:
        # Name the file the resources came from when the message does not already.
        source, text = str(args.preview or args.state), str(error)
        print(f"error: {text if source in text else f'{source}: {text}'}", file=sys.stderr)
        return 2
    render([report])
    if args.preview and args.state is None and preview.partial:
        print(f"note: partial preview, no --state: not judged: {preview.unseen_text()}")
    return 1 if report.failed else 0


def default_refs() -> list[str]:
    return [f"{env}/{stage}" for env in ENVIRONMENTS for stage in STAGES]


def _short_type(resource_type: str | None) -> str:
    if not resource_type:
        return "(stack)"
    parts = resource_type.split(":")
    return parts[-1] if len(parts) > SHORT_TYPE_PARTS else resource_type


def _rows(report: StackReport) -> list[tuple[str, str, str, str]]:
    rows = [
        (
            "accepted" if v.accepted else v.level.value,
            v.policy,
            f"{_short_type(v.resource_type)} {v.resource_name or ''}".strip(),
            f"{v.message} [accepted: {v.accepted}]" if v.accepted else v.message,
        )
        for v in report.violations
    ]
    rows += [
        (
            "check",
            f.check,
            f"{_short_type(f.resource_type)} {f.resource_name or ''}".strip(),
            f.message,
        )
        for f in report.findings
    ]
    order = {"mandatory": 0, "check": 1, "advisory": 2, "accepted": 3}
    return sorted(rows, key=lambda row: (order.get(row[0], 4), row[1], row[2], row[3]))


def render(reports: Sequence[StackReport]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 160))
    for report in reports:
        rows = _rows(report)
        if not rows:
            continue
        table = Table(title=f"{report.stack}: violations and findings", title_justify="left")
        for column in ("level", "rule / check", "resource", "message"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    summary = Table(title="policy run by stack", title_justify="left")
    for column in ("stack", "mandatory", "advisory", "accepted", "check findings", "result"):
        summary.add_column(column)
    for report in reports:
        summary.add_row(
            report.stack,
            str(len(report.mandatory)),
            str(len(report.advisory)),
            str(len(report.accepted)),
            str(len(report.findings)),
            "FAIL" if report.failed else "ok",
        )
    console.print(summary)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra policy",
        description="Run the CrossGuard rules and the value checks on offline plans.",
    )
    parser.add_argument(
        "refs",
        nargs="*",
        metavar="ENV/STAGE|PLAN.json",
        help="stacks or plan files (default: all 14 stacks)",
    )
    parser.add_argument(
        "--no-checks", action="store_true", help="run the policy rules only, not the value checks"
    )
    parser.add_argument(
        "--check",
        action="append",
        dest="checks",
        metavar="NAME",
        help="run only this value check (repeatable): instance-types, node-classes, "
        "user-data, iam-documents",
    )
    parser.add_argument(
        "--format",
        choices=("table", "sarif"),
        default="table",
        help="table (default) or SARIF 2.1.0 on stdout, for GitHub code scanning",
    )
    parser.add_argument(
        "--accepted-table",
        action="store_true",
        help="print docs/policy.md's table of accepted findings (from policies/accepted.yaml)",
    )
    parser.add_argument(
        "--preview",
        metavar="FILE",
        help="run the pack on the new state of a real `pulumi preview --json`",
    )
    parser.add_argument(
        "--state",
        metavar="FILE",
        help="a `pulumi stack export`: the live stack (with --preview: the before side)",
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.accepted_table:
        from policies.accepted import markdown_table

        print(markdown_table())
        return 0
    if args.preview or args.state:
        if args.refs:
            print("error: give stacks or --preview/--state, not both", file=sys.stderr)
            return 2
        return _main_live(args)
    from infra.plans.build import load_or_build

    checks: list[str] | None = [] if args.no_checks else args.checks
    reports = []
    for ref in args.refs or default_refs():
        try:
            plan = load_or_build(ref)
            reports.append(evaluate(plan, checks))
        except (ValueError, RuntimeError) as error:
            # A bad reference, config or check name, or a missing tool (cloud-init).
            print(f"error: {ref}: {error}", file=sys.stderr)
            return 2
    if args.format == "sarif":
        import json

        from infra.guard.sarif import sarif_log

        print(json.dumps(sarif_log(reports), indent=2, sort_keys=True))
    else:
        render(reports)
    return 1 if any(report.failed for report in reports) else 0
