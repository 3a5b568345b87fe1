"""`python -m infra ami`: the pinned Amazon Linux 2023 AMIs, and a bump on purpose.

The launch templates and the single box use the AMI ids pinned in each environment
profile (``ami_ids`` in ``stacks/env/<env>.yaml``), never the "latest" SSM parameter at
plan time: a parameter read at every run changes the launch template the first time AWS
publishes an AMI, and the provider then refreshes the whole fleet with no change of ours.
This command reads AWS's public parameters
(``/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-<arch>``, "Query for the
latest Amazon Linux AMI IDs using Systems Manager Parameter Store" in the EC2 user guide),
shows pinned vs current, and with ``--write`` pins the current ids. The next
``python -m infra diff`` then shows the bump as a rolling refresh of each fleet.

``--source moto-stand-in`` reads moto's bundled copy of those public parameters instead
of AWS (offline; the copy is as old as the installed moto).

Exit codes: 0 done (also when a bump is available), 1 with ``--check`` when a pin is not
the current id, 2 on a bad argument or when AWS cannot be read.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import STACKS_DIR
from infra.program import pins as pins_io

ENV_DIR = STACKS_DIR / "env"
ARCHITECTURES = ("arm64", "x86_64")
PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"
AMI_ID = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
_PIN_LINE = re.compile(r"^ami_ids:[^\n]*$", re.M)
SOURCES = ("aws", "moto-stand-in")


class AmiError(ValueError):
    """The profile or AWS cannot be read; the message is one line."""


@dataclass(frozen=True)
class Pin:
    env: str
    region: str
    arch: str
    pinned: str | None
    current: str

    @property
    def state(self) -> str:
        if self.pinned is None:
            return "not pinned"
        return "pinned, current" if self.pinned == self.current else "bump available"


def parameter_name(arch: str) -> str:
    if arch not in ARCHITECTURES:
        raise AmiError(f"architecture {arch!r} unknown; allowed: {', '.join(ARCHITECTURES)}")
    return PARAMETER.format(arch=arch)


def read_profile(path: Path) -> tuple[str, dict[str, str]]:
    """The profile's region and its ``ami_ids`` (empty when none are pinned yet)."""
    doc = pins_io.read_profile(path, AmiError)
    pins = doc.get("ami_ids") or {}
    if not isinstance(pins, dict):
        raise AmiError(f"{path}: ami_ids must be a mapping of architecture to AMI id")
    return doc["region"], {str(k): str(v) for k, v in pins.items()}


def write_pins(path: Path, pins: dict[str, str]) -> None:
    """Put ``ami_ids: {arch: id, ...}`` in the profile, keeping every other line as is."""
    for arch, ami in pins.items():
        parameter_name(arch)
        if not AMI_ID.match(ami):
            raise AmiError(f"ami_ids.{arch}: {ami!r} is not an AMI id (ami- and 8 or 17 hex)")
    body = ", ".join(f"{arch}: {pins[arch]}" for arch in sorted(pins))
    line = f"ami_ids: {{{body}}}   # AL2023; bump: python -m infra ami --write"
    pins_io.write_line(path, _PIN_LINE, line)


Reader = Callable[[str, str], str]  # (region, parameter name) -> value


def aws_reader() -> Reader:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    clients: dict[str, Any] = {}

    def read(region: str, name: str) -> str:
        try:
            client = clients.setdefault(region, boto3.client("ssm", region_name=region))
            return str(client.get_parameter(Name=name)["Parameter"]["Value"])
        except (BotoCoreError, ClientError) as exc:
            raise AmiError(f"cannot read SSM parameter {name} in {region}: {exc}") from exc

    return read


def reader_for(source: str) -> contextlib.AbstractContextManager[Reader]:
    return pins_io.reading(source, aws_reader)


def current_pins(envs: list[str], read: Reader, env_dir: Path = ENV_DIR) -> list[Pin]:
    out = []
    for env in envs:
        region, pinned = read_profile(env_dir / f"{env}.yaml")
        for arch in ARCHITECTURES:
            current = read(region, parameter_name(arch))
            if not AMI_ID.match(current):
                raise AmiError(f"{parameter_name(arch)} in {region} answered {current!r}")
            out.append(Pin(env, region, arch, pinned.get(arch), current))
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra ami", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--env", action="append", choices=("dev", "prod"), help="an environment (default: all)"
    )
    p.add_argument("--write", action="store_true", help="pin the current ids in the profile(s)")
    p.add_argument("--check", action="store_true", help="exit 1 when a pin is not current")
    p.add_argument("--source", choices=SOURCES, default="aws", help="where to read the ids")
    return p


def main(argv: list[str], env_dir: Path = ENV_DIR) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    envs = args.env or ["dev", "prod"]
    try:
        with reader_for(args.source) as read:
            pins = current_pins(envs, read, env_dir)
    except AmiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 120))
    table = Table(title=f"Amazon Linux 2023 AMIs ({args.source})")
    for column in ("env", "region", "arch", "pinned", "current", "state"):
        table.add_column(column)
    for pin in pins:
        table.add_row(pin.env, pin.region, pin.arch, pin.pinned or "-", pin.current, pin.state)
    console.print(table)
    if args.write:
        for env in envs:
            changed = {p.arch: p.current for p in pins if p.env == env}
            before = {p.arch: p.pinned for p in pins if p.env == env}
            if changed == before:
                console.print(f"{env}: already pinned to the current ids")
                continue
            write_pins(env_dir / f"{env}.yaml", changed)
            moves = ", ".join(
                f"{a} {before[a] or '-'} → {changed[a]}" for a in changed if before[a] != changed[a]
            )
            console.print(
                f"wrote {env_dir / f'{env}.yaml'}: {moves}; the next `pulumi up` refreshes every "
                f"fleet of {env} (python -m infra diff shows it)"
            )
        return 0
    if args.check and any(p.state != "pinned, current" for p in pins):
        print("error: a pinned AMI is not the current one; run with --write", file=sys.stderr)
        return 1
    return 0
