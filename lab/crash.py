"""`lab fault primary-crash`: SIGKILL of every primary process under a watchlist-writing
load, then every write the service acknowledged must be on the primary (issue 15, item 2).

A clean shutdown (the `primary` fault) flushes everything first and cannot show a lost
commit; a crash can, unless a commit is acknowledged only after its WAL is flushed
(`synchronous_commit = on`, RDS's setting; `postgres.DURABILITY`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import postgres, stack
from lab.httpclient import RawClient
from lab.procs import LabError, live_processes
from lab.state import Registry

STAGE = "read-replicas"
WRITERS = 8  # concurrent writers, one lab user each
CRASH_AFTER_S = 3.0  # writes acknowledged before the crash
WRITE_AFTER_S = 6.0  # writes keep coming while the primary recovers and after


@dataclass
class Writes:
    acknowledged: set[tuple[int, int]] = field(default_factory=set)  # (user_id, movie_id)
    responses: int = 0  # 200/201 answers (a movie added twice is one row)
    failed: int = 0  # transport errors and 5xx: not acknowledged, so not counted as lost
    other: dict[int, int] = field(default_factory=dict)  # any other status, by status


def lab_users(movies: int, count: int) -> list[tuple[int, str]]:
    """(user_id, api_key) of `count` seeded lab users."""
    keys = json.loads((stack.template_dir(movies) / "keys.json").read_text())
    users = [(int(v["user_id"]), v["api_key"]) for k, v in keys.items() if k.startswith("lab-")]
    if len(users) < count:
        raise LabError(f"the seed has {len(users)} lab users; the crash fault needs {count}")
    return users[:count]


async def _writer(
    entry: str, user: tuple[int, str], first: int, step: int, movies: int, stop_at: float,
    writes: Writes, stop: asyncio.Event,
) -> None:  # fmt: skip
    user_id, key = user
    client = RawClient(timeout=10)
    movie = first
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    try:
        while time.monotonic() < stop_at and not stop.is_set():
            body = json.dumps({"movie_id": movie}).encode()
            try:
                resp = await client.request("POST", f"{entry}/users/me/watchlist", headers, body)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                writes.failed += 1
                await asyncio.sleep(0.05)
                continue
            if resp.status in (200, 201):
                writes.acknowledged.add((user_id, movie))
                writes.responses += 1
            elif resp.status >= 500:
                writes.failed += 1
                await asyncio.sleep(0.05)
            else:
                writes.other[resp.status] = writes.other.get(resp.status, 0) + 1
            movie = movie + step if movie + step <= movies else first
    finally:
        await client.close()


def descendants(pid: int) -> list[int]:
    """`pid` and every live process below it. PostgreSQL's backends call setsid(), so
    they are not in the postmaster's process group: a killpg would miss them, and they
    would go on finishing their commits until they noticed the postmaster had died."""
    children: dict[int, list[int]] = {}
    for child, parent, _ in live_processes():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def kill_primary(reg: Registry) -> tuple[int, float]:
    """SIGKILL the postmaster and every process under it (no shutdown checkpoint, no WAL
    flush, no backend left to finish its commit). Returns (processes, seconds)."""
    record = reg.get("pg-primary")
    started = time.perf_counter()
    victims = descendants(record.pid)
    for pid in victims:  # the postmaster first: it cannot fork a replacement afterwards
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in victims) and time.monotonic() < deadline:
        with_suppressed_child(record.pid)
        time.sleep(0.01)
    if any(_alive(p) for p in victims):
        raise LabError(f"pg-primary: a process of pid {record.pid}'s tree survived SIGKILL")
    with_suppressed_child(record.pid)
    reg.remove("pg-primary")
    return len(victims), time.perf_counter() - started


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def with_suppressed_child(pid: int) -> None:
    # The postmaster is our child (spawned by this process): reap it, or it stays a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


async def _acknowledged(writes: Writes, count: int, deadline: float) -> None:
    """Until `count` writes in all were acknowledged, or the monotonic `deadline`."""
    while writes.responses < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def run_crash(
    reg: Registry, *, writers: int = WRITERS, crash_after: float = CRASH_AFTER_S,
    write_after: float = WRITE_AFTER_S, synchronous_commit: str = "on",
    wal_writer_delay: str | None = None, writes_after_ready: int | None = None,
    crash_after_writes: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The fault against the stage `reg` describes (it must have a primary and an entry).

    `crash_after_writes`: the crash comes as soon as that many writes were acknowledged
    (`crash_after` still bounds the wait); None (the command's) waits all of `crash_after`.

    `writes_after_ready`: the writers stop as soon as that many writes were acknowledged
    after the restarted primary accepted connections again (`write_after` still bounds
    them); None (the command's) writes for all of `write_after`.

    `wal_writer_delay` (with synchronous_commit off only) widens the window in which
    acknowledged commits sit unwritten in PostgreSQL's WAL buffers: at the default 200 ms
    a crash can fall just after a flush and lose nothing, which a test cannot wait on."""
    ep = reg.endpoints
    port, movies, entry = ep["primary_port"], int(ep["movies"]), ep["entry"]
    run_dir = Path(reg.path.parent) / "run"
    if synchronous_commit != "on":
        # Only to show that the fault catches what it is for: auto.conf wins over the
        # durability block in postgresql.conf.
        postgres.psql(port, f"ALTER SYSTEM SET synchronous_commit = {synchronous_commit}")
        if wal_writer_delay is not None:
            postgres.psql(port, f"ALTER SYSTEM SET wal_writer_delay = '{wal_writer_delay}'")
        postgres.psql(port, "SELECT pg_reload_conf()")
    settings_before = postgres.settings(port)
    users = lab_users(movies, writers)
    writes = Writes()
    marks: dict[str, float] = {}

    async def main() -> None:
        t0 = time.monotonic()
        stop_at = t0 + crash_after + write_after
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(_writer(entry, u, i + 1, writers, movies, stop_at, writes, stop))
            for i, u in enumerate(users)
        ]
        if crash_after_writes is None:
            await asyncio.sleep(crash_after)
        else:
            await _acknowledged(writes, crash_after_writes, t0 + crash_after)
        marks["acked_before_crash"] = writes.responses
        marks["crash"] = time.monotonic() - t0
        killed, seconds = await asyncio.to_thread(kill_primary, reg)
        marks["killed_processes"] = killed
        marks["kill_seconds"] = seconds
        await asyncio.to_thread(
            postgres.start, reg, "pg-primary", run_dir / "pg-primary", port,
            run_dir / "pg-primary.log",
        )  # fmt: skip
        marks["ready"] = time.monotonic() - t0
        at_ready = writes.responses
        if writes_after_ready is not None:
            await _acknowledged(writes, at_ready + writes_after_ready, stop_at)
            stop.set()
        await asyncio.gather(*tasks)
        marks["acked_after_ready"] = writes.responses - at_ready

    asyncio.run(main())
    ids = ",".join(str(u) for u, _ in users)
    rows = postgres.psql(port, f"SELECT user_id, movie_id FROM watchlist WHERE user_id IN ({ids})")
    present = {tuple(int(x) for x in line.split("|")) for line in rows.splitlines() if line}
    lost = sorted(writes.acknowledged - present)
    return {
        "fault": "primary-crash",
        "stage": reg.stage,
        "what": f"{writers} writers add movies to their watchlists through the entry point; "
        f"after {crash_after:g}s every process of the primary gets SIGKILL, the primary is "
        "started again (crash recovery) and the writers carry on; then every acknowledged "
        "write is looked up on the primary",
        "primary_settings": settings_before,
        "killed_processes": marks["killed_processes"],
        "primary_down_seconds": round(marks["ready"] - marks["crash"], 2),
        "acknowledged": len(writes.acknowledged),
        "acknowledged_responses": writes.responses,
        "acknowledged_before_crash": marks["acked_before_crash"],
        "acknowledged_after_restart": marks["acked_after_ready"],
        "failed_writes": writes.failed,
        "other_statuses": writes.other,
        "lost": len(lost),
        "lost_examples": [list(x) for x in lost[:10]],
    }


def fault_primary_crash(args: argparse.Namespace) -> dict[str, Any]:
    reg = stack.up(STAGE, args.movies, args.env, not args.no_pin, say=lambda _m: None)
    try:
        r = run_crash(reg, synchronous_commit=args.synchronous_commit)
    finally:
        stack.down(say=lambda _m: None)
    if args.synchronous_commit != "on":
        r["result_key"] = f"primary-crash@synchronous_commit={args.synchronous_commit}"
    return r


def headline(r: dict[str, Any]) -> str:
    sc = r["primary_settings"].get("synchronous_commit")
    return (
        f"primary-crash (synchronous_commit={sc}): {r['killed_processes']} primary processes "
        f"SIGKILLed, down {r['primary_down_seconds']}s; {r['acknowledged_responses']:,} writes "
        f"acknowledged ({r['acknowledged_before_crash']:,} before the crash; "
        f"{r['acknowledged']:,} distinct rows), "
        f"{r['failed_writes']} failed (not acknowledged), {r['lost']} acknowledged writes lost"
    )
