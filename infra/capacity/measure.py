"""Measure PostgreSQL and Redis throughput per vCPU on this machine (127.0.0.1 only).

`python -m infra.capacity.measure [--rows N] [--seconds S] [--repeat R]` starts a
throwaway PostgreSQL and redis-server on free loopback ports, runs pgbench with four custom
scripts (primary-key read of a ~2 kB movie document; a full-text search page of 20 over two
selectivities, in the service's query shape; a single-row update) and redis-benchmark
GET/SET with 2.4 kB values, each R times, and writes the median of each (and every run) to
``assumptions/measured.json``. The capacity model reads that file; it never invents these numbers.

The load generators run on the same vCPUs as the servers, so the per-vCPU figures are
pessimistic (a real client runs elsewhere): the model errs on the safe side. On a shared
machine single runs vary by tens of percent, hence the repeats and the median.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devservers import postgres as pg_launcher
from devservers import process
from devservers import redis as redis_launcher
from devservers.process import ServerError, free_port
from infra import ASSUMPTIONS_DIR

OUT = ASSUMPTIONS_DIR / "measured.json"
VOCABULARY = 5000  # title words: each matches ~rows * 3 / VOCABULARY movies
WIDE = 100  # tokens in the wide vocabulary: each matches rows / WIDE movies

SCHEMA = """
CREATE TABLE movies (
  id bigint PRIMARY KEY,
  title text NOT NULL,
  year int NOT NULL,
  popularity real NOT NULL,
  doc jsonb NOT NULL,
  tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', title)) STORED
);
-- titles: three words of the vocabulary plus one wide token, to measure search cost
-- against the number of matched rows; doc pads to ~2 kB like a movie document
INSERT INTO movies (id, title, year, popularity, doc)
SELECT g,
       'w' || (g * 7919 % {vocabulary}) || ' w' || (g * 104729 % {vocabulary})
         || ' w' || (g * 1299709 % {vocabulary}) || ' c' || (g % {wide}),
       1900 + g % 125,
       (g * 2654435761 % 1000000) / 1000.0,
       jsonb_build_object('id', g, 'overview', repeat(md5(g::text), 56))
FROM generate_series(1::bigint, {rows}) AS g;
CREATE INDEX movies_tsv ON movies USING gin (tsv);
CREATE INDEX movies_year ON movies (year);
"""

# The service's search shape (app_image/movies_api/repository.py `search`): the page's rows
# with their documents, websearch_to_tsquery, ORDER BY id, one row past the page size (20) to
# know whether a next page exists. Ordering every match by popularity instead (an earlier
# script) made PostgreSQL fetch and sort all matches: 3x to 10x the service's cost.
SEARCH = (
    "SELECT id, title, year, doc FROM movies"
    " WHERE tsv @@ websearch_to_tsquery('simple', '{prefix}' || :t)"
    " ORDER BY id LIMIT 21 OFFSET 0;\n"
)
SCRIPTS = {
    "point_read": "\\set id random(1, {rows})\nSELECT doc FROM movies WHERE id = :id;\n",
    "search": "\\set t random(0, {vocabulary_max})\n" + SEARCH.format(prefix="w"),
    "search_wide": "\\set t random(0, {wide_max})\n" + SEARCH.format(prefix="c"),
    "write": "\\set id random(1, {rows})\n"
    "UPDATE movies SET popularity = popularity + 1 WHERE id = :id;\n",
}


def pg_bin(name: str) -> str:
    """A PostgreSQL binary of the newest installed version, by number (devservers)."""
    try:
        return pg_launcher.binary(name)
    except ServerError as exc:
        raise SystemExit(f"error: {exc}") from None


def _as_postgres(cmd: list[str]) -> list[str]:
    # The client tools run as the server's user (trust auth for `postgres`).
    user = pg_launcher.pg_user()
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, text=True, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: {Path(cmd[0]).name} failed: {done.stderr.strip()[-400:]}")
    return done.stdout


def _own(path: Path) -> None:
    pg_launcher.own(path)


def _stat(pid: int) -> list[str]:
    # Fields after the command name, which may contain spaces: index 1 is the parent pid,
    # 11..14 are utime, stime, cutime, cstime in clock ticks (proc(5)).
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def server_cpu_seconds(pid: int) -> float:
    """CPU time of a server and all its processes: the process itself, the children it has
    reaped (PostgreSQL backends of finished connections) and the children still running."""
    tick = os.sysconf("SC_CLK_TCK")
    own = sum(int(v) for v in _stat(pid)[11:15])
    live = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except (OSError, ValueError):
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            live += int(fields[11]) + int(fields[12])
    return (own + live) / tick


@dataclass(frozen=True)
class Rate:
    per_second: float  # wall-clock rate, what the client saw
    per_cpu_second: float  # operations per CPU-second the server itself burnt


def _timed(pid: int, work: Callable[[], tuple[float, int]]) -> Rate:
    """Run `work` (returning its rate and operation count) and charge it the server's CPU."""
    before = server_cpu_seconds(pid)
    rate, operations = work()
    time.sleep(0.3)  # let finished backends exit and be reaped into cutime
    used = server_cpu_seconds(pid) - before
    return Rate(rate, operations / used if used > 0 else 0.0)


