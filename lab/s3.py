"""S3 through moto's server, standing in for the media bucket."""

from __future__ import annotations

from pathlib import Path

from devservers import s3 as launcher
from devservers.process import ServerError
from lab.procs import Enter, LabError, spawn, wait_until
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
    try:
        launch = launcher.launch(port)
    except ServerError as exc:
        raise LabError(str(exc)) from None
    record = spawn(registry, name, launch.argv, log=workdir / "moto.log", port=port, enter=enter)
    wait_until(launch.ready, f"{name} on port {port}", 30, record)
    return record


def endpoint(port: int) -> str:
    return launcher.endpoint(port)
