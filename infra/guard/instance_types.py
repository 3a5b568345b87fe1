"""EC2 instance types exist and are offered in the availability zones they launch in.

The catalogue is the one moto ships (AWS's DescribeInstanceTypes and
DescribeInstanceTypeOfferings output, per region and zone), read in place through moto's
own loader: nothing is copied into this repo.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from moto.utilities.utils import load_resource

from infra.guard.findings import Plan, ValueFinding
from infra.plans.index import all_subnet_zones, find, resources, subnet_zones, value
from infra.tokens import ResourceType

CHECK = "instance-types"
INSTANCE = ResourceType.EC2_INSTANCE
LAUNCH_TEMPLATE = ResourceType.EC2_LAUNCH_TEMPLATE
ASG = ResourceType.AUTOSCALING_GROUP
_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d)[a-z]$")


@cache
def known_types() -> frozenset[str]:
    return frozenset(load_resource("ec2/resources/instance_types.json"))


@cache
def offerings(region: str) -> dict[str, frozenset[str]]:
    """Instance type -> the zone IDs of ``region`` that offer it.

    Keyed by zone ID, never by name: a name (us-east-1c) is a different physical zone in
    each account, an ID (use1-az3) the same everywhere (AWS RAM user guide, "Availability
    Zone IDs for your AWS resources").
    """
    path = f"ec2/resources/instance_type_offerings/availability-zone-id/{region}.json"
    try:
        rows = load_resource(path)
    except FileNotFoundError as error:
        raise ValueError(f"moto has no instance type offerings for region {region!r}") from error
    zones: dict[str, set[str]] = {}
    for row in rows:
        zones.setdefault(row["InstanceType"], set()).add(row["Location"])
    return {type_: frozenset(found) for type_, found in zones.items()}


@cache
def _zone_regions() -> dict[str, str]:
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    return {z.zone_id: region for region, zs in RegionsAndZonesBackend.zones.items() for z in zs}


def region_of(zone_id: str) -> str:
    """The region of a zone ID (``use1-az3`` -> ``us-east-1``), from moto's zone table."""
    region = _zone_regions().get(zone_id)
    if region is None:
        raise ValueError(f"availability zone ID {zone_id!r} is unknown (like use1-az1)")
    return region


def _launch_template_uses(
    plan: Plan, template: Mapping[str, Any]
) -> Iterator[tuple[str, set[str]]]:
    """(instance type, zones) for a template: its type in the zones of the ASGs using it."""
    zones: set[str] = set()
    override_types: set[str] = set()
    for group in resources(plan, ASG):
        spec = value(group, "launchTemplate") or {}
        mixed = (value(group, "mixedInstancesPolicy") or {}).get("launchTemplate") or {}
        spec = spec or mixed.get("launchTemplateSpecification") or {}
        if find(plan, spec.get("id") or spec.get("name"), LAUNCH_TEMPLATE) is not template:
            continue
        zones |= subnet_zones(plan, value(group, "vpcZoneIdentifiers") or [])
        override_types |= {
            o["instanceType"] for o in mixed.get("overrides", []) if o.get("instanceType")
        }
    for type_ in {value(template, "instanceType"), *override_types} - {None}:
        yield str(type_), zones


def _uses(plan: Plan) -> Iterator[tuple[Mapping[str, Any], str, set[str]]]:
    for instance in resources(plan, INSTANCE):
        zones = subnet_zones(plan, value(instance, "subnetId"))
        if value(instance, "instanceType"):
            yield instance, str(value(instance, "instanceType")), zones
    for template in resources(plan, LAUNCH_TEMPLATE):
        for type_, zones in _launch_template_uses(plan, template):
            yield template, type_, zones


def check(plan: Plan) -> list[ValueFinding]:
    findings: list[ValueFinding] = []
    fallback_zones = all_subnet_zones(plan)
    for resource, type_, zones in _uses(plan):
        if type_ not in known_types():
            close = difflib.get_close_matches(type_, known_types(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            findings.append(
                ValueFinding.on(CHECK, resource, f"instance type {type_!r} does not exist{hint}")
            )
            continue
        zones = zones or fallback_zones
        if not zones:
            findings.append(
                ValueFinding.on(CHECK, resource, f"no availability zone known for {type_}")
            )
            continue
        named = sorted(z for z in zones if _ZONE.match(z))
        if named:
            findings.append(
                ValueFinding.on(
                    CHECK,
                    resource,
                    f"{type_} runs in zone(s) given by name only ({', '.join(named)}): a name "
                    "is a different zone in each account; declare availability_zone_id",
                )
            )
        for zone in sorted(set(zones) - set(named)):
            offered = offerings(region_of(zone)).get(type_, frozenset())
            if zone not in offered:
                where = ", ".join(sorted(offered)) or "no zone of the region"
                findings.append(
                    ValueFinding.on(
                        CHECK, resource, f"{type_} is not offered in {zone} (offered in {where})"
                    )
                )
    return findings