@dataclass(frozen=True)
class Postgres:
    conn: list[str]
    pid: int


@contextmanager
def postgres(rows: int) -> Iterator[Postgres]:
    """A loaded throwaway server (RDS's durability: the figures are RDS's stand-in's):
    its connection arguments and the postmaster's pid."""
    tmp = Path(tempfile.mkdtemp(prefix="capacity-pg-"))
    pg_launcher.make_dir(tmp, 0o755)
    data, port = tmp / "data", free_port()
    server = None
    try:
        pg_launcher.initdb(data, durable=True, locale=None)
        launch = pg_launcher.launch(
            data, port, options={"listen_addresses": "127.0.0.1", "shared_buffers": "512MB"}
        )
        server = process.start(launch, tmp / "log")
        conn = ["-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        schema = SCHEMA.format(rows=rows, vocabulary=VOCABULARY, wide=WIDE)
        run(_as_postgres([pg_bin("psql"), *conn, "-q", "-v", "ON_ERROR_STOP=1", "-c", schema]))
        run(_as_postgres([pg_bin("psql"), *conn, "-q", "-c", "VACUUM ANALYZE movies"]))
        yield Postgres(conn, server.pid)
    except ServerError as exc:
        raise SystemExit(f"error: {exc}") from None
    finally:
        process.stop(server, signal.SIGINT)
        shutil.rmtree(tmp, ignore_errors=True)


def pgbench(
    pg: Postgres, name: str, rows: int, seconds: int, transactions: int | None = None
) -> Rate:
    return _timed(pg.pid, lambda: _pgbench(pg.conn, name, rows, seconds, transactions))


def _pgbench(
    conn: list[str], name: str, rows: int, seconds: int, transactions: int | None = None
) -> tuple[float, int]:
    """One pgbench run of `seconds`, or of `transactions` per client when given."""
    script = Path(tempfile.mkdtemp(prefix="capacity-pgbench-")) / f"{name}.sql"
    try:
        script.write_text(
            SCRIPTS[name].format(rows=rows, vocabulary_max=VOCABULARY - 1, wide_max=WIDE - 1)
        )
        _own(script.parent)
        _own(script)
        length = ["-T", str(seconds)] if transactions is None else ["-t", str(transactions)]
        bench = [pg_bin("pgbench"), *conn, "-n", "-M", "prepared", "-c", "4", "-j", "2",
                 *length, "-f", str(script), "postgres"]  # fmt: skip
        out = run(_as_postgres(bench))
    finally:
        shutil.rmtree(script.parent, ignore_errors=True)
    tps = re.search(r"tps = ([0-9.]+)", out)
    done = re.search(r"number of transactions actually processed: (\d+)", out)
    if not tps or not done:
        raise SystemExit(f"error: pgbench printed no tps for {name}: {out[-300:]}")
    return float(tps.group(1)), int(done.group(1))


@contextmanager
def redis() -> Iterator[tuple[int, int]]:
    """A throwaway redis-server (no persistence, as ElastiCache without backups)."""
    tmp = Path(tempfile.mkdtemp(prefix="capacity-redis-"))
    port = free_port()
    server = None
    try:
        server = process.start(redis_launcher.launch(port, tmp), tmp / "redis.log")
        yield port, server.pid
    except ServerError as exc:
        raise SystemExit(f"error: {exc}") from None
    finally:
        process.stop(server)
        shutil.rmtree(tmp, ignore_errors=True)


def redis_benchmark(port: int, pid: int, op: str, requests: int) -> Rate:
    def work() -> tuple[float, int]:
        cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", op,
               "-n", str(requests), "-c", "50", "-d", "2400", "-r", "100000", "--csv"]  # fmt: skip
        out = run(cmd)
        for line in out.splitlines():
            cells = [c.strip('"') for c in line.split(",")]
            if cells[0] == op.upper():
                return float(cells[1]), requests
        raise SystemExit(f"error: redis-benchmark printed no {op.upper()} row: {out[-300:]}")

    return _timed(pid, work)


