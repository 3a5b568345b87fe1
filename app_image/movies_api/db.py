"""PostgreSQL access: writes to the primary, reads to replicas with fallback to the primary.

Every query is counted by the role that actually served it, so `/metrics` shows what the
replicas take off the primary and the stampede test can count database round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import asyncpg

from .looplag import LoopLag
from .metrics import Metrics
from .settings import Settings, redact

log = logging.getLogger("movies_api.db")

Role = Literal["primary", "replica"]
T = TypeVar("T")

# Errors that mean "this server is unreachable or going away", as opposed to a bad query:
# only these send a read from a replica to the primary.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InvalidAuthorizationSpecificationError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
    # What asyncpg raises on a pooled connection the server terminated between queries
    # ("cannot switch to state ...; another operation is in progress").
    asyncpg.InternalClientError,
)


@dataclass
class _Replica:
    url: str
    pool: asyncpg.Pool
    down_until: float = 0.0
    # Set by the lag watch: this replica may not have replayed a write whose fence has
    # expired, so it gets no reads until it catches up (issue 22 item 1).
    lagging: bool = False


# The lag watch (issue 22 item 1). On the primary, where WAL is being inserted; on each
# replica, whether it has replayed up to that point and how old the last transaction it
# replayed is. A replica that is not in recovery (a reader URL naming a primary) has no
# replay position: it is never behind.
_PRIMARY_LSN = "SELECT pg_current_wal_insert_lsn()"  # asyncpg: an int
_WAL_PAGE = 8192  # XLOG_BLCKSZ: PostgreSQL's default, which RDS does not change
# A WAL page starts with a header: 24 bytes, 40 on a segment's first page.
_PAGE_HEADERS = (24, 40)


def last_record_end(insert_lsn: int) -> int:
    """Where the primary's last WAL record ends. At the start of a page the insert position
    is reported past the page's header, where a replica that has replayed everything
    never gets (an idle primary then looked 40 bytes ahead of every replica forever); no
    record ends inside a header, so the end of the last one is the page's start."""
    offset = insert_lsn % _WAL_PAGE
    return insert_lsn - offset if offset in _PAGE_HEADERS else insert_lsn


_REPLICA_LAG = (
    "SELECT pg_last_wal_replay_lsn(), "
    "extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8"
)


