"""Cache-aside in Redis: TTL jitter, negative entries, single-flight fills, stale-while-
revalidate, and a circuit breaker that sends everything to the database while Redis is down.

An entry is JSON `{"s": soft_expiry_epoch, "v": value}`; `v` null is a cached 404. Redis
keeps it `stale_seconds` past its soft expiry so one caller can refresh it while the others
are still answered from the stale copy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .metrics import Metrics
from .settings import Settings

log = logging.getLogger("movies_api.cache")

Loader = Callable[[], Awaitable[Any]]
REDIS_ERRORS = (RedisError, OSError, TimeoutError)
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end"
)
_POLL_SECONDS = 0.01
SEARCH_GENERATION_KEY = "search:gen"


def make_redis(settings: Settings, password: str | None = None) -> aioredis.Redis:
    # No retries and short timeouts: a dead Redis must cost one timeout, after which the
    # breaker skips it; retries would multiply the latency added to every request.
    return aioredis.Redis.from_url(
        settings.redis_url,
        password=password or None,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


@dataclass
class Cache:
    settings: Settings
    metrics: Metrics
    client: aioredis.Redis | None = None
    _open_until: float = 0.0
    _inflight: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def active(self) -> bool:
        return self.client is not None and self.settings.cache_active

    # -- circuit breaker -------------------------------------------------------------
    def _usable(self) -> bool:
        if not self.active:
            return False
        if time.monotonic() < self._open_until:
            self.metrics.cache_bypassed.inc()
            return False
        self.metrics.redis_breaker_open.set(0)
        return True

    def _trip(self, exc: BaseException) -> None:
        self.metrics.cache_errors.inc()
        self.metrics.redis_breaker_open.set(1)
        self._open_until = time.monotonic() + self.settings.redis_breaker_seconds
        log.warning(
            "redis error %s: %s; bypassing cache for %.1fs",
            type(exc).__name__,
            exc,
            self.settings.redis_breaker_seconds,
        )

    # -- entries ---------------------------------------------------------------------
    def _ttl(self, base: int) -> float:
        jitter = self.settings.cache_ttl_jitter
        return base * random.uniform(1 - jitter, 1 + jitter)

    def _base_ttl(self, key: str) -> int:
        # Search pages are many, cheap to rebuild and retired by writes anyway: shorter TTL.
        if key.startswith("search:"):
            return self.settings.search_ttl_seconds
        return self.settings.cache_ttl_seconds

    def _encode(self, key: str, value: Any) -> tuple[bytes, int]:
        if value is None:
            soft = self._ttl(self.settings.cache_negative_ttl_seconds)
            hard = soft
        else:
            soft = self._ttl(self._base_ttl(key))
            hard = soft + self.settings.cache_stale_seconds
        body = json.dumps({"s": time.time() + soft, "v": value}, separators=(",", ":"))
        return body.encode(), max(1, int(hard * 1000))

    async def _store(self, key: str, value: Any) -> None:
        body, ttl_ms = self._encode(key, value)
        assert self.client is not None
        await self.client.set(key, body, px=ttl_ms)

    async def set(self, key: str, value: Any) -> None:
        """Write-through after a write on the primary (value None caches a 404)."""
        if not self._usable():
            return
        try:
            await self._store(key, value)
        except REDIS_ERRORS as exc:
            self._trip(exc)

    async def delete(self, *keys: str) -> None:
        if not self._usable():
            return
        assert self.client is not None
        try:
            await self.client.delete(*keys)
        except REDIS_ERRORS as exc:
            self._trip(exc)

    async def search_generation(self) -> int:
        """A counter bumped by every write; search keys include it, so writes retire them."""
        if not self._usable():
            return 0
        assert self.client is not None
        try:
            raw = await self.client.get(SEARCH_GENERATION_KEY)
        except REDIS_ERRORS as exc:
            self._trip(exc)
            return 0
        return int(raw or 0)

    async def bump_search_generation(self) -> None:
        if not self._usable():
            return
        assert self.client is not None
        try:
            await self.client.incr(SEARCH_GENERATION_KEY)
        except REDIS_ERRORS as exc:
            self._trip(exc)

    async def ping(self) -> str:
        if not self.active:
            return "disabled"
        assert self.client is not None
        try:
            await self.client.ping()
            return "ok"
        except REDIS_ERRORS as exc:
            return f"error: {type(exc).__name__}"

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self.client is not None:
            await self.client.aclose()

    # -- reads -----------------------------------------------------------------------
    async def get_or_load(self, kind: str, key: str, loader: Loader) -> Any:
        """The cached value for `key`, loading it with `loader` on a miss (None = 404)."""
        if not self.settings.stampede_protection:
            return await self._fetch(kind, key, loader) if self._usable() else await loader()
        # In-process single flight, with or without Redis: concurrent callers in this process
        # share one fill. The Redis lock in _fill_single_flight does the same across
        # processes and instances.
        pending = self._inflight.get(key)
        if pending is not None:
            self.metrics.cache_coalesced.inc()
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this caller itself is being cancelled
                # The leader was cancelled (its client went away): load for ourselves.
                return await self.get_or_load(kind, key, loader)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await (self._fetch(kind, key, loader) if self._usable() else loader())
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: there may be no waiter
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._inflight[key]

    async def _get(self, key: str) -> dict[str, Any] | None:
        assert self.client is not None
        raw = await self.client.get(key)
        return None if raw is None else json.loads(raw)

    async def _fetch(self, kind: str, key: str, loader: Loader) -> Any:
        try:
            entry = await self._get(key)
        except REDIS_ERRORS as exc:
            self._trip(exc)
            return await loader()
        if entry is not None:
            self.metrics.cache_hits.labels(kind=kind).inc()
            if entry["s"] < time.time() and entry["v"] is not None:
                self.metrics.cache_stale.labels(kind=kind).inc()
                await self._refresh_in_background(key, loader)
            return entry["v"]
        self.metrics.cache_misses.labels(kind=kind).inc()
        if not self.settings.stampede_protection:
            value = await loader()
            await self.set(key, value)
            return value
        return await self._fill_single_flight(key, loader)

    async def _lock(self, key: str) -> str | None:
        assert self.client is not None
        token = secrets.token_hex(8)
        got = await self.client.set(f"lock:{key}", token, nx=True, px=self.settings.cache_lock_ms)
        return token if got else None

    async def _unlock(self, key: str, token: str) -> None:
        assert self.client is not None
        try:
            await self.client.eval(_RELEASE, 1, f"lock:{key}", token)
        except REDIS_ERRORS as exc:
            self._trip(exc)

    async def _fill_single_flight(self, key: str, loader: Loader) -> Any:
        deadline = time.monotonic() + self.settings.cache_lock_ms / 1000
        waited = False
        while True:
            try:
                token = await self._lock(key)
                if token is None:
                    if not waited:
                        self.metrics.cache_lock_waits.inc()
                        waited = True
                    await asyncio.sleep(_POLL_SECONDS)
                    entry = await self._get(key)
                    if entry is not None:
                        return entry["v"]
                    if time.monotonic() < deadline:
                        continue
                    # The holder is slow or died: answer from the database rather than wait.
                    return await loader()
            except REDIS_ERRORS as exc:
                self._trip(exc)
                return await loader()
            try:
                # Double-checked: the previous holder may have filled the key and released
                # the lock between our miss and our SET NX; loading again would be the
                # duplicate query this lock exists to prevent.
                try:
                    entry = await self._get(key)
                except REDIS_ERRORS as exc:
                    self._trip(exc)
                    entry = None
                if entry is not None:
                    return entry["v"]
                value = await loader()
                await self.set(key, value)
                return value
            finally:
                await self._unlock(key, token)

    async def _refresh_in_background(self, key: str, loader: Loader) -> None:
        try:
            token = await self._lock(key)
        except REDIS_ERRORS as exc:
            self._trip(exc)
            return
        if token is None:
            return  # another caller is already refreshing it

        async def refresh() -> None:
            try:
                await self.set(key, await loader())
            except Exception:
                log.exception("background refresh of %s failed", key)
            finally:
                await self._unlock(key, token)

        task = asyncio.create_task(refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