def _summary(runs: dict[str, list[Rate]]) -> dict[str, dict[str, object]]:
    return {
        name: {
            "per_second": statistics.median(r.per_second for r in rs),
            "per_cpu_second": statistics.median(r.per_cpu_second for r in rs),
            "runs": [[round(r.per_second, 1), round(r.per_cpu_second, 1)] for r in rs],
        }
        for name, rs in runs.items()
    }


def measure(
    rows: int, seconds: int, redis_requests: int, repeat: int, transactions: int | None = None
) -> dict[str, object]:
    vcpus, load_before = os.cpu_count() or 1, os.getloadavg()[0]
    pg_runs: dict[str, list[Rate]] = {name: [] for name in SCRIPTS}
    reads = [name for name in SCRIPTS if name != "write"]
    with postgres(rows) as pg:
        # Reads first: non-HOT updates grow the GIN index's pending list, which slows every
        # later search until a vacuum merges it (one run measured searches 10x slower).
        for _ in range(repeat):
            for name in reads:
                pg_runs[name].append(pgbench(pg, name, rows, seconds, transactions))
        for _ in range(repeat):
            pg_runs["write"].append(pgbench(pg, "write", rows, seconds, transactions))
    redis_runs: dict[str, list[Rate]] = {"set": [], "get": []}
    with redis() as (port, pid):
        for _ in range(repeat):
            for op in redis_runs:  # SET first: GET then finds values of the full size
                redis_runs[op].append(redis_benchmark(port, pid, op, redis_requests))
    length: dict[str, int | None] = {"seconds": seconds}
    if transactions is not None:  # a run's length is its transaction count, not seconds
        length = {"seconds": None, "transactions_per_client": transactions}
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": {
            "vcpus": vcpus,
            "cpu": platform.processor() or platform.machine(),
            "loadavg_1m_before": round(load_before, 2),
            "note": "per_second is what the client saw on this shared machine; per_cpu_second "
            "divides the operations by the CPU time the server's own processes used, which "
            "does not depend on what else ran",
        },
        "postgres": {
            "rows": rows,
            **length,
            "clients": 4,
            "repeat": repeat,
            "search_matches": {
                "search": round(rows * 3 / VOCABULARY),
                "search_wide": round(rows / WIDE),
            },
            "transactions": _summary(pg_runs),
        },
        "redis": {
            "value_bytes": 2400,
            "clients": 50,
            "requests": redis_requests,
            "ops": _summary(redis_runs),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.capacity.measure")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=10, help="per pgbench run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median kept)")
    parser.add_argument(
        "--transactions",
        type=int,
        help="per pgbench run, N transactions per client instead of --seconds (a quick "
        "check that the script works; the figures want the seconds)",
    )
    parser.add_argument("--redis-requests", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=OUT, help=f"default {OUT}")
    args = parser.parse_args(argv)
    for name in ("rows", "seconds", "repeat", "redis_requests", "transactions"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} {getattr(args, name)}; allowed: >= 1")
    result = measure(args.rows, args.seconds, args.redis_requests, args.repeat, args.transactions)
    given = sys.argv[1:] if argv is None else argv
    result["command"] = " ".join(["python -m infra.capacity.measure", *given])
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
