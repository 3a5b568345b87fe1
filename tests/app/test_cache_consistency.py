"""Issue 15 items 1 and 8: a fill from a lagging replica cannot overwrite a concurrent
write's write-through, and after a Redis restart the cache serves hits again within a
second instead of tripping the breaker on one stale pooled connection after another."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from movies_api.cache import decode_entry
from starlette.routing import Route

from lab.localservers import Redis
from tests.app.support import MOVIE, auth, metric

pytestmark = [pytest.mark.servers, pytest.mark.anyio]


@pytest.fixture
async def paused_replica(servers) -> AsyncIterator[None]:
    """The test's streaming replica with WAL replay paused: a replica lagging without end."""
    conn = await asyncpg.connect(servers.replica.url())
    try:
        await conn.execute("SELECT pg_wal_replay_pause()")
        yield
    finally:
        await conn.execute("SELECT pg_wal_replay_resume()")
        await conn.close()


async def _title_in_redis(app, mid: int) -> str | None:
    import orjson

    raw = await app.state.movies.cache.client.get(f"c2:movie:{mid}")
    decoded = None if raw is None else decode_entry(raw)
    if decoded is None or decoded[0].body is None:
        return None
    return orjson.loads(decoded[0].body)["title"]


async def test_a_fill_that_read_a_lagging_replica_cannot_undo_a_write(
    app_client, servers, flush_redis, paused_replica
) -> None:
    """The order the issue found by chance, forced: miss, replica read, PUT, then the fill."""
    mid = 301
    writer = auth(servers.key("demo-writer"))
    async with app_client() as (client, app):
        st = app.state.movies
        read = st.db.read
        loaded, release = asyncio.Event(), asyncio.Event()

        async def read_then_wait(fn):
            row = await read(fn)
            loaded.set()
            await release.wait()
            return row

        st.db.read = read_then_wait
        reader = asyncio.create_task(client.get(f"/movies/{mid}"))
        await loaded.wait()  # the GET missed and holds the replica's (old) row
        st.db.read = read
        put = await client.put(f"/movies/{mid}", json={**MOVIE, "title": "After"}, headers=writer)
        assert put.status_code == 200
        release.set()
        racing = await reader
        # The fill was refused, and the reader was answered with the newer entry instead.
        assert racing.json()["title"] == "After"
        assert await _title_in_redis(app, mid) == "After"
        assert (await client.get(f"/movies/{mid}")).json()["title"] == "After"


async def test_a_fill_cannot_bring_back_a_deleted_movie(
    app_client, servers, flush_redis, paused_replica
) -> None:
    mid = 302
    writer = auth(servers.key("demo-writer"))
    async with app_client() as (client, app):
        st = app.state.movies
        read = st.db.read
        loaded, release = asyncio.Event(), asyncio.Event()

        async def read_then_wait(fn):
            row = await read(fn)
            loaded.set()
            await release.wait()
            return row

        st.db.read = read_then_wait
        reader = asyncio.create_task(client.get(f"/movies/{mid}"))
        await loaded.wait()
        st.db.read = read
        assert (await client.delete(f"/movies/{mid}", headers=writer)).status_code == 204
        release.set()
        assert (await reader).status_code == 404
        assert (await client.get(f"/movies/{mid}")).status_code == 404


async def test_racing_reads_and_writes_leave_the_newest_row_cached(
    app_client, servers, flush_redis, paused_replica
) -> None:
    """The issue's experiment: 20 trials of a missing GET racing a PUT, replay paused
    (3 of 20 kept the old title before the fix)."""
    writer = auth(servers.key("demo-writer"))
    stale = []
    async with app_client() as (client, app):
        for trial in range(20):
            mid = 320 + trial
            title = f"Race {trial}"
            body = {**MOVIE, "title": title}
            got, put = await asyncio.gather(
                client.get(f"/movies/{mid}"),
                client.put(f"/movies/{mid}", json=body, headers=writer),
            )
            assert got.status_code == 200 and put.status_code == 200
            if await _title_in_redis(app, mid) != title:
                stale.append(mid)
            assert (await client.get(f"/movies/{mid}")).json()["title"] == title
    assert stale == []


