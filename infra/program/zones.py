"""Availability zones: pinned by zone ID in the profile, checked against AWS's offerings.

Zone *names* (us-east-1a) map to different physical zones in each account; zone *IDs*
(use1-az1) name the same zone everywhere ("Availability Zone IDs for your AWS resources",
AWS RAM user guide). A subnet's zone cannot change without replacing the subnet
(``availability_zone_id`` is ForceNew in the Terraform provider's
``internal/service/ec2/vpc_subnet.go``), and with it the NAT gateway, the RDS standby and
the Redis nodes in it. So the zones are never chosen at ``pulumi up``: the profile pins
them (``zone_ids`` in ``stacks/env/<env>.yaml``), the program declares exactly those, and
it only *checks* them against AWS (``aws.get_availability_zones`` and
``aws.ec2.get_instance_type_offerings`` by ``availability-zone-id``, the EC2
DescribeInstanceTypeOfferings API): a pinned zone that does not exist in the region or
does not offer an instance type of the stage fails the run in one line, before any
resource is declared. Not every zone offers every type (in moto's copy of the catalogue,
us-east-1's use1-az3 offers no Graviton type).

``python -m infra zones`` shows, per environment, which zone IDs offer every instance
type of EVERY stage (so no stage move can need another zone) and with ``--write`` pins
them: pins that still qualify stay where they are; only a pin that lacks a type (or a
missing one) is replaced, by the lowest qualifying zone ID. Writing a different zone is a
migration (that zone's subnets are replaced), which the command says.

``--source moto-stand-in`` reads moto's bundled copy of the zones and offerings (offline;
a stand-in for AWS, as old as the installed moto); ``aws`` asks EC2 with boto3; ``auto``
(the default) is ``aws`` when boto3 finds credentials without asking the network (not an
instance role: say ``--source aws`` there), else the stand-in. The table names the source.

Exit codes: 0 done, 1 with ``--check`` when a pin is missing, unknown in the region or
lacks a type of some stage, 2 on a bad argument or when a profile or AWS cannot be read.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import (
    ENVIRONMENTS,
    STACKS_DIR,
    STAGES,
    ZONE_ID,
    ConfigError,
    StageSpec,
    load_stage_spec,
)
from infra.program import pins as pins_io

ENV_DIR = STACKS_DIR / "env"
SOURCES = ("auto", "aws", "moto-stand-in")
_PIN_LINE = re.compile(r"^zone_ids:[^\n]*$", re.M)


class ZoneError(ValueError):
    """A pinned zone cannot hold the stack, or AWS / a profile cannot be read; one line."""


# --- the rule, shared by the program and the command ------------------------------------


def stage_instance_types(spec: StageSpec) -> list[str]:
    """Every EC2 instance type the stage launches (its zones must offer all of them)."""
    tiers = [spec.single_box, spec.web, spec.search]
    return sorted({tier.instance_type for tier in tiers if tier is not None})


def zone_sort_key(zone_id: str) -> tuple[str, int]:
    """use1-az2 before use1-az10."""
    prefix, _, number = zone_id.rpartition("-az")
    return (prefix, int(number) if number.isdigit() else 0)


def offerings_by_zone(
    instance_types: Sequence[str], locations: Sequence[str]
) -> dict[str, set[str]]:
    """DescribeInstanceTypeOfferings' parallel lists, as zone ID -> instance types."""
    out: dict[str, set[str]] = {}
    for instance_type, location in zip(instance_types, locations, strict=True):
        out.setdefault(location, set()).add(instance_type)
    return out


def lacking(
    zone_ids: Iterable[str], offered: Mapping[str, Iterable[str]], instance_types: Iterable[str]
) -> dict[str, list[str]]:
    """zone ID -> the instance types it does not offer, for the zones that lack any."""
    wanted = set(instance_types)
    out = {}
    for zone in zone_ids:
        missing = sorted(wanted - set(offered.get(zone, ())))
        if missing:
            out[zone] = missing
    return out


def check_pinned(
    pinned: Sequence[str],
    region_zone_ids: Iterable[str],
    offered: Mapping[str, Iterable[str]],
    instance_types: Iterable[str],
    *,
    region: str,
    env: str,
) -> list[str]:
    """The pinned zones, unchanged, if each exists in the region and offers every type.

    Never substitutes a zone: a subnet that moved zone would be replaced.
    """
    known = set(region_zone_ids)
    for zone in pinned:
        if zone not in known:
            raise ZoneError(
                f"zone_ids: {zone} is not a zone of {region}; allowed: "
                f"{', '.join(sorted(known, key=zone_sort_key))} "
                f"(python -m infra zones --env {env})"
            )
    gaps = lacking(pinned, offered, instance_types)
    if gaps:
        zone, missing = next(iter(gaps.items()))
        others = f" (and {len(gaps) - 1} more pinned zone(s))" if len(gaps) > 1 else ""
        raise ZoneError(
            f"zone_ids: {zone} does not offer {', '.join(missing)}{others} in {region}; "
            f"allowed: a zone offering every instance type of the stage (python -m infra "
            f"zones --env {env}); changing a pinned zone replaces its subnets"
        )
    return list(pinned)


