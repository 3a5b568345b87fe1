"""The Redis launcher: redis-server on 127.0.0.1, no persistence by default (a cache, like
ElastiCache without backups). Durability: `durable=True` adds an append-only file fsynced
every second (Redis's own durable setting); the lab and the tests run it without."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from devservers.process import LOOPBACK, Launch, ServerError, port_open

RDB = "dump.rdb"


def binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise ServerError("redis-server not found on PATH; install the redis-server package")
    return found


def launch(
    port: int,
    workdir: Path,
    *,
    durable: bool = False,
    options: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> Launch:
    """redis-server on `port` with its files in `workdir` (an RDB there is loaded at start);
    `options` as extra `--name value` pairs (maxmemory, requirepass ...)."""
    workdir.mkdir(parents=True, exist_ok=True)
    persistence = (
        ["--appendonly", "yes", "--appendfsync", "everysec"] if durable else ["--appendonly", "no"]
    )
    extra = [arg for k, v in (options or {}).items() for arg in (f"--{k}", v)]
    return Launch(
        what=f"redis on port {port}",
        argv=[
            *prefix,
            binary(),
            "--bind",
            LOOPBACK,
            "--port",
            str(port),
            "--save",
            "",
            *persistence,
            "--daemonize",
            "no",
            "--dir",
            str(workdir),
            "--dbfilename",
            RDB,
            "--protected-mode",
            "yes",
            *extra,
        ],
        ready=lambda: port_open(port),
    )


def url(port: int, db: int = 0) -> str:
    return f"redis://{LOOPBACK}:{port}/{db}"