async def test_hits_resume_within_a_second_of_a_redis_restart(app_client, servers, tmp_path):
    redis = Redis(tmp_path / "redis")
    redis.start()
    ids = range(400, 430)
    try:
        # A long breaker: without the pool rebuild and the probe, each stale pooled
        # connection would open it for 5 s in turn.
        env = {"MOVIES_REDIS_URL": redis.url, "MOVIES_REDIS_BREAKER_SECONDS": "5"}
        async with app_client(**env) as (client, app):

            async def round_of_hits() -> float:
                before = metric(app, "movies_cache_hits_total", kind="movie")
                answers = await asyncio.gather(*(client.get(f"/movies/{i}") for i in ids))
                assert {r.status_code for r in answers} == {200}
                return metric(app, "movies_cache_hits_total", kind="movie") - before

            await round_of_hits()  # fills; 30 concurrent requests leave 30 pooled connections
            assert await round_of_hits() == len(ids)
            redis.stop()
            redis.start()  # same port, empty
            back = time.monotonic()
            while await round_of_hits() < len(ids):
                assert time.monotonic() - back < 10, "the cache never served hits again"
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - back
            assert elapsed < 1.5, f"hits again only after {elapsed:.1f}s"
            assert metric(app, "movies_redis_breaker_open") == 0
            # and they stay hits: no stale connection is left in the pool to trip it again
            errors = metric(app, "movies_cache_errors_total")
            for _ in range(5):
                assert await round_of_hits() == len(ids)
            assert metric(app, "movies_cache_errors_total") == errors
    finally:
        redis.stop()


async def test_the_anonymous_fast_path_answers_as_the_full_stack(
    app_client, servers, flush_redis, monkeypatch
) -> None:
    """`/movies/123` takes AnonymousMovieRead; `/movies/0123` (the same id, not canonical)
    takes Starlette's route and get_movie: same status, headers and body, hit or 404."""
    async with app_client() as (client, app):
        for path in ("123", "1999999"):  # a movie, and an id with no row (a cached 404)
            for _ in range(2):  # a miss, then a hit
                with monkeypatch.context() as m:  # the fast path never reaches a route
                    m.setattr(Route, "handle", _no_route)
                    fast = await client.get(f"/movies/{path}")
                full = await client.get(f"/movies/0{path}")
                assert fast.status_code == full.status_code
                assert fast.content == full.content
                assert sorted(fast.headers.items()) == sorted(full.headers.items())
        # both were counted under the route template
        assert metric(app, "movies_requests_total", method="GET", route="/movies/{id}",
                      status="200") == 4  # fmt: skip
        # a credential takes the full stack: private, and checked
        r = await client.get("/movies/123", headers={"X-API-Key": "mk_nonsense"})
        assert r.status_code == 401
        r = await client.get("/movies/123", headers=auth(servers.key("demo-reader")))
        assert r.status_code == 200 and r.headers["cache-control"] == "private, no-cache"


async def _no_route(*args: object) -> None:
    raise AssertionError("the request went through Starlette's router")


async def test_hot_keys_are_answered_in_process_for_at_most_their_ttl(servers, flush_redis) -> None:
    from movies_api.cache import Cache, Entry, make_redis
    from movies_api.metrics import Metrics

    settings = servers.settings(MOVIES_HOT_CACHE_MS="300", MOVIES_HOT_CACHE_SIZE="2")
    ours, other = (Cache(settings, Metrics(), make_redis(settings)) for _ in range(2))
    loads = 0

    async def loader() -> Entry:
        nonlocal loads
        loads += 1
        return Entry(b"v1", 1)

    try:
        assert (await ours.get_or_load("movie", "movie:h", loader)).body == b"v1"  # miss
        assert (await ours.get_or_load("movie", "movie:h", loader)).body == b"v1"  # Redis hit
        assert ours.client is not None
        calls = (await ours.client.info("stats"))["total_commands_processed"]
        for _ in range(50):
            assert (await ours.get_or_load("movie", "movie:h", loader)).body == b"v1"
        # 50 hits, one INFO: nothing else reached Redis
        assert (await ours.client.info("stats"))["total_commands_processed"] == calls + 1
        local = ours.metrics.registry.get_sample_value(
            "movies_cache_local_hits_total", {"kind": "movie"}
        )
        assert local == 50 and loads == 1
        # A write through another process: this one serves the old body until the TTL ends,
        await other.set("movie:h", Entry(b"v2", 2))
        assert (await ours.get_or_load("movie", "movie:h", loader)).body == b"v1"
        await asyncio.sleep(0.35)
        # then reads Redis again and sees it.
        assert (await ours.get_or_load("movie", "movie:h", loader)).body == b"v2"
        # A write through this process is seen at once.
        await ours.set("movie:h", Entry(b"v3", 3))
        assert (await ours.get_or_load("movie", "movie:h", loader)).body == b"v3"
        # Bounded: two entries, the least recently used goes.
        for key in ("movie:a", "movie:b", "movie:c"):
            await ours.set(key, Entry(key.encode(), 1))
            await ours.get_or_load("movie", key, loader)
        assert list(ours._local) == ["movie:b", "movie:c"]
    finally:
        await ours.close()
        await other.close()