# A rejected password: the RDS-managed secret was rotated since these pools were made.
AUTH_ERRORS = (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)
_RELOAD_INTERVAL_SECONDS = 30.0


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool reset hook: nothing beyond asyncpg's own rollback of an open transaction.

    The default reset runs `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    on every release: one extra round trip per query (the lab saw one such statement per
    query in pg_stat_statements). Pooled connections here never take advisory locks, open
    cursors, LISTEN or SET anything (migrate and seed use connections of their own).
    """


@dataclass
class Database:
    settings: Settings
    metrics: Metrics
    # Returns settings with fresh credentials (from Secrets Manager); None = static creds.
    credentials_loader: Callable[[], Settings] | None = None
    primary: asyncpg.Pool | None = None
    replicas: list[_Replica] = field(default_factory=list)
    _rr: itertools.count = field(default_factory=itertools.count)
    _last_reload: float = -_RELOAD_INTERVAL_SECONDS
    _watch: asyncio.Task[None] | None = None
    _warming: set[asyncio.Task[None]] = field(default_factory=set)
    # (monotonic time, the primary's WAL insert position) of recent looks, oldest first.
    _targets: deque[tuple[float, int]] = field(default_factory=deque)
    loop_lag: LoopLag = field(default_factory=LoopLag)

    async def start(self) -> None:
        # min_size=0 everywhere: a server that is down at boot must not stop the app from
        # starting (the ALB health check is shallow; /readyz reports the outage).
        self.primary = await self._pool(self.settings.database_url)
        self.replicas = [_Replica(url, await self._pool(url)) for url in self.settings.reader_urls]
        if self.settings.db_pool_warm:
            for pool in (self.primary, *(r.pool for r in self.replicas)):
                task = asyncio.get_running_loop().create_task(self._warm(pool))
                self._warming.add(task)
                task.add_done_callback(self._warming.discard)
        if self.replicas:
            self.loop_lag.start()
        if self.replicas and self._watch is None:
            # The first verdict before the first read; a server down at boot does not wait.
            # At most ~4 s at boot, even with a replica that accepts but never answers.
            first = min(self.lag_interval, 2.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.check_lag(), timeout=first)
                if any(r.lagging for r in self.replicas):
                    # A replica that has replayed no transaction since it started has no
                    # lag to show; a second look shows whether it reached the first one's
                    # position (then it lacks at most 0.2 s of WAL).
                    await asyncio.sleep(0.2)
                    await asyncio.wait_for(self.check_lag(), timeout=first)
            self._watch = asyncio.get_running_loop().create_task(self._watch_lag())

    @property
    def lag_interval(self) -> float:
        """How often the lag watch looks: S in the bound below."""
        return min(5.0, self.settings.write_fence_seconds / 8)

    @property
    def lag_limit(self) -> float:
        """A replica whose last replayed transaction is older than this (and that has not
        replayed all the primary had) gets no reads.

        Why this bounds every write's invisibility: a write's fence lives F =
        write_fence_seconds from its write-through. A replica that is behind has replayed
        every transaction committed before its last replayed one, so what it lacks is
        younger than its measured lag L. A verdict holds until the next look, S later,
        when L has grown by at most S; so a replica is read only while everything it lacks
        is younger than L + S <= F - S, i.e. while the fence of everything it lacks is
        still alive. The other S covers clock skew between the primary (which stamps
        commits) and the replica (which measures). (The cache's fence, cache.py.)
        """
        return self.settings.write_fence_seconds - 2 * self.lag_interval

    async def check_lag(self) -> None:
        """One look: each replica is lagging or not (see lag_limit)."""
        assert self.primary is not None
        timeout = self.lag_interval
        try:
            async with self.primary.acquire(timeout=timeout) as conn:
                target = last_record_end(await conn.fetchval(_PRIMARY_LSN, timeout=timeout))
        except (*CONNECTION_ERRORS, asyncpg.PostgresError):
            return  # no primary, no verdict: keep the last ones

        now = time.monotonic()
        while self._targets and now - self._targets[0][0] > self.lag_limit:
            self._targets.popleft()
        # The oldest position a replica may be at: the primary's at a look within the limit.
        floor = self._targets[0][1] if self._targets else target
        self._targets.append((now, target))

        async def one(replica: _Replica) -> None:
            try:
                async with replica.pool.acquire(timeout=timeout) as conn:
                    replayed, lag = await conn.fetchrow(_REPLICA_LAG, timeout=timeout)
            except CONNECTION_ERRORS:
                return  # unreachable: the read path marks it down on its own
            except asyncpg.PostgresError as exc:
                log.warning("lag check on %s failed: %s", redact(replica.url), exc)
                return
            # Not lagging: not a standby; replayed all the primary had just now, or all it
            # had at a look less than the limit ago; or its last replayed transaction is
            # younger than the limit (so is all it lacks).
            lagging = not (
                replayed is None or replayed >= floor or (lag is not None and lag < self.lag_limit)
            )
            if lagging and not replica.lagging:
                self.metrics.db_replica_lagging.inc()
                log.warning(
                    "replica %s is %.1fs behind (limit %.1fs): no reads until it catches up",
                    redact(replica.url),
                    -1.0 if lag is None else lag,
                    self.lag_limit,
                )
            replica.lagging = lagging

        await asyncio.gather(*(one(r) for r in self.replicas))

    async def _watch_lag(self) -> None:
        while True:
            await asyncio.sleep(self.lag_interval)
            try:
                await self.check_lag()
            except Exception:  # the watch must outlive any one bad look
                log.exception("replica lag check failed")

    async def _warm(self, pool: asyncpg.Pool) -> None:
        """Open `db_pool_warm` connections in `pool` (held at once, so each is a new one)
        and hand them back: the pool keeps them until they idle past
        `db_pool_idle_seconds`. In the background, so a database that is down at boot
        costs a log line, not the start."""
        held: list[Any] = []
        try:
            for _ in range(self.settings.db_pool_warm):
                held.append(await pool.acquire(timeout=self.settings.db_connect_timeout_seconds))
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            log.warning("pool warm-up stopped at %d connection(s): %s", len(held), exc)
        finally:
            for conn in held:
                await pool.release(conn)

    async def _pool(self, url: str) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            url,
            min_size=0,
            max_size=self.settings.db_pool_max,
            timeout=self.settings.db_connect_timeout_seconds,
            command_timeout=10,
            max_inactive_connection_lifetime=self.settings.db_pool_idle_seconds,
            reset=_keep_session,
        )

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for task in list(self._warming):
            task.cancel()
        self.loop_lag.stop()
        pools = [r.pool for r in self.replicas]
        if self.primary is not None:
            pools.append(self.primary)
        for pool in pools:
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except (TimeoutError, *CONNECTION_ERRORS):
                pool.terminate()

    def _healthy_replica(self, tried: tuple[_Replica, ...] = ()) -> _Replica | None:
        if not self.replicas:
            return None
        now = time.monotonic()
        n = len(self.replicas)
        start = next(self._rr)
        for i in range(n):
            replica = self.replicas[(start + i) % n]
            if replica.down_until <= now and not replica.lagging and replica not in tried:
                return replica
        return None

    async def reload_credentials(self) -> bool:
        """Re-read the secret and rebuild the pools; at most once per 30 s."""
        now = time.monotonic()
        if self.credentials_loader is None or now - self._last_reload < _RELOAD_INTERVAL_SECONDS:
            return False
        self._last_reload = now
        self.settings = await asyncio.to_thread(self.credentials_loader)
        old = [r.pool for r in self.replicas] + ([self.primary] if self.primary else [])
        await self.start()
        for pool in old:
            # Queries in flight on the old pools finish; close() waits for their release.
            task = asyncio.get_running_loop().create_task(pool.close())
            task.add_done_callback(lambda t: t.exception())
        log.warning("database credentials reloaded from the secret after an auth failure")
        return True

    async def _run(self, role: Role, pool: asyncpg.Pool, fn: Callable[[Any], Awaitable[T]]) -> T:
        try:
            async with pool.acquire(timeout=self.settings.db_connect_timeout_seconds) as conn:
                self.metrics.db_queries.labels(role=role).inc()
                try:
                    return await fn(conn)
                except (*CONNECTION_ERRORS, asyncio.CancelledError):
                    # Never hand a broken connection back to the pool for the next caller;
                    # and a query cut by a deadline is abandoned at once: releasing it
                    # normally would wait on the server that did not answer.
                    conn.terminate()
                    raise
        except AUTH_ERRORS:
            if not await self.reload_credentials():
                raise
        # Retry once on the rebuilt pool for the same role.
        fresh = self.primary if role == "primary" or not self.replicas else self.replicas[0].pool
        assert fresh is not None
        async with fresh.acquire(timeout=self.settings.db_connect_timeout_seconds) as conn:
            self.metrics.db_queries.labels(role=role).inc()
            return await fn(conn)

    async def read(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run one read query on a healthy replica, or on the primary if none answers.

        Each replica attempt has a deadline (`replica_deadline_seconds`, pool wait and
        connect included): a replica that accepts connections but does not answer (a
        frozen process, a black-holed network) costs a read at most one deadline, is
        marked down by that one timeout, and the read moves to the next replica or the
        primary (issue 22 item 3; it held each read for the 10 s command timeout).
        """
        tried: tuple[_Replica, ...] = ()
        deadline = self.settings.replica_deadline_seconds
        while (replica := self._healthy_replica(tried)) is not None:
            tried += (replica,)
            started = time.monotonic()
            try:
                async with asyncio.timeout(deadline):
                    return await self._run("replica", replica.pool, fn)
            except CONNECTION_ERRORS as exc:
                late = time.monotonic() - started - deadline
                if isinstance(exc, TimeoutError) and self._own_queueing(late, deadline):
                    # The deadline passed because this process was busy (its event loop
                    # ran late), not because the replica was slow: move this read, but do
                    # not take a healthy replica out of service.
                    continue
                # Mark it down for a while so every later read does not pay the timeout.
                replica.down_until = time.monotonic() + self.settings.replica_retry_seconds
                self.metrics.db_fallbacks.inc()
                if isinstance(exc, TimeoutError):
                    self.metrics.db_replica_deadlines.inc()
                log.warning(
                    "replica %s failed (%s); reading from %s",
                    redact(replica.url),
                    type(exc).__name__
                    if not isinstance(exc, TimeoutError)
                    else f"no answer within {deadline:g}s",
                    "another replica" if self._healthy_replica(tried) else "the primary",
                )
        assert self.primary is not None, "Database.start() was not awaited"
        try:
            return await self._run("primary", self.primary, fn)
        except CONNECTION_ERRORS:
            # A pooled connection the server dropped (restart, failover, rotation) fails
            # once; a read is safe to retry on a fresh connection. Writes are not retried.
            return await self._run("primary", self.primary, fn)

    def _own_queueing(self, late: float, deadline: float) -> bool:
        """Whether the event loop was running late enough to explain a passed deadline:
        our own timer fired late, or the loop's 50 ms tick did lately (looplag.py)."""
        return late > deadline / 2 or self.loop_lag.seconds > deadline / 2

    async def write(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run one query on the primary (writes, and reads that must see the latest write)."""
        assert self.primary is not None, "Database.start() was not awaited"
        return await self._run("primary", self.primary, fn)

    @asynccontextmanager
    async def primary_transaction(self) -> AsyncIterator[Any]:
        assert self.primary is not None, "Database.start() was not awaited"
        async with self.primary.acquire(timeout=self.settings.db_connect_timeout_seconds) as conn:
            self.metrics.db_queries.labels(role="primary").inc()
            async with conn.transaction():
                yield conn

    async def ping(self) -> dict[str, str]:
        """Check the primary and each replica; used by /readyz."""
        status: dict[str, str] = {}

        async def one(name: str, pool: asyncpg.Pool) -> None:
            try:
                async with pool.acquire(timeout=self.settings.db_connect_timeout_seconds) as c:
                    await c.fetchval("SELECT 1")
                status[name] = "ok"
            except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                status[name] = f"error: {type(exc).__name__}"

        assert self.primary is not None
        jobs = [one("primary", self.primary)]
        jobs += [one(f"replica{i}", r.pool) for i, r in enumerate(self.replicas)]
        await asyncio.gather(*jobs)
        return status
