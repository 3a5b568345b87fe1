"""PostgreSQL for the lab: a primary made with initdb, streaming replicas made with
pg_basebackup, pg_stat_statements on every instance. As root, everything runs as the
`postgres` user (PostgreSQL refuses root) in data directories it owns."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from devservers import postgres as launcher
from devservers.process import ServerError
from lab.procs import LOOPBACK, Enter, LabError, pin, run, spawn, wait_until
from lab.state import ProcessRecord, Registry

DB_NAME = "movies"

# Appended to every primary's postgresql.conf; pg_basebackup copies it to the replicas.
CONF = """
# --- lab settings ---
listen_addresses = '127.0.0.1'
max_connections = 300
shared_buffers = 256MB
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.max = 5000
# BEGIN/COMMIT/SET are not the queries the bench counts.
pg_stat_statements.track_utility = off
wal_level = replica
max_wal_senders = 10
hot_standby = on
logging_collector = off
"""

# RDS's durability (its parameter groups keep PostgreSQL's safe defaults): a commit is
# acknowledged only once its WAL is flushed. synchronous_commit is what a process crash
# tests (with `off`, a SIGKILL of the primary lost 2-5 acknowledged writes per run, issue
# 15 item 2); fsync and full_page_writes are what an OS crash or power loss would test,
# which the lab cannot do. The launcher appends it last, so it wins over anything earlier
# in the file (also in seeded templates made before it existed).
DURABILITY = launcher.DURABLE


@contextlib.contextmanager
def _lab_errors() -> Iterator[None]:
    """The launcher's errors as the lab's (one line, what `lab` prints)."""
    try:
        yield
    except ServerError as exc:
        raise LabError(str(exc)) from None


def pg_bin() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin by number, or LAB_PG_BIN."""
    with _lab_errors():
        return launcher.pg_bin()


def initdb(datadir: Path) -> None:
    with _lab_errors():
        launcher.initdb(datadir, durable=True, conf=CONF)


def start(
    registry: Registry,
    name: str,
    datadir: Path,
    port: int,
    log: Path,
    cpus: str | None = None,
    enter: Enter | None = None,
) -> ProcessRecord:
    with _lab_errors():
        launch = launcher.launch(datadir, port, prefix=pin(cpus))
    record = spawn(
        registry,
        name,
        launch.argv,
        log=log,
        user=launch.user,
        port=port,
        stop_signal=launch.stop_signal,
        enter=enter,
    )
    wait_until(launch.ready, f"{name} to accept connections on port {port}", 60, record)
    return record


def psql(port: int, sql: str, db: str = DB_NAME, timeout: float = 60) -> str:
    """Run SQL through psql; returns unaligned, tuples-only output."""
    return run(
        [
            str(pg_bin() / "psql"),
            "-h",
            LOOPBACK,
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-AtqX",
            "-c",
            sql,
        ],
        timeout=timeout,
    )


def create_database(port: int) -> None:
    psql(port, f"CREATE DATABASE {DB_NAME}", db="postgres")
    psql(port, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def basebackup(primary_port: int, datadir: Path) -> None:
    """A streaming replica's data directory (standby.signal and primary_conninfo written)."""
    with _lab_errors():
        launcher.basebackup(primary_port, datadir, durable=True)


def in_recovery(port: int) -> bool:
    return psql(port, "SELECT pg_is_in_recovery()").strip() == "t"


def copy_datadir(source: Path, dest: Path) -> None:
    """Copy a stopped cluster (the seeded template) into place, keeping ownership."""
    if dest.exists():
        shutil.rmtree(dest)
    run(["cp", "-a", str(source), str(dest)], timeout=300)
    for stale in ("postmaster.pid", "postmaster.opts"):
        (dest / stale).unlink(missing_ok=True)
    launcher.append_conf(dest, launcher.durability_conf(durable=True))


def settings(port: int, names: tuple[str, ...] = tuple(DURABILITY)) -> dict[str, str]:
    """The running values of `names` (from pg_settings)."""
    quoted = ", ".join(f"'{n}'" for n in names)
    out = psql(port, f"SELECT name, setting FROM pg_settings WHERE name IN ({quoted})")
    return dict(line.split("|", 1) for line in out.splitlines() if line)


# asyncpg runs this on every connection it returns to its pool: a round trip, not a read.
POOL_RESET = "SELECT pg_advisory_unlock_all()"


def statement_calls(port: int) -> tuple[int, int, int]:
    """(reads, writes, pool resets) executed in the movies database so far, from
    pg_stat_statements. Writes are statements that insert, update or delete anywhere in
    them; reads are the rest but asyncpg's pool reset; the lab's own reads of
    pg_stat_statements are left out."""
    # A statement that changes data anywhere in it (a CTE can open with WITH) is a write.
    is_write = "s.query ~* '\\m(insert|update|delete|merge|copy|truncate)\\M'"
    is_reset = f"s.query = '{POOL_RESET}'"
    out = psql(
        port,
        f"SELECT coalesce(sum(s.calls) FILTER (WHERE NOT {is_write} AND NOT {is_reset}), 0),"
        f" coalesce(sum(s.calls) FILTER (WHERE {is_write}), 0),"
        f" coalesce(sum(s.calls) FILTER (WHERE {is_reset}), 0)"
        " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
        f" WHERE d.datname = '{DB_NAME}' AND s.query NOT ILIKE '%pg_stat_statements%'",
    )
    reads, writes, resets = out.strip().split("|")
    return int(reads), int(writes), int(resets)


def statement_counts(port: int) -> dict[str, int]:
    """Calls per normalised statement (first 120 characters) in the movies database."""
    out = psql(
        port,
        "SELECT s.calls, regexp_replace(left(s.query, 120), '\\s+', ' ', 'g')"
        " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
        f" WHERE d.datname = '{DB_NAME}' AND s.query NOT ILIKE '%pg_stat_statements%'",
    )
    counts: dict[str, int] = {}
    for line in out.splitlines():
        calls, _, query = line.partition("|")
        counts[query] = counts.get(query, 0) + int(calls)
    return counts


def url(port: int) -> str:
    return f"postgresql://postgres@{LOOPBACK}:{port}/{DB_NAME}"
