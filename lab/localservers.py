"""Throwaway PostgreSQL and Redis servers on 127.0.0.1 for the service's tests, the dev
server (`python -m lab.devserver`) and app_image/bench_seed.py. Dev-only: not in the
service's wheel.

PostgreSQL refuses to run as root, so when we are root it runs as the `postgres` user
with a data directory that user owns. Where the binaries are and which user runs them is
the lab's (`lab.postgres.pg_bin`, `pg_user`); these servers differ from the lab's on
purpose: fsync off and password auth for fast, isolated tests, no process registry.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.postgres import pg_bin as lab_pg_bin
from lab.postgres import pg_user
from lab.procs import LabError, free_port

DB_NAME = "movies"
DB_PASSWORD = "local-dev-only"


def pg_bin(name: str) -> str:
    """A PostgreSQL binary from the lab's PostgreSQL (the newest installed, or LAB_PG_BIN)."""
    try:
        return str(lab_pg_bin() / name)
    except LabError:
        path = shutil.which(name)
        if path is None:
            raise FileNotFoundError(
                f"PostgreSQL binary {name!r} not found; install postgresql"
            ) from None
        return path


def _as_pg() -> dict[str, object]:
    """Popen arguments that run a PostgreSQL binary as `postgres` when we are root.

    Popen(user=...) execs the server itself (unlike runuser, which stays as a parent that
    does not pass signals on), so stop() signals the postmaster directly.
    """
    user = pg_user()
    if user is None:
        return {}
    return {"user": user, "group": user, "extra_groups": [], "cwd": "/tmp"}


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} during start")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def _chown_pg(path: Path) -> None:
    user = pg_user()
    if user is not None:
        shutil.chown(path, user, user)


@dataclass
class Postgres:
    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, db: str = DB_NAME) -> str:
        return f"postgresql://movies:{DB_PASSWORD}@127.0.0.1:{self.port}/{db}"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _chown_pg(self.root)
        pwfile = self.root / "pw"
        pwfile.write_text(DB_PASSWORD + "\n")
        _chown_pg(pwfile)
        subprocess.run(
            [pg_bin("initdb"), "-D", str(self.datadir), "-U", "movies", "--pwfile",
             str(pwfile), "-A", "scram-sha-256", "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, **_as_pg(),
        )  # fmt: skip
        with (self.datadir / "pg_hba.conf").open("a") as hba:
            hba.write("host replication movies 127.0.0.1/32 scram-sha-256\n")
        self.start()
        subprocess.run(
            [pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "movies", DB_NAME],
            check=True, capture_output=True, env={**os.environ, "PGPASSWORD": DB_PASSWORD},
        )  # fmt: skip

    def start(self) -> None:
        # fsync off: these are throwaway servers; durability would only slow the tests.
        cmd = [pg_bin("postgres"), "-D", str(self.datadir), "-p", str(self.port),
               "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
               "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
               "-c", "max_connections=200", "-c", "wal_level=replica",
               "-c", "max_wal_senders=5", "-c", "hot_standby=on"]  # fmt: skip
        log = (self.root / "postgres.log").open("ab")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=log, start_new_session=True, **_as_pg()
        )
        _wait_port(self.port, self.proc, f"postgres on port {self.port}")
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = subprocess.run(
                [pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"postgres on port {self.port} not ready within {timeout}s")

    def replica(self, root: Path) -> Postgres:
        """A streaming hot standby of this server, made with pg_basebackup."""
        replica = Postgres(root)
        root.mkdir(parents=True, exist_ok=True)
        _chown_pg(root)
        subprocess.run(
            [pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "movies",
             "-D", str(replica.datadir), "-R", "-X", "stream", "--no-sync", "-c", "fast"],
            check=True, capture_output=True, env={**os.environ, "PGPASSWORD": DB_PASSWORD},
            **_as_pg(),
        )  # fmt: skip
        replica.start()
        return replica

    def stop(self, fast: bool = True) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # SIGINT is postgres' "fast shutdown"; SIGKILL simulates a crashed server.
        self.proc.send_signal(signal.SIGINT if fast else signal.SIGKILL)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Redis:
    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        cmd = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.root),
            "--protected-mode",
            "yes",
        ]
        log = (self.root / "redis.log").open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        _wait_port(self.port, self.proc, f"redis on port {self.port}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def temp_root(prefix: str = "movies-") -> Path:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # the postgres user must reach its data dir below it
    return root
