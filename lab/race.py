"""`lab fault race`: a read's cache fill raced against a write (issue 15, item 1).

Replica replay is paused (standing in for replica lag), so a read that misses the cache
reads the old row from a replica. If its fill lands in Redis after the write's
write-through, the cache serves the old value until the entry expires although the write
was acknowledged. Each trial takes a movie nobody has read yet in this stage (so its key
is not cached), sends `GET /movies/{id}` and `PUT /movies/{id}` through the ALB stand-in
with a small offset between them (swept across the trials: the two land on different API
processes), then reads the movie again and counts the reads that still return the old
title.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from lab import postgres, stack
from lab.httpclient import RawClient
from lab.procs import LOOPBACK, LabError
from lab.state import Registry

STAGE = "read-replicas"
TRIALS = 40
OFFSET_MS = 4.0  # the read starts between this much before and after the write
READS_AFTER = 4  # reads after both answered: two per API process (round robin)
SETTLE_S = 0.05  # a background refresh or a late fill has landed by then


def set_replay(ports: list[int], paused: bool) -> None:
    fn = "pg_wal_replay_pause" if paused else "pg_wal_replay_resume"
    for port in ports:
        postgres.psql(port, f"SELECT {fn}()")
    deadline = time.monotonic() + 10
    for port in ports:
        # pause is asynchronous: wait until replay has actually stopped (or resumed).
        while postgres.psql(port, "SELECT pg_is_wal_replay_paused()").strip() != (
            "t" if paused else "f"
        ):
            if time.monotonic() > deadline:
                raise LabError(f"replica on port {port}: replay did not {fn[7:]}")
            time.sleep(0.05)


def _title(body: bytes) -> str | None:
    try:
        return json.loads(body).get("title")
    except (ValueError, AttributeError):
        return None


async def _trial(
    entry: str, mid: int, new_title: str, offset_s: float, writer_key: str
) -> dict[str, Any]:
    reader, writer = RawClient(timeout=10), RawClient(timeout=10)
    try:
        # Open both connections first, so the offset is not eaten by a TCP handshake.
        await asyncio.gather(
            reader.request("GET", f"{entry}/healthz"), writer.request("GET", f"{entry}/healthz")
        )
        body = json.dumps({"title": new_title, "year": 2001}).encode()
        headers = {"X-API-Key": writer_key, "Content-Type": "application/json"}

        async def read():
            await asyncio.sleep(max(0.0, offset_s))
            return await reader.request("GET", f"{entry}/movies/{mid}")

        async def write():
            await asyncio.sleep(max(0.0, -offset_s))
            return await writer.request("PUT", f"{entry}/movies/{mid}", headers, body)

        first_read, put = await asyncio.gather(read(), write())
        await asyncio.sleep(SETTLE_S)
        after = []
        for _ in range(READS_AFTER):
            after.append(_title((await reader.request("GET", f"{entry}/movies/{mid}")).body))
    finally:
        await reader.close()
        await writer.close()
    return {
        "movie_id": mid,
        "offset_ms": round(offset_s * 1000, 2),
        "put_status": put.status,
        "first_read": "old" if _title(first_read.body) != new_title else "new",
        "reads_after": after,
    }


def run_race(reg: Registry, trials: int = TRIALS) -> dict[str, Any]:
    import redis

    ep = reg.endpoints
    replicas, movies, entry = ep["replica_ports"], int(ep["movies"]), ep["entry"]
    if not replicas or "redis_port" not in ep:
        raise LabError(f"the race fault needs replicas and Redis; stage {reg.stage} has not")
    _, writers = stack.load_keys(movies)
    # Movies from the cold end of the id range: the lab's load never asked for them here.
    ids = list(range(movies, movies - trials, -1))
    rows = postgres.psql(
        ep["primary_port"], f"SELECT id, title FROM movies WHERE id IN ({','.join(map(str, ids))})"
    )
    old = {int(i): t for i, t in (line.split("|", 1) for line in rows.splitlines() if line)}
    cache = redis.Redis(host=LOOPBACK, port=ep["redis_port"])
    results = []
    set_replay(replicas, paused=True)
    try:
        for n, mid in enumerate(ids):
            offset = -OFFSET_MS + 2 * OFFSET_MS * n / max(1, trials - 1)
            new_title = f"race {n}: {old.get(mid, '')}"[:300]
            r = asyncio.run(_trial(entry, mid, new_title, offset / 1000, writers[0]))
            stale = sum(1 for t in r["reads_after"] if t != new_title)
            r["stale_reads"] = stale
            r["reads_after"] = ["new" if t == new_title else "old" for t in r["reads_after"]]
            if stale:
                ttl = cache.ttl(f"c2:movie:{mid}")  # the service's entry key (cache.py)
                r["cache_ttl_s"] = ttl if ttl >= 0 else None
            results.append(r)
        # The stand-in for lag held: no replica has replayed any of the writes.
        behind = [
            int(postgres.psql(p, f"SELECT count(*) FROM movies WHERE title LIKE 'race %' "
                              f"AND id >= {ids[-1]}"))
            for p in replicas
        ]  # fmt: skip
    finally:
        set_replay(replicas, paused=False)
    acked = [r for r in results if r["put_status"] == 200]
    stale = [r for r in acked if r["stale_reads"]]
    return {
        "fault": "race",
        "stage": reg.stage,
        "what": f"replica replay paused; {trials} trials, each a cold movie read "
        f"(GET) and written (PUT) through the ALB with the read starting between "
        f"{OFFSET_MS:g} ms before and after the write; then {READS_AFTER} reads",
        "trials": len(results),
        "replica_rows_written_during_pause": behind,
        "writes_acknowledged": len(acked),
        "stale_trials": len(stale),
        "stale_reads": sum(r["stale_reads"] for r in acked),
        "reads_after_writes": READS_AFTER * len(acked),
        "stale_cache_ttl_s": [r.get("cache_ttl_s") for r in stale],
        "details": results,
    }


def fault_race(args: argparse.Namespace) -> dict[str, Any]:
    reg = stack.up(STAGE, args.movies, args.env, not args.no_pin, say=lambda _m: None)
    try:
        return run_race(reg)
    finally:
        stack.down(say=lambda _m: None)


def headline(r: dict[str, Any]) -> str:
    return (
        f"race (replica replay paused): {r['stale_trials']} of {r['writes_acknowledged']} "
        f"acknowledged writes still read as the old value afterwards ({r['stale_reads']} of "
        f"{r['reads_after_writes']} reads; cache TTL left {r['stale_cache_ttl_s']} s)"
    )
