"""Relations between resources of one stack, for the stack-level policies.

A child names its parent through an input (``bucket``, ``loadBalancerArn``,
``securityGroupId``...). During a real preview that value may be unknown, so a relation is
recognised three ways, strongest first: the engine's property dependencies for that
input, an equal value (the parent's id, ARN or name), and for the offline plan (which
records only plain dependencies) a plain dependency on a parent of the expected type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from policies.props import as_list

_IDENTIFYING_KEYS = ("id", "arn", "name", "bucket", "identifier")


def safe_get(resource: PolicyResource, key: str) -> Any:
    """A property, or None when absent or unknown during preview."""
    try:
        return resource.props.get(key)
    except UnknownValueError:
        return None


def identifiers(resource: PolicyResource) -> set[str]:
    values = {safe_get(resource, key) for key in _IDENTIFYING_KEYS}
    return {value for value in values if isinstance(value, str) and value}


def refers_to(child: PolicyResource, key: str, parent: PolicyResource) -> bool:
    """Whether ``child``'s input ``key`` points at ``parent``."""
    if parent.urn in {dep.urn for dep in child.property_dependencies.get(key, [])}:
        return True
    values = {value for value in as_list(safe_get(child, key)) if isinstance(value, str)}
    return bool(values & identifiers(parent))


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [resource for resource in resources if resource.resource_type in types]


def referencing(
    resources: Iterable[PolicyResource], parent: PolicyResource, key: str, *types: str
) -> list[PolicyResource]:
    """The resources of ``types`` whose ``key`` points at ``parent``.

    Falls back to plain dependencies only when no resource of those types matched by
    property or value, which is what an offline plan without property dependencies needs.
    """
    candidates = of_type(resources, *types)
    matched = [child for child in candidates if refers_to(child, key, parent)]
    if matched:
        return matched
    return [
        child
        for child in candidates
        if parent.urn in {dep.urn for dep in child.dependencies}
        and not any(
            other is not parent and refers_to(child, key, other)
            for other in of_type(resources, parent.resource_type)
        )
        and _only_dependency_of_type(child, parent.resource_type)
    ]


def referenced(
    resources: Iterable[PolicyResource], child: PolicyResource, key: str, *types: str
) -> list[PolicyResource]:
    """The resources of ``types`` that ``child``'s ``key`` points at."""
    return [parent for parent in of_type(resources, *types) if refers_to(child, key, parent)]


def _only_dependency_of_type(child: PolicyResource, resource_type: str) -> bool:
    return sum(1 for dep in child.dependencies if dep.resource_type == resource_type) == 1
