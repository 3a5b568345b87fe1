"""Lookups over a plan's resources: by type, and by the id/ARN another resource cites."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

SUBNET = "aws:ec2/subnet:Subnet"


def resources(plan: Mapping[str, Any], *types: str) -> Iterator[Mapping[str, Any]]:
    for resource in plan.get("resources", []):
        if not types or resource["type"] in types:
            yield resource


def value(resource: Mapping[str, Any], key: str) -> Any:
    """An input, else the output the mocks computed."""
    inputs = resource.get("inputs") or {}
    if inputs.get(key) is not None:
        return inputs[key]
    return (resource.get("outputs") or {}).get(key)


def identifiers(resource: Mapping[str, Any]) -> set[str]:
    found = {resource.get("id")}
    for key in ("id", "arn", "name", "identifier", "bucket"):
        found.add(value(resource, key))
    return {item for item in found if isinstance(item, str) and item}


def find(plan: Mapping[str, Any], reference: Any, *types: str) -> Mapping[str, Any] | None:
    """The resource of ``types`` that ``reference`` (an id, ARN or name) names."""
    if not isinstance(reference, str):
        return None
    for resource in resources(plan, *types):
        if reference in identifiers(resource):
            return resource
    return None


def subnet_zones(plan: Mapping[str, Any], subnet_ids: Any) -> set[str]:
    zones = set()
    for subnet_id in subnet_ids if isinstance(subnet_ids, list) else [subnet_ids]:
        subnet = find(plan, subnet_id, SUBNET)
        if subnet and value(subnet, "availabilityZone"):
            zones.add(str(value(subnet, "availabilityZone")))
    return zones


def all_subnet_zones(plan: Mapping[str, Any]) -> set[str]:
    return {
        str(value(subnet, "availabilityZone"))
        for subnet in resources(plan, SUBNET)
        if value(subnet, "availabilityZone")
    }
