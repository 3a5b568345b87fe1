"""`python -m infra policy --format sarif`: the run as SARIF 2.1.0, for GitHub code scanning.

One run of one tool (the pack's rules and the value checks are its rules); one result per
violation or finding, with the resource as a logical location (its Pulumi name, its URN
as the fully qualified name) and the stack's stage file as the physical one (GitHub
code scanning places every alert on a file). A finding policies/accepted.yaml accepts
carries its reason as a suppression of kind "external" (the reason lives outside the
analysed artifact, as cdk-nag's suppressions do), so code scanning lists it as dismissed
with the justification. Spec: https://docs.oasis-open.org/sarif/sarif/v2.1.0/ (3.27 result,
3.33 logicalLocation, 3.35 suppression; 3.19.23 driver.rules).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.guard.findings import StackReport

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "movies-guardrails"
# The rules' documentation, relative to the repository (a helpUri would need a published URL).
RULES_DOC = "docs/policy.md"
# A mandatory violation fails `pulumi up` (error), an advisory does not (warning); a value
# check finding fails every environment (error).
_LEVEL = {"mandatory": "error", "advisory": "warning", "remediate": "error", "check": "error"}
# GitHub ranks security alerts by properties.security-severity (0.1-10); pulumi_policy's
# severities map onto its bands (critical >= 9, high 7-8.9, medium 4-6.9, low < 4).
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
_CHECKS = {
    "instance-types": "The instance type exists and is offered in the subnets' zones.",
    "node-classes": "The RDS / ElastiCache node class exists and runs the engine version.",
    "user-data": "Launch template and instance user data pass the cloud-init schema.",
    "iam-documents": "IAM documents pass parliament's checks.",
}


def _rules() -> list[dict[str, Any]]:
    from policies.rules import ALL_POLICIES

    rules = []
    for policy in ALL_POLICIES:
        severity = getattr(policy.severity, "value", None) or "medium"
        rules.append(
            {
                "id": policy.name,
                "name": policy.name,
                "shortDescription": {"text": policy.description},
                "help": {"text": f"{RULES_DOC}, 'The rules'"},
                "properties": {
                    "tags": ["security", "pulumi-crossguard"],
                    "security-severity": _SECURITY_SEVERITY.get(severity, "5.5"),
                },
            }
        )
    for name, text in _CHECKS.items():
        rules.append(
            {
                "id": name,
                "name": name,
                "shortDescription": {"text": text},
                "help": {"text": f"{RULES_DOC}, 'The value checks'"},
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["correctness", "value-check"]},
            }
        )
    return rules


def _result(
    report: StackReport,
    rule_ids: list[str],
    rule: str,
    level: str,
    message: str,
    urn: str | None,
    name: str | None,
    resource_type: str | None,
    accepted: str | None,
) -> dict[str, Any]:
    location: dict[str, Any] = {
        "physicalLocation": {"artifactLocation": {"uri": f"stacks/{report.stage}.yaml"}},
        "logicalLocations": [
            {
                "name": name or "(stack)",
                "fullyQualifiedName": urn or f"{report.stack} (stack)",
                "kind": "resource",
            }
        ],
    }
    key = f"{report.stack}|{rule}|{urn}|{message}"
    result: dict[str, Any] = {
        "ruleId": rule,
        "ruleIndex": rule_ids.index(rule),
        "level": _LEVEL.get(level, "warning"),
        "message": {"text": f"{report.stack}: {message}"},
        "locations": [location],
        # Stable across runs, so code scanning tracks one alert per stack, rule and resource.
        "partialFingerprints": {"resourceRule/v1": hashlib.sha256(key.encode()).hexdigest()},
        "properties": {
            "stack": report.stack,
            "environment": report.env,
            "enforcement": level,
            "resourceType": resource_type or "(stack)",
        },
    }
    if accepted is not None:
        result["suppressions"] = [{"kind": "external", "justification": accepted}]
    return result


def sarif_log(reports: Sequence[StackReport]) -> dict[str, Any]:
    """The SARIF log of the reports: one run, its rules, every violation and finding."""
    rules = _rules()
    rule_ids = [rule["id"] for rule in rules]
    results = []
    for report in reports:
        for v in report.violations:
            results.append(
                _result(
                    report,
                    rule_ids,
                    v.policy,
                    v.level.value,
                    v.message,
                    v.urn,
                    v.resource_name,
                    v.resource_type,
                    v.accepted,
                )
            )
        for f in report.findings:
            results.append(
                _result(
                    report,
                    rule_ids,
                    f.check,
                    "check",
                    f.message,
                    f.urn,
                    f.resource_name,
                    f.resource_type,
                    None,
                )
            )
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "rules": rules,
                    }
                },
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
