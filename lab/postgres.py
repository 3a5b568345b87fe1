"""PostgreSQL for the lab: a primary made with initdb, streaming replicas made with
pg_basebackup, pg_stat_statements on every instance. As root, everything runs as the
`postgres` user (PostgreSQL refuses root) in data directories it owns."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

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
# which the lab cannot do. Appended last, so it wins over anything earlier in the file
# (also in seeded templates made before it existed).
DURABILITY = {"synchronous_commit": "on", "fsync": "on", "full_page_writes": "on"}
_DURABILITY_CONF = "\n# --- RDS durability ---\n" + "".join(
    f"{name} = {value}\n" for name, value in DURABILITY.items()
)


def pg_bin() -> Path:
    """The newest /usr/lib/postgresql/*/bin, or LAB_PG_BIN."""
    if os.environ.get("LAB_PG_BIN"):
        return Path(os.environ["LAB_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not found:
        raise LabError("PostgreSQL not found in /usr/lib/postgresql/*/bin; set LAB_PG_BIN")
    return found[-1]


def pg_user() -> str | None:
    """Run PostgreSQL as `postgres` when we are root; as ourselves otherwise."""
    return "postgres" if os.geteuid() == 0 else None


def _own(path: Path) -> None:
    user = pg_user()
    if user is not None:
        shutil.chown(path, user, user)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                shutil.chown(os.path.join(root, name), user, user)


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    _own(path)


def initdb(datadir: Path) -> None:
    if datadir.exists():
        shutil.rmtree(datadir)
    _make_dir(datadir)
    run(
        [
            str(pg_bin() / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        user=pg_user(),
    )
    with (datadir / "postgresql.conf").open("a") as conf:
        conf.write(CONF + _DURABILITY_CONF)


def start(
    registry: Registry,
    name: str,
    datadir: Path,
    port: int,
    log: Path,
    cpus: str | None = None,
    enter: Enter | None = None,
) -> ProcessRecord:
    socket_dir = datadir.parent / f"{datadir.name}-sock"
    _make_dir(socket_dir)
    record = spawn(
        registry,
        name,
        [
            *pin(cpus),
            str(pg_bin() / "postgres"),
            "-D",
            str(datadir),
            "-p",
            str(port),
            "-k",
            str(socket_dir),
        ],
        log=log,
        user=pg_user(),
        port=port,
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave.
        stop_signal=signal.SIGINT,
        enter=enter,
    )
    wait_until(lambda: ready(port), f"{name} to accept connections on port {port}", 60, record)
    return record


def ready(port: int) -> bool:
    try:
        run([str(pg_bin() / "pg_isready"), "-h", LOOPBACK, "-p", str(port), "-q"], timeout=5)
    except LabError:
        return False
    return True


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
    """A streaming replica's data directory: -R writes standby.signal and primary_conninfo."""
    if datadir.exists():
        shutil.rmtree(datadir)
    _make_dir(datadir)
    run(
        [
            str(pg_bin() / "pg_basebackup"),
            "-h",
            LOOPBACK,
            "-p",
            str(primary_port),
            "-U",
            "postgres",
            "-D",
            str(datadir),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        ],
        user=pg_user(),
        timeout=300,
    )


def in_recovery(port: int) -> bool:
    return psql(port, "SELECT pg_is_in_recovery()").strip() == "t"


def copy_datadir(source: Path, dest: Path) -> None:
    """Copy a stopped cluster (the seeded template) into place, keeping ownership."""
    if dest.exists():
        shutil.rmtree(dest)
    run(["cp", "-a", str(source), str(dest)], timeout=300)
    for stale in ("postmaster.pid", "postmaster.opts"):
        (dest / stale).unlink(missing_ok=True)
    with (dest / "postgresql.conf").open("a") as conf:
        conf.write(_DURABILITY_CONF)


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
