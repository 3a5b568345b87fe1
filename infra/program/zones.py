"""Availability zones chosen by zone ID, among those that offer every instance type.

Zone *names* (us-east-1a) map to different physical zones in each account; zone *IDs*
(use1-az1) name the same zone everywhere ("Availability Zone IDs for your AWS resources",
AWS RAM user guide). Not every zone offers every instance type (in moto's copy of
DescribeInstanceTypeOfferings, us-east-1's use1-az3 offers no Graviton type), so the
zones of a stack are the first ``az_count`` available zones, in the account's name order,
whose zone ID offers every instance type the stack launches
(``aws.ec2.get_instance_type_offerings(location_type="availability-zone-id")``, the
EC2 DescribeInstanceTypeOfferings API). Keeping the name order means an account whose
first zones already offer every type keeps its zones: a subnet's zone cannot change
without replacing it (``availability_zone_id`` is ForceNew in the provider's
``internal/service/ec2/vpc_subnet.go``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Zone:
    name: str
    zone_id: str


class ZoneError(ValueError):
    """Too few zones offer the stack's instance types; the message is one line."""


def choose_zones(
    names: Sequence[str],
    zone_ids: Sequence[str],
    offered: Mapping[str, Iterable[str]],
    instance_types: Iterable[str],
    count: int,
) -> list[Zone]:
    """The first ``count`` zones (by name order) whose ID offers every instance type.

    ``offered`` maps a zone ID to the instance types it offers; with no instance types
    (a stage without instances) every available zone qualifies.
    """
    if len(names) != len(zone_ids):
        raise ZoneError(f"zones: {len(names)} names but {len(zone_ids)} zone ids")
    wanted = set(instance_types)
    zones = sorted(zip(names, zone_ids, strict=True))
    fit = [Zone(n, z) for n, z in zones if wanted <= set(offered.get(z, ()))]
    if len(fit) < count:
        lacking = {
            z: sorted(wanted - set(offered.get(z, ())))
            for _, z in zones
            if z not in {f.zone_id for f in fit}
        }
        detail = "; ".join(f"{z} lacks {', '.join(t)}" for z, t in sorted(lacking.items()))
        raise ZoneError(
            f"az_count: {count} zones needed but only {len(fit)} offer "
            f"{', '.join(sorted(wanted))} ({detail}); allowed: az_count <= {len(fit)} "
            "or other instance types"
        )
    return fit[:count]


def offerings_by_zone(
    instance_types: Sequence[str], locations: Sequence[str]
) -> dict[str, set[str]]:
    """DescribeInstanceTypeOfferings' parallel lists, as zone ID -> instance types."""
    out: dict[str, set[str]] = {}
    for instance_type, location in zip(instance_types, locations, strict=True):
        out.setdefault(location, set()).add(instance_type)
    return out


def stack_zones(instance_types: Sequence[str], count: int) -> list[Zone]:
    """Ask AWS (or the mocks) for the zones of a stack: see ``choose_zones``."""
    import pulumi_aws as aws

    available = aws.get_availability_zones(state="available")
    offered: dict[str, set[str]] = {}
    if instance_types:
        found = aws.ec2.get_instance_type_offerings(
            location_type="availability-zone-id",
            filters=[{"name": "instance-type", "values": sorted(set(instance_types))}],
        )
        offered = offerings_by_zone(found.instance_types, found.locations)
    return choose_zones(available.names, available.zone_ids, offered, instance_types, count)
