"""Every IAM policy document the program declares passes the parliament linter.

Documents are found where the CrossGuard rule finds them (``policies.documents``).
parliament 1.6.4's ``analyze_policy_string`` has no switch for resource-based or trust
policies, so each kind is prepared so that parliament judges what is really there:

- identity policies are analysed as written, with the community auditors on (without
  them parliament reports nothing at all for ``"*"`` on ``"*"``);
- resource-based policies (bucket, topic, key...) with the default auditors: the
  community PERMISSIONS_MANAGEMENT_ACTIONS auditor flags the account-owner statements
  these policies exist to hold. In a KMS key policy ``"Resource": "*"`` means "this key"
  (AWS's key policy rules), so it is replaced with the key's ARN before the analysis;
- a role's trust policy has no ``Resource`` by design (parliament reports MALFORMED):
  its resource is the role, whose ARN is filled in; default auditors, because the
  community CREDENTIALS_EXPOSURE auditor flags ``sts:AssumeRole``, the very purpose of
  a trust policy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from infra.guard.findings import Plan, ValueFinding
from infra.plans.index import resources, value
from infra.tokens import ResourceType
from policies.documents import DocumentKind, policy_documents
from policies.props import as_list, parse_document, statements

CHECK = "iam-documents"


KMS_KEY_TYPES = (ResourceType.KMS_KEY, ResourceType.KMS_KEY_POLICY)


def _own_arn(resource: Mapping[str, Any], fallback_kind: str) -> str:
    """The ARN of the resource a policy belongs to (the mocks compute one)."""
    arn = value(resource, "arn")
    if isinstance(arn, str) and arn.startswith("arn:"):
        return arn
    name = value(resource, "name") or resource["name"]
    return f"arn:aws:{fallback_kind}:us-east-1:123456789012:{name}"


def _implicit_resource(
    document: Mapping[str, Any], arn: str, *, replace_star: bool
) -> dict[str, Any]:
    """The document with its implicit resource (a role, a key) written out."""
    prepared = copy.deepcopy(dict(document))
    statements = prepared.get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        if ("Resource" not in statement and "NotResource" not in statement) or (
            replace_star and statement.get("Resource") == "*"
        ):
            statement["Resource"] = arn
    return prepared


def findings_for(
    document: Mapping[str, Any], kind: DocumentKind, own_arn: str = "", *, key_policy: bool = False
) -> list[str]:
    """parliament's findings on one parsed document, as one line each."""
    if kind is DocumentKind.TRUST:
        document = _implicit_resource(document, own_arn, replace_star=False)
    elif key_policy:
        document = _implicit_resource(document, own_arn, replace_star=True)
    # Imported here: parliament imports pkg_resources, which scans every installed
    # distribution; a guard run without IAM documents, and every module that only
    # imports this one, need neither.
    import parliament

    star = _allows_every_action(document)
    # The community auditors expand "*" into every AWS action (~25 s per document); a
    # statement allowing every action is a finding already, so they are skipped then.
    policy = parliament.analyze_policy_string(
        json.dumps(document), include_community_auditors=kind is DocumentKind.IDENTITY and not star
    )
    lines = [
        f"{finding.issue}: {finding.detail}" if finding.detail else finding.issue
        for finding in policy.findings
    ]
    if star:
        lines.insert(0, "ALLOWS_EVERY_ACTION: an Allow statement with Action '*' or NotAction")
    return lines


def _allows_every_action(document: Mapping[str, Any]) -> bool:
    return any(
        statement.get("Effect") == "Allow"
        and ("NotAction" in statement or {"*", "*:*"} & set(as_list(statement.get("Action"))))
        for statement in statements(document)
    )


def check(plan: Plan) -> list[ValueFinding]:
    found: list[ValueFinding] = []
    for resource in resources(plan):
        props = resource.get("inputs") or {}  # declared by the program, not computed
        for document in policy_documents(resource["type"], props):
            try:
                parsed = parse_document(document.raw)
            except ValueError as error:
                found.append(
                    ValueFinding.on(CHECK, resource, f"{document.where}: not JSON ({error})")
                )
                continue
            if parsed is None:
                continue
            key_policy = resource["type"] in KMS_KEY_TYPES
            own_arn = _own_arn(resource, "kms" if key_policy else "iam")
            for line in findings_for(parsed, document.kind, own_arn, key_policy=key_policy):
                found.append(ValueFinding.on(CHECK, resource, f"{document.where}: {line}"))
    return found
