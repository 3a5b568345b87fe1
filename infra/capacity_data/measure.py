"""Measure PostgreSQL and Redis throughput per vCPU on this machine (127.0.0.1 only).

`python -m infra.capacity_data.measure [--rows N] [--seconds S]` starts a throwaway
PostgreSQL 15 and redis-server on free loopback ports, runs pgbench with three custom
scripts (primary-key read of a ~2 kB movie document, a full-text search page of 20, a
single-row update) and redis-benchmark GET/SET with 2.4 kB values, prints the figures
and writes them to ``infra/capacity_data/measured.json``. The capacity model reads that
file; it never invents these numbers.

The load generators run on the same two vCPUs as the servers, so the per-vCPU figures
are pessimistic (a real client runs elsewhere): the model errs on the safe side.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).with_name("measured.json")
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
-- titles: three words from a 5,000-word vocabulary (a word matches ~rows*3/5000 movies)
-- plus one of {wide} tokens (matches rows/{wide}), to measure search cost against matches;
-- doc pads to ~2 kB like a movie document
INSERT INTO movies (id, title, year, popularity, doc)
SELECT g,
       'w' || (g * 7919 % 5000) || ' w' || (g * 104729 % 5000) || ' w' || (g * 1299709 % 5000)
         || ' c' || (g % {wide}),
       1900 + g % 125,
       (g * 2654435761 % 1000000) / 1000.0,
       jsonb_build_object('id', g, 'overview', repeat(md5(g::text), 56))
FROM generate_series(1::bigint, {rows}) AS g;
CREATE INDEX movies_tsv ON movies USING gin (tsv);
CREATE INDEX movies_year ON movies (year);
"""

SCRIPTS = {
    "point_read": "\\set id random(1, {rows})\nSELECT doc FROM movies WHERE id = :id;\n",
    "search": (
        "\\set w random(0, 4999)\n"
        "SELECT id, title, year FROM movies WHERE tsv @@ to_tsquery('simple', 'w' || :w)"
        " ORDER BY popularity DESC LIMIT 20;\n"
    ),
    "search_wide": (
        "\\set c random(0, {wide_max})\n"
        "SELECT id, title, year FROM movies WHERE tsv @@ to_tsquery('simple', 'c' || :c)"
        " ORDER BY popularity DESC LIMIT 20;\n"
    ),
    "write": (
        "\\set id random(1, {rows})\n"
        "UPDATE movies SET popularity = popularity + 1 WHERE id = :id;\n"
    ),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise SystemExit(f"error: PostgreSQL binary {name!r} not found under /usr/lib/postgresql")
    return found[-1]


def as_postgres(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    done = subprocess.run(prefix + cmd, text=True, capture_output=True, **kw)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"error: {cmd[0]} failed: {done.stderr.strip()[-400:]}")
    return done


def measure_postgres(rows: int, seconds: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="capacity-pg-"))
    shutil.chown(tmp, "postgres") if os.geteuid() == 0 else None
    data, port = tmp / "data", free_port()
    as_postgres([pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    as_postgres(
        [
            pg_bin("pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(tmp / "log"),
            "-w",
            "start",
            "-o",
            f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c shared_buffers=512MB",
        ]
    )
    try:
        conn = ["-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        as_postgres(
            [
                "psql",
                *conn,
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                SCHEMA.format(rows=rows, wide=WIDE),
            ]
        )
        as_postgres(["psql", *conn, "-q", "-c", "VACUUM ANALYZE movies"])
        tps: dict[str, float] = {}
        for name, body in SCRIPTS.items():
            script = tmp / f"{name}.sql"
            script.write_text(body.format(rows=rows, wide_max=WIDE - 1))
            shutil.chown(script, "postgres") if os.geteuid() == 0 else None
            out = as_postgres(
                [
                    "pgbench",
                    *conn,
                    "-n",
                    "-M",
                    "prepared",
                    "-c",
                    "4",
                    "-j",
                    "2",
                    "-T",
                    str(seconds),
                    "-f",
                    str(script),
                    "postgres",
                ]
            ).stdout
            match = re.search(r"tps = ([0-9.]+)", out)
            if not match:
                raise SystemExit(f"error: pgbench printed no tps for {name}: {out[-300:]}")
            tps[name] = float(match.group(1))
        return tps
    finally:
        subprocess.run(
            (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
            + [pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def measure_redis(requests: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            if (
                subprocess.run(
                    ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
                ).stdout.strip()
                == "PONG"
            ):
                break
            time.sleep(0.1)
        out = subprocess.run(
            [
                "redis-benchmark",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-t",
                "set,get",
                "-n",
                str(requests),
                "-c",
                "50",
                "-d",
                "2400",
                "-r",
                "100000",
                "--csv",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        ops: dict[str, float] = {}
        for line in out.splitlines():
            cells = [c.strip('"') for c in line.split(",")]
            if cells[0] in {"SET", "GET"}:
                ops[cells[0].lower()] = float(cells[1])
        return ops
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.capacity_data.measure")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=10, help="per pgbench script")
    parser.add_argument("--redis-requests", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=OUT, help=f"default {OUT}")
    args = parser.parse_args(argv)
    for name in ("rows", "seconds", "redis_requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} {getattr(args, name)}; allowed: >= 1")
    vcpus = os.cpu_count() or 1
    pg = measure_postgres(args.rows, args.seconds)
    redis = measure_redis(args.redis_requests)
    given = sys.argv[1:] if argv is None else argv
    result = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["python -m infra.capacity_data.measure", *given]),
        "host": {
            "vcpus": vcpus,
            "cpu": platform.processor() or platform.machine(),
            "note": "load generators share these vCPUs with the servers",
        },
        "postgres": {
            "rows": args.rows,
            "seconds": args.seconds,
            "clients": 4,
            "search_matches": {
                "search": round(args.rows * 3 / 5000),
                "search_wide": round(args.rows / WIDE),
            },
            "tps": pg,
            "tps_per_vcpu": {k: round(v / vcpus, 1) for k, v in pg.items()},
        },
        "redis": {
            "value_bytes": 2400,
            "clients": 50,
            "ops_per_s": redis,
            "note": "one redis-server thread; redis-benchmark on the other vCPU",
        },
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
