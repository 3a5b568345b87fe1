"""Throwaway PostgreSQL, Redis and S3 stand-in servers on 127.0.0.1 for the service's tests,
the dev server (`python -m lab.devserver`), `python -m lab.bench_seed` and lab/asgi_cost.py.
Dev-only: not in the service's wheel.

Each is started by its one launcher in devservers/ (the lab's servers use the same ones,
with its process registry and cgroups); these are plain child processes in a temp dir,
without durability by default (fsync and synchronous_commit off: fast, throwaway) and with
password auth for PostgreSQL.
"""

from __future__ import annotations

import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from devservers import postgres as pg
from devservers import process
from devservers import redis as redis_launcher
from devservers import s3 as s3_launcher
from devservers.process import free_port

__all__ = ["DB_NAME", "DB_PASSWORD", "S3", "Postgres", "Redis", "free_port", "pg_bin", "temp_root"]

DB_NAME = "movies"
DB_PASSWORD = "local-dev-only"
# The settings these servers run with on the command line (durability is in their
# postgresql.conf, set by `durable`).
PG_OPTIONS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "hot_standby": "on",
}


def pg_bin(name: str) -> str:
    """A PostgreSQL binary (the newest installed by version number, or LAB_PG_BIN)."""
    return pg.binary(name)


@dataclass
class Postgres:
    root: Path
    port: int = field(default_factory=free_port)
    durable: bool = False
    proc: Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, db: str = DB_NAME) -> str:
        return f"postgresql://movies:{DB_PASSWORD}@127.0.0.1:{self.port}/{db}"

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        pg.make_dir(self.root, 0o755)

    def init(self) -> None:
        self._prepare_root()
        pg.initdb(
            self.datadir, durable=self.durable, superuser="movies", password=DB_PASSWORD,
            locale=None,
        )  # fmt: skip
        with (self.datadir / "pg_hba.conf").open("a") as hba:
            hba.write("host replication movies 127.0.0.1/32 scram-sha-256\n")
        self.start()
        pg.run(
            [pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "movies",
             DB_NAME],
            password=DB_PASSWORD,
        )  # fmt: skip

    def start(self) -> None:
        launch = pg.launch(self.datadir, self.port, options=PG_OPTIONS)
        self.proc = process.start(launch, self.root / "postgres.log", timeout=30)

    def replica(self, root: Path) -> Postgres:
        """A streaming hot standby of this server, made with pg_basebackup."""
        replica = Postgres(root, durable=self.durable)
        replica._prepare_root()
        pg.basebackup(
            self.port, replica.datadir, durable=self.durable, user="movies", password=DB_PASSWORD
        )
        replica.start()
        return replica

    def stop(self, fast: bool = True) -> None:
        """SIGINT is PostgreSQL's fast shutdown; fast=False SIGKILLs every process of the
        server (a crashed host). Killing the postmaster alone leaves its backends running
        until they notice, so a pooled connection could still answer a query after the
        "crash" (tests/app/test_scaling.py's dead replica did, once in a loaded run)."""
        if fast:
            process.stop(self.proc, signal.SIGINT)
        else:
            process.kill_session(self.proc)


@dataclass
class Redis:
    root: Path
    port: int = field(default_factory=free_port)
    proc: Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return redis_launcher.url(self.port)

    def start(self) -> None:
        launch = redis_launcher.launch(self.port, self.root)
        self.proc = process.start(launch, self.root / "redis.log", timeout=30)

    def stop(self) -> None:
        process.stop(self.proc)


@dataclass
class S3:
    """The S3 stand-in (moto's server) in its own process."""

    root: Path
    port: int = field(default_factory=free_port)
    proc: Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return s3_launcher.endpoint(self.port)

    def start(self) -> None:
        self.proc = process.start(s3_launcher.launch(self.port), self.root / "moto.log")

    def stop(self) -> None:
        process.stop(self.proc)


def temp_root(prefix: str = "movies-") -> Path:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # the postgres user must reach its data dir below it
    return root
