"""Helpers shared by the service tests."""

from __future__ import annotations

from typing import Any


def metric(app: Any, name: str, **labels: str) -> float:
    """One sample from the app's own Prometheus registry (0 when never observed)."""
    value = app.state.metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


def db_queries(app: Any) -> dict[str, float]:
    return {
        role: metric(app, "movies_db_queries_total", role=role) for role in ("primary", "replica")
    }


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


MOVIE = {"title": "Test Movie", "year": 2001, "genres": ["drama"], "rating": 7.2,
         "runtime_minutes": 101, "overview": "A test."}  # fmt: skip


async def wait_for_replica(primary_url: str, replica_url: str, timeout: float = 10) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    import asyncio
    import time

    import asyncpg

    p = await asyncpg.connect(primary_url)
    r = await asyncpg.connect(replica_url)
    try:
        # The insert position: with synchronous_commit=off the last commit record may not be
        # written yet, so pg_current_wal_lsn() can be behind it.
        target = await p.fetchval("SELECT pg_current_wal_insert_lsn()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lag = await r.fetchval("SELECT $1::pg_lsn - pg_last_wal_replay_lsn()", target)
            if lag <= 0:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError(f"replica still {lag} bytes behind after {timeout}s")
    finally:
        await p.close()
        await r.close()
