"""Fixtures of this folder's own, for tests that pause, freeze or lag a replica: a streaming
replica of the session primary made for the test module alone (so pausing or stopping it
disturbs no other test), in its own directory under the session's temp root, on a free port.
Built only with the public launchers in lab.localservers."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from lab.localservers import Postgres


@pytest.fixture(scope="module")
def own_replica(servers) -> Iterator[Postgres]:
    replica = servers.primary.replica(servers.root / f"replica-{uuid.uuid4().hex[:8]}")
    try:
        yield replica
    finally:
        resume(replica)  # a test that failed while it was frozen must not leave it so
        replica.stop()


async def sql(url: str, query: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


@asynccontextmanager
async def replay_paused(replica: Postgres) -> AsyncIterator[None]:
    """The replica keeps receiving WAL but replays none of it: lag grows for as long as
    the block lasts (pg_wal_replay_pause, PostgreSQL's own "recovery control")."""
    await sql(replica.url(), "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        await sql(replica.url(), "SELECT pg_wal_replay_resume()")


def freeze(replica: Postgres) -> None:
    """SIGSTOP the replica's whole process group (postmaster and every backend): it keeps
    its sockets and accepts connections but answers nothing, unlike a stopped server."""
    assert replica.proc is not None
    os.killpg(replica.proc.pid, signal.SIGSTOP)


def resume(replica: Postgres) -> None:
    if replica.proc is not None and replica.proc.poll() is None:
        os.killpg(replica.proc.pid, signal.SIGCONT)