def stack_zones(
    instance_types: Sequence[str], pinned: Sequence[str], *, region: str, env: str
) -> list[str]:
    """The program's zones: the pinned ones, checked against AWS (or the mocks)."""
    import pulumi_aws as aws

    # No state filter: a pinned zone that is briefly "impaired" still exists and must
    # not fail the run; all_availability_zones=False leaves out Local/Wavelength Zones.
    region_zones = aws.get_availability_zones()
    offered: dict[str, set[str]] = {}
    if instance_types:
        found = aws.ec2.get_instance_type_offerings(
            location_type="availability-zone-id",
            filters=[{"name": "instance-type", "values": sorted(set(instance_types))}],
        )
        offered = offerings_by_zone(found.instance_types, found.locations)
    return check_pinned(
        pinned, region_zones.zone_ids, offered, instance_types, region=region, env=env
    )


def choose_pins(
    current: Sequence[str], qualifying: Sequence[str], count: int, *, env: str
) -> list[str]:
    """``count`` zones for the profile, moving as few pinned zones as possible.

    A pin that qualifies keeps its position (its subnets stay); a pin that does not is
    replaced in place by the lowest qualifying zone ID not pinned; missing positions are
    filled the same way; extra ones (az_count lowered) are dropped from the end.
    """
    fit = sorted(set(qualifying), key=zone_sort_key)
    if len(fit) < count:
        raise ZoneError(
            f"az_count: {count} zones needed but only {len(fit)} offer every instance type "
            f"of every {env} stage ({', '.join(fit) or 'none'}); allowed: az_count <= "
            f"{len(fit)} or other instance types"
        )
    kept = [zone if zone in fit else None for zone in list(current)[:count]]
    kept += [None] * (count - len(kept))
    spare = [zone for zone in fit if zone not in kept]
    return [zone if zone is not None else spare.pop(0) for zone in kept]


# --- reading AWS (or moto's copy of it) -------------------------------------------------


@dataclass(frozen=True)
class RegionZones:
    """What EC2 says about a region: its zones (id -> name, state) and their offerings."""

    names: dict[str, str]
    states: dict[str, str]
    offered: dict[str, set[str]]


Reader = Callable[[str, Sequence[str]], RegionZones]  # (region, instance types) -> zones


def aws_reader() -> Reader:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    def read(region: str, instance_types: Sequence[str]) -> RegionZones:
        try:
            ec2 = boto3.client("ec2", region_name=region)
            zones = ec2.describe_availability_zones(
                Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}]
            )["AvailabilityZones"]
            offered: dict[str, set[str]] = {}
            pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
                LocationType="availability-zone-id",
                Filters=[{"Name": "instance-type", "Values": sorted(set(instance_types))}],
            )
            for page in pages:
                for row in page["InstanceTypeOfferings"]:
                    offered.setdefault(row["Location"], set()).add(row["InstanceType"])
        except (BotoCoreError, ClientError) as exc:
            line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ZoneError(f"cannot read EC2 zones and offerings in {region}: {line}") from exc
        return RegionZones(
            names={z["ZoneId"]: z["ZoneName"] for z in zones},
            states={z["ZoneId"]: z["State"] for z in zones},
            offered=offered,
        )

    return read


resolve_source = pins_io.resolve_source


def reader_for(source: str) -> contextlib.AbstractContextManager[Reader]:
    """Against AWS, or moto's bundled copy of the zones and offerings (a stand-in)."""
    return pins_io.reading(source, aws_reader)


# --- the profiles -----------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    env: str
    path: Path
    region: str
    az_count: int
    pinned: list[str]


def read_profile(path: Path, env: str) -> Profile:
    """The profile's region, az_count and zone_ids (empty when none are pinned yet);
    read as plain YAML so a profile without pins can still get them."""
    doc = pins_io.read_profile(path, ZoneError)
    count = doc.get("az_count")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 4:
        raise ZoneError(f"{path}: az_count: invalid value {count!r}; allowed: 1..4")
    pins = doc.get("zone_ids") or []
    if not isinstance(pins, list) or not all(isinstance(z, str) for z in pins):
        raise ZoneError(f"{path}: zone_ids: expected a list of zone IDs, got {pins!r}")
    return Profile(env, path, doc["region"], count, list(pins))


def write_pins(path: Path, zone_ids: Sequence[str]) -> None:
    """Put ``zone_ids: [...]`` in the profile (after az_count when new), every other line
    kept as is."""
    for zone in zone_ids:
        if not ZONE_ID.match(zone):
            raise ZoneError(f"zone_ids: {zone!r} is not a zone ID; allowed: e.g. use1-az1")
    line = f"zone_ids: [{', '.join(zone_ids)}]"
    pins_io.write_line(path, _PIN_LINE, line, after="az_count:")


