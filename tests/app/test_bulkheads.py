"""Issue 22 item 3 (findings 3 and 4): one slow dependency cannot stall the rest.

- A replica that stops answering (SIGSTOP: it keeps its sockets, unlike a stopped server)
  held every read that reached it for the 10 s command timeout. Now a replica read has a
  deadline; the first read past it marks the replica down and moves on to the other
  replica; no later read waits on the frozen one.
- 150 cache-busting searches pushed anonymous point reads from a p99 of 2-14 ms to
  0.9-3.3 s, marked healthy replicas down and tripped the Redis breaker under CPU load.
  Now searches that query the database hold one of a few slots and shed with 503 +
  Retry-After; point reads keep the rest of the pool; neither a replica nor Redis is
  taken out by the service's own queueing.

Behaviour is asserted (no read waits past the deadline plus a margin, the replica marked
down once, no fallback or breaker trip under the flood); timings are printed, with
generous bounds only, since this 2-core machine is shared.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.replicas import freeze, own_replica, resume
from tests.app.support import metric, serve_process

pytestmark = [pytest.mark.servers, pytest.mark.wall(13)]
__all__ = ["own_replica"]  # the fixture, imported for pytest

# The replica deadline counts the wait for a pooled connection: 40 reads at once queue for
# the pool, and on a loaded machine the healthy replica's queue passed 0.3 s (a fresh
# clone's 4-worker suite: median read 257 ms, 10 of its reads cut and it marked down).
# 1 s keeps what is checked (one deadline for the frozen replica, then no read waits on it)
# with room for that queue; the first read pays 1 s instead of 0.3.
DEADLINE_S = 1.0
MARGIN_S = 1.0  # scheduling on a shared 2-core box; the old behaviour waited 10 s


@pytest.mark.anyio
async def test_a_frozen_replica_costs_one_read_one_deadline_and_is_marked_down_once(
    app_client, servers, own_replica
) -> None:
    env = {
        # The frozen one first and the session's healthy replica second.
        "MOVIES_DATABASE_READER_URLS": f"{own_replica.url()},{servers.replica.url()}",
        "MOVIES_CACHE_ENABLED": "false",
        "MOVIES_REPLICA_DEADLINE_SECONDS": str(DEADLINE_S),
        "MOVIES_REPLICA_RETRY_SECONDS": "30",
    }
    async with app_client(**env) as (client, app):
        for i in range(1, 9):  # both replicas have pooled connections and answer
            assert (await client.get(f"/movies/{i}")).status_code == 200
        freeze(own_replica)
        try:
            timings = []
            for i in range(10, 20):  # one after another: the first may meet the frozen one
                started = time.monotonic()
                r = await client.get(f"/movies/{i}")
                timings.append(time.monotonic() - started)
                assert r.status_code == 200, r.text

            async def timed(i: int) -> float:
                started = time.monotonic()
                r = await client.get(f"/movies/{i}", params={})
                assert r.status_code == 200
                return time.monotonic() - started

            timings += await asyncio.gather(*(timed(i) for i in range(20, 60)))
        finally:
            resume(own_replica)
        deadlines = metric(app, "movies_db_replica_deadlines_total")
        fallbacks = metric(app, "movies_db_replica_fallbacks_total")
        queries = {role: metric(app, "movies_db_queries_total", role=role)
                   for role in ("primary", "replica")}  # fmt: skip
    slowest, median = max(timings), statistics.median(timings) * 1000
    print(f"\nfrozen replica: {len(timings)} reads, slowest {slowest:.3f}s, median "
          f"{median:.1f} ms; deadlines {deadlines}, queries {queries}")  # fmt: skip
    assert max(timings) < DEADLINE_S + MARGIN_S, sorted(timings)[-5:]
    # Marked down by the first read that met it; no later read waited on it. (On a quiet
    # box every read after that one is fast and none reaches the primary: slowest 0.308 s,
    # then ms, primary 0. Under a loaded CI box a healthy read can pass the deadline
    # because the event loop ran late: it moves on, and marks nothing down.)
    assert deadlines == 1 and fallbacks == 1, (deadlines, fallbacks)


@pytest.fixture(scope="module")
def flood_server(servers) -> Iterator[tuple[str, int]]:
    """A real `serve` process (the server stack production runs) on the session database,
    its replica, and a Redis database of its own."""
    env = {**os.environ, **servers.env(MOVIES_REDIS_URL=servers.redis.url[:-1] + "2",
                                        MOVIES_DB_POOL_MAX="10")}  # fmt: skip
    with serve_process(env, servers.root, "bulkheads") as (port, proc, _log):
        yield f"http://127.0.0.1:{port}", proc.pid


def _counter(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)


FLOOD = Path(__file__).with_name("search_flood.py")


def test_150_cache_busting_searches_leave_point_reads_fast(flood_server) -> None:
    base, _ = flood_server
    point_ids = list(range(1, 201))
    # 3 s of flood (5 s before): the point reads go on until the flood's last search is
    # answered, seconds after it stops sending (150 in flight on one process): 300-500 of
    # them here, as with 5 s, so the p99 is not the slowest read.
    flood_seconds = 3.0
    rng = random.Random(7)
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in point_ids:  # the point reads are cached, as the hot ones are
            assert client.get(f"/movies/{i}").status_code == 200
        before = client.get("/metrics").text
        flood = subprocess.Popen(
            [sys.executable, str(FLOOD), base, str(flood_seconds), "150"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(1.0)  # the flood's 150 connections open and it reaches full pace
        latencies: list[float] = []
        while flood.poll() is None:
            started = time.monotonic()
            r = client.get(f"/movies/{rng.choice(point_ids)}")
            latencies.append(time.monotonic() - started)
            assert r.status_code == 200, r.text
            time.sleep(0.01)
        searches = json.loads(flood.communicate(timeout=30)[0])
        after = client.get("/metrics").text
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    delta = {name: _counter(after, name) - _counter(before, name) for name in (
        "movies_db_replica_fallbacks_total", "movies_cache_errors_total",
        "movies_cache_bypassed_total", "movies_search_shed_total")}  # fmt: skip
    print(f"\nsearch flood: searches {searches}; {len(latencies)} point reads, p50 "
          f"{latencies[len(latencies) // 2] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
          f"{latencies[-1] * 1000:.1f} ms; {delta}")  # fmt: skip
    assert searches.get("200", 0) > 0 and searches["503_without_retry_after"] == 0, searches
    assert set(searches) <= {"200", "503", "503_without_retry_after"}, searches
    assert delta["movies_db_replica_fallbacks_total"] == 0, delta  # no replica marked down
    assert delta["movies_cache_errors_total"] == 0, delta  # the breaker never tripped
    assert delta["movies_cache_bypassed_total"] == 0, delta
    # The target is 50 ms; the bound here is loose for a shared CI box.
    assert p99 < 0.5, p99
