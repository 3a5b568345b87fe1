"""The one index over a plan's resources: by type, and by the id/ARN/name another cites.

Every offline tool (diff, cost, diagram, the value checks) finds resources through this
module, so "which resource does this value name" has one answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

SUBNET = "aws:ec2/subnet:Subnet"

# Keys whose value names the resource itself (besides its id). Outputs echo inputs, so a
# rule's outputs also hold its security group's id: only these keys count.
IDENTITY_KEYS = (
    "arn",
    "name",
    "dnsName",
    "address",
    "bucket",
    "bucketRegionalDomainName",
    "bucketDomainName",
    "zoneId",
    "identifier",
    "domainName",
)


def inp(resource: Mapping[str, Any] | None, key: str, default: Any = None) -> Any:
    """A planned input, or `default` when it is absent or null."""
    value = ((resource or {}).get("inputs") or {}).get(key)
    return default if value is None else value


def value(resource: Mapping[str, Any], key: str) -> Any:
    """An input, else the output the mocks computed."""
    inputs = resource.get("inputs") or {}
    if inputs.get(key) is not None:
        return inputs[key]
    return (resource.get("outputs") or {}).get(key)


def resources(plan: Mapping[str, Any], *types: str) -> Iterator[Mapping[str, Any]]:
    for resource in plan.get("resources", []):
        if not types or resource["type"] in types:
            yield resource


def identity_index(items: list[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Values that name a resource (its id, ARN, DNS name, ...) -> the resources they name.

    Resources whose own id is the value come first. A name can still be shared (an RDS
    instance and its subnet group may both be "movies-prod-db"): callers that know the
    type they want pass it to `lookup`.
    """
    index: dict[str, list[Mapping[str, Any]]] = {}

    def add(found: Any, r: Mapping[str, Any]) -> None:
        if isinstance(found, str) and len(found) > 3 and r not in index.setdefault(found, []):
            index[found].append(r)

    for r in items:
        add(r.get("id"), r)
    for r in items:
        outputs, inputs = r.get("outputs") or {}, r.get("inputs") or {}
        for key in IDENTITY_KEYS:
            add(outputs.get(key), r)
            add(inputs.get(key), r)
    return index


def lookup(
    index: Mapping[str, list[Mapping[str, Any]]], reference: Any, *types: str
) -> Mapping[str, Any] | None:
    """The first resource of `types` that `reference` names (a trailing DNS dot ignored)."""
    if not isinstance(reference, str):
        return None
    hits = index.get(reference)
    if not hits and reference.endswith("."):
        hits = index.get(reference.rstrip("."))
    for r in hits or []:
        if not types or r["type"] in types:
            return r
    return None


class PlanIndex:
    """One plan's resources by type and by identity, built once per plan."""

    def __init__(self, plan: Mapping[str, Any]) -> None:
        self.resources: list[Mapping[str, Any]] = list(plan.get("resources", []))
        self.by_value = identity_index(self.resources)
        self.by_urn = {r["urn"]: r for r in self.resources}

    def of_type(self, *types: str) -> list[Any]:
        return [r for r in self.resources if r["type"] in types]

    def ref(self, reference: Any, *types: str) -> Any:
        return lookup(self.by_value, reference, *types)


def find(plan: Mapping[str, Any], reference: Any, *types: str) -> Mapping[str, Any] | None:
    """The resource of `types` that `reference` (an id, ARN or name) names."""
    return PlanIndex(plan).ref(reference, *types)


def zone_of(subnet: Mapping[str, Any]) -> str | None:
    """A subnet's zone ID (``use1-az1``); the zone name only when no ID is known."""
    inputs = subnet.get("inputs") or {}
    for key in ("availabilityZoneId", "availabilityZone"):
        if inputs.get(key):
            return str(inputs[key])
    found = value(subnet, "availabilityZoneId") or value(subnet, "availabilityZone")
    return str(found) if found else None


def subnet_zones(plan: Mapping[str, Any], subnet_ids: Any) -> set[str]:
    ix = PlanIndex(plan)
    zones = set()
    for subnet_id in subnet_ids if isinstance(subnet_ids, list) else [subnet_ids]:
        subnet = ix.ref(subnet_id, SUBNET)
        zone = zone_of(subnet) if subnet else None
        if zone:
            zones.add(zone)
    return zones


def all_subnet_zones(plan: Mapping[str, Any]) -> set[str]:
    return {zone for subnet in resources(plan, SUBNET) if (zone := zone_of(subnet))}
