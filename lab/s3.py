"""S3 through moto's server, standing in for the media bucket."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from lab.procs import LOOPBACK, Enter, LabError, port_open, spawn, wait_until
from lab.state import ProcessRecord, Registry

# moto accepts any credentials; these only keep boto3 from looking for real ones.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "lab",
    "AWS_SECRET_ACCESS_KEY": "lab",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def start(
    registry: Registry, name: str, port: int, workdir: Path, enter: Enter | None = None
) -> ProcessRecord:
    if importlib.util.find_spec("moto") is None:
        raise LabError("moto is not installed; pip install 'moto[server]' (requirements.txt)")
    record = spawn(
        registry,
        name,
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        log=workdir / "moto.log",
        port=port,
        enter=enter,
    )
    wait_until(lambda: port_open(port), f"{name} on port {port}", 30, record)
    return record


def endpoint(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"
