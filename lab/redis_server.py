"""Redis for the cached stages: no persistence (a cache, like ElastiCache without backups),
LRU eviction, loopback only."""

from __future__ import annotations

import shutil
from pathlib import Path

from lab.procs import LOOPBACK, LabError, port_open, spawn, wait_until
from lab.state import ProcessRecord, Registry


def start(registry: Registry, name: str, port: int, workdir: Path) -> ProcessRecord:
    binary = shutil.which("redis-server")
    if binary is None:
        raise LabError("redis-server not found on PATH; install the redis-server package")
    workdir.mkdir(parents=True, exist_ok=True)
    record = spawn(
        registry,
        name,
        [
            binary,
            "--bind",
            LOOPBACK,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(workdir),
            "--maxmemory",
            "512mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ],
        log=workdir / "redis.log",
        port=port,
    )
    wait_until(lambda: port_open(port), f"{name} on port {port}", 20, record)
    return record


def url(port: int) -> str:
    return f"redis://{LOOPBACK}:{port}/0"
