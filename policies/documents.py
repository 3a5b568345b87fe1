"""Where pulumi-aws resources carry IAM policy documents (JSON strings in their inputs).

Shared by the ``iam-no-wildcard-admin`` rule and the parliament check, so both look at
the same documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from infra.tokens import ResourceType
from policies.props import as_list


class DocumentKind(Enum):
    IDENTITY = "identity"  # attached to a principal: Resource names what it may touch
    RESOURCE = "resource"  # attached to a resource: Principal names who may touch it
    TRUST = "trust"  # a role's assume-role policy: the resource is the role itself


@dataclass(frozen=True)
class PolicyDocument:
    where: str  # the input path, e.g. ``inlinePolicies[0].policy``
    kind: DocumentKind
    raw: Any


_IDENTITY_POLICY_TYPES = frozenset(
    {
        ResourceType.IAM_POLICY,
        ResourceType.IAM_ROLE_POLICY,
        ResourceType.IAM_USER_POLICY,
        ResourceType.IAM_GROUP_POLICY,
    }
)
_RESOURCE_POLICY_TYPES = frozenset(
    {
        ResourceType.S3_BUCKET_POLICY,
        ResourceType.SNS_TOPIC_POLICY,
        ResourceType.SNS_TOPIC,
        ResourceType.SQS_QUEUE_POLICY,
        ResourceType.SQS_QUEUE,
        ResourceType.SECRETSMANAGER_SECRET_POLICY,
        ResourceType.SECRETSMANAGER_SECRET,
        ResourceType.KMS_KEY,
        ResourceType.KMS_KEY_POLICY,
        ResourceType.ECR_REPOSITORY_POLICY,
        ResourceType.S3_BUCKET,
        ResourceType.S3_BUCKET_V2,
    }
)


def policy_documents(resource_type: str, props: Mapping[str, Any]) -> Iterator[PolicyDocument]:
    """Every policy document a resource declares, with its kind."""
    if resource_type == ResourceType.IAM_ROLE:
        if props.get("assumeRolePolicy") is not None:
            yield PolicyDocument("assumeRolePolicy", DocumentKind.TRUST, props["assumeRolePolicy"])
        for index, inline in enumerate(as_list(props.get("inlinePolicies"))):
            if isinstance(inline, Mapping) and inline.get("policy"):
                where = f"inlinePolicies[{index}].policy"
                yield PolicyDocument(where, DocumentKind.IDENTITY, inline["policy"])
    elif resource_type in _IDENTITY_POLICY_TYPES and props.get("policy") is not None:
        yield PolicyDocument("policy", DocumentKind.IDENTITY, props["policy"])
    elif resource_type in _RESOURCE_POLICY_TYPES and props.get("policy") is not None:
        yield PolicyDocument("policy", DocumentKind.RESOURCE, props["policy"])