def environment_types(env: str, root: Path = STACKS_DIR) -> dict[str, list[str]]:
    """stage -> the instance types it launches, for every stage of ``env``."""
    try:
        return {stage: stage_instance_types(load_stage_spec(stage, env, root)) for stage in STAGES}
    except ConfigError as exc:
        raise ZoneError(str(exc)) from exc


@dataclass(frozen=True)
class Review:
    """One environment: its pins against what AWS offers for every stage."""

    profile: Profile
    zones: RegionZones
    types: list[str]  # of every stage
    qualifying: list[str]  # zone IDs offering all of them, lowest first
    proposed: list[str]

    @property
    def problems(self) -> list[str]:
        p = self.profile
        out = []
        if len(p.pinned) != p.az_count:
            out.append(f"{p.env}: {len(p.pinned)} zone(s) pinned, az_count {p.az_count}")
        for zone in p.pinned:
            if zone not in self.zones.names:
                out.append(f"{p.env}: {zone} is not a zone of {p.region}")
            elif zone not in self.qualifying:
                gaps = lacking([zone], self.zones.offered, self.types)[zone]
                out.append(f"{p.env}: {zone} does not offer {', '.join(gaps)}")
        return out


def review(env: str, read: Reader, env_dir: Path, root: Path) -> Review:
    profile = read_profile(env_dir / f"{env}.yaml", env)
    by_stage = environment_types(env, root)
    types = sorted({t for stage_types in by_stage.values() for t in stage_types})
    zones = read(profile.region, types)
    qualifying = sorted(
        (z for z in zones.names if not lacking([z], zones.offered, types)), key=zone_sort_key
    )
    proposed = choose_pins(profile.pinned, qualifying, profile.az_count, env=env)
    return Review(profile, zones, types, qualifying, proposed)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m infra zones", description=(__doc__ or "").split("\n\n")[0]
    )
    p.add_argument(
        "--env", action="append", choices=ENVIRONMENTS, help="an environment (default: all)"
    )
    p.add_argument("--write", action="store_true", help="pin the proposed zones in the profile")
    p.add_argument(
        "--check", action="store_true", help="exit 1 when a pinned zone lacks an instance type"
    )
    p.add_argument("--source", choices=SOURCES, default="auto", help="where to read the zones")
    return p


def _table(r: Review, source: str) -> Any:
    from rich.table import Table

    p = r.profile
    table = Table(
        title=f"{p.env} ({p.region}, az_count {p.az_count}, source {source}): zones for "
        f"{', '.join(r.types)}, the instance types of every stage"
    )
    for column in ("zone id", "name in this account", "state", "every type", "pinned", "proposed"):
        table.add_column(column)
    for zone in sorted(r.zones.names, key=zone_sort_key):
        gaps = lacking([zone], r.zones.offered, r.types).get(zone)
        table.add_row(
            zone,
            r.zones.names[zone],
            r.zones.states.get(zone, "?"),
            "yes" if not gaps else f"lacks {', '.join(gaps)}",
            f"subnet {p.pinned.index(zone)}" if zone in p.pinned else "",
            f"subnet {r.proposed.index(zone)}" if zone in r.proposed else "",
        )
    return table


def main(argv: list[str], env_dir: Path = ENV_DIR, root: Path = STACKS_DIR) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    envs = args.env or list(ENVIRONMENTS)
    try:
        source = resolve_source(args.source)
        with reader_for(source) as read:
            reviews = [review(env, read, env_dir, root) for env in envs]
    except ZoneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from rich.console import Console

    console = Console(width=max(Console().width, 120))
    for r in reviews:
        console.print(_table(r, source))
        pinned = r.profile.pinned
        if pinned == r.proposed:
            console.print(
                f"{r.profile.env}: pinned {pinned}: each offers every type",
                soft_wrap=True,
                markup=False,
            )
            continue
        moved = [
            i for i in range(len(r.proposed)) if i >= len(pinned) or pinned[i] != r.proposed[i]
        ]
        console.print(
            f"{r.profile.env}: pinned {pinned or '-'}, proposed {r.proposed}; "
            + (
                f"a live stack's subnets {', '.join(map(str, moved))} (every tier) and what "
                "is in them would be REPLACED: a migration (docs/infra.md, Zones)"
                if pinned
                else "new pins"
            ),
            soft_wrap=True,
            markup=False,
        )
    if args.write:
        for r in reviews:
            if r.profile.pinned != r.proposed:
                write_pins(r.profile.path, r.proposed)
                console.print(
                    f"wrote {r.profile.path}: zone_ids {r.proposed}", soft_wrap=True, markup=False
                )
        return 0
    problems = [line for r in reviews for line in r.problems]
    if args.check and problems:
        print(f"error: {'; '.join(problems)}; run with --write (a migration)", file=sys.stderr)
        return 1
    return 0
