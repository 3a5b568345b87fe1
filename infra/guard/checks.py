"""Checks of real values that the typed SDK cannot catch, run on offline plans.

Each check module exposes ``check(plan) -> list[ValueFinding]`` over the plan-file dict
(``build/plan/<env>-<stage>.json``). A finding is an error in every environment: an
instance type that does not exist or a policy parliament rejects is as broken in dev as
in prod.
"""

from __future__ import annotations

from collections.abc import Callable

from infra.guard.findings import Plan, ValueFinding


def all_checks() -> dict[str, Callable[[Plan], list[ValueFinding]]]:
    """The checks by name, imported on demand (parliament and moto load big catalogues)."""
    from infra.guard import iam_documents, instance_types, node_classes, user_data

    return {
        "instance-types": instance_types.check,
        "node-classes": node_classes.check,
        "user-data": user_data.check,
        "iam-documents": iam_documents.check,
    }


def run_checks(plan: Plan, names: list[str] | None = None) -> list[ValueFinding]:
    checks = all_checks()
    chosen = names or list(checks)
    unknown = sorted(set(chosen) - set(checks))
    if unknown:
        raise ValueError(f"unknown checks {unknown}; allowed: {', '.join(checks)}")
    findings: list[ValueFinding] = []
    for name in chosen:
        findings.extend(checks[name](plan))
    return findings
