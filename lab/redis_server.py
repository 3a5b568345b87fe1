"""Redis for the cached stages: no persistence (a cache, like ElastiCache without backups),
LRU eviction, loopback only."""

from __future__ import annotations

import shutil
from pathlib import Path

from devservers import redis as launcher
from devservers.process import ServerError
from lab.procs import LOOPBACK, Enter, LabError, spawn, wait_until
from lab.state import ProcessRecord, Registry

RDB = launcher.RDB


def start(
    registry: Registry,
    name: str,
    port: int,
    workdir: Path,
    preload: Path | None = None,
    enter: Enter | None = None,
) -> ProcessRecord:
    """Start Redis empty, or with the contents of `preload` (an RDB snapshot; its keys keep
    their absolute expiry times)."""
    try:
        launch = launcher.launch(
            port,
            workdir,
            options={"maxmemory": "512mb", "maxmemory-policy": "allkeys-lru"},
        )
    except ServerError as exc:
        raise LabError(str(exc)) from None
    (workdir / RDB).unlink(missing_ok=True)
    if preload is not None:
        shutil.copyfile(preload, workdir / RDB)
    record = spawn(registry, name, launch.argv, log=workdir / "redis.log", port=port, enter=enter)
    wait_until(launch.ready, f"{name} on port {port}", 20, record)
    return record


def dbsize(port: int) -> int:
    import redis

    return int(redis.Redis(host=LOOPBACK, port=port, socket_timeout=10).dbsize())


def snapshot(port: int, workdir: Path, dest: Path) -> int:
    """SAVE the dataset and copy the RDB to `dest`; returns the number of keys saved."""
    import redis

    client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=30)
    keys = int(client.dbsize())
    client.save()
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(workdir / RDB, dest)
    return keys


def url(port: int) -> str:
    return launcher.url(port)
