"""The one index over a plan's resources: by type, and by the id/ARN/name another cites.

Every offline tool (diff, cost, diagram, the value checks) finds resources through this
module, so "which resource does this value name" has one answer; `resolve_ref` and
`resolve_refs` are the one way a resource a user names (by URN, logical name or TYPE::NAME,
as in `--allow-replace-urn`) becomes the URN the plan holds.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from infra.plans.urn import is_urn, parse_urn
from infra.tokens import ResourceType
from infra.yamlfile import shown

SUBNET = ResourceType.EC2_SUBNET

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


class ResourceRefError(ValueError):
    """A resource reference that names no resource (or several); the message is one line."""


def _ref_form(ref: str) -> str:
    if is_urn(ref):
        return "urn"
    return "type::name" if "::" in ref else "name"


def _key(resource: Mapping[str, Any], form: str) -> str:
    if form == "urn":
        return str(resource["urn"])
    if form == "type::name":
        return f"{resource['type']}::{resource['name']}"
    return str(resource["name"])


def _matches(plan: Mapping[str, Any], ref: str) -> list[str]:
    form = _ref_form(ref)
    return [str(r["urn"]) for r in resources(plan) if _key(r, form) == ref]


def _unknown(ref: str, plans: Sequence[Mapping[str, Any]]) -> ResourceRefError:
    form = _ref_form(ref)
    keys = sorted({_key(r, form) for plan in plans for r in resources(plan)})
    near = difflib.get_close_matches(ref, keys, n=3, cutoff=0.5)
    hint = f"; near: {', '.join(near)}" if near else ""
    return ResourceRefError(
        f"no resource {shown(ref)} in the plan; allowed: a URN, a logical name or "
        f"TYPE::NAME of a planned resource{hint}"
    )


def _ambiguous(ref: str, urns: list[str]) -> ResourceRefError:
    named = ", ".join(f"{parse_urn(u).type}::{parse_urn(u).name}" for u in urns[:4])
    return ResourceRefError(
        f"resource {shown(ref)} is ambiguous: it names {len(urns)} resources ({named}); "
        "give TYPE::NAME or the URN"
    )


def resolve_ref(plan: Mapping[str, Any], ref: str) -> str:
    """The URN of the one resource of `plan` that `ref` names: its URN, its logical name or
    `TYPE::NAME`. Unknown or ambiguous: ResourceRefError, one line with near matches."""
    found = _matches(plan, ref)
    if not found:
        raise _unknown(ref, [plan])
    if len(found) > 1:
        raise _ambiguous(ref, found)
    return found[0]


def resolve_refs(
    plans: Sequence[Mapping[str, Any]], refs: Iterable[str], *, unknown_ok: bool = False
) -> frozenset[str]:
    """Every URN that `refs` name across `plans` (the old and new side of a change, where a
    resource may have a different URN on each). A ref must name one resource in at least
    one plan (unless `unknown_ok`: a caller checking many stacks checks that at the end)
    and never several in one; ResourceRefError otherwise."""
    urns: set[str] = set()
    for ref in refs:
        found: list[str] = []
        for plan in plans:
            hits = _matches(plan, ref)
            if len(hits) > 1:
                raise _ambiguous(ref, hits)
            found += hits
        if not found and not unknown_ok:
            raise _unknown(ref, plans)
        urns.update(found)
    return frozenset(urns)
