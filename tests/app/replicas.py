"""Fixtures of this folder's own, for tests that pause, freeze or lag a replica: a streaming
replica of the session primary made for the test module alone (so pausing or stopping it
disturbs no other test), in its own directory under the session's temp root, on a free port.
Built only with the public launchers in lab.localservers."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

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


def _tree(pid: int) -> list[int]:
    """`pid` and its children: PostgreSQL's backends each call setsid(), so the
    postmaster's process group does not hold them."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return [pid, *children]


def freeze(replica: Postgres) -> None:
    """SIGSTOP the replica's postmaster first (it forks nothing more), then every backend:
    it keeps its sockets and the kernel still accepts connections, but nothing answers,
    unlike a stopped server."""
    assert replica.proc is not None
    for pid in _tree(replica.proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)


def resume(replica: Postgres) -> None:
    if replica.proc is not None and replica.proc.poll() is None:
        for pid in _tree(replica.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
