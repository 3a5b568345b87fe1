"""Cache-aside in Redis: TTL jitter, negative entries, single-flight fills, stale-while-
revalidate, versioned fills, a small in-process cache for hot keys, and a circuit breaker
that sends everything to the database while Redis is down.

An entry is one Redis string, a one-line header and the response body exactly as sent:

    b"<version> <soft-expiry ms> <+|-> <meta>\\n<body>"

- version: when the row was last written on the primary, in microseconds (0 = unknown: a
  search page, or a miss read from a replica that has no row). A fill stores its entry
  only if the entry in Redis is not newer (`_STORE`, one Lua script, so atomic): a read
  that missed and read a lagging replica cannot overwrite a concurrent write's
  write-through (issue 15 item 1, the cache-aside race memcache's leases exist for).
- soft expiry: after it one caller refreshes the entry while the others are still
  answered from it; Redis keeps the key `stale_seconds` longer.
- `-` is a cached 404 (no body); `+` an entry whose body is the response.
- meta: what the handler needs but does not send (a movie's poster key); no newline.

A hit parses the header only and hands back the body bytes, which go to the client as
they are: no JSON decode, no envelope, no encode.

Entries live under `c2:<key>`. Until every instance runs this format, writes also delete
the key the previous format used (`<key>`), so an instance still on it cannot keep
serving a row a newer instance changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .metrics import Metrics
from .redis_get import PipelinedGet
from .settings import Settings

log = logging.getLogger("movies_api.cache")

REDIS_ERRORS = (RedisError, OSError, TimeoutError)
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end"
)
# KEYS[1] the entry, KEYS[2] the previous format's key, KEYS[3] the key's write fence.
# ARGV: entry, its version, TTL ms, mode, the entry's flag (+ a row, - a 404), fence TTL ms.
# Three keys in one script need a Redis that is not in cluster mode (they would hash to
# different slots); the stages' ElastiCache replication groups are not (num_cache_clusters).
# Returns nil when stored, the (newer) entry that is kept, or "!" when a replica fill is
# older than the key's write fence. An entry whose header does not parse (another format)
# counts as older. Versions are < 2^53, exact as Lua numbers.
#
# The fence (issue 22 item 1) is `<version> <+|->` of the key's last write, kept
# `write_fence_seconds` whatever the entry's own TTL: a cached 404 lives 30 s, but a
# replica that has not replayed the DELETE still returns the row after that, and used to
# bring the deleted movie back. Modes: "w" a write-through (stores, and moves the fence
# forward), "r" a fill read from a replica (refused if the fence is newer: a row older
# than it, or a 404 where the last write left a row), "p" a fill read from the primary.
_STORE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+) '))
  if v and v > tonumber(ARGV[2]) then return cur end
end
if ARGV[4] == 'r' then
  local f = redis.call('GET', KEYS[3])
  if f then
    local fv, fk = string.match(f, '^(%d+) ([+-])$')
    fv = tonumber(fv)
    if fv and ((ARGV[5] == '+' and tonumber(ARGV[2]) < fv) or (ARGV[5] == '-' and fk == '+')) then
      return '!'
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
if ARGV[4] == 'w' then
  local f = redis.call('GET', KEYS[3])
  local fv = f and tonumber(string.match(f, '^(%d+) '))
  if not fv or fv <= tonumber(ARGV[2]) then
    redis.call('SET', KEYS[3], ARGV[2] .. ' ' .. ARGV[5], 'PX', ARGV[6])
  end
end
return false
"""
_STORE_BYTES = _STORE.encode()
_RELEASE_BYTES = _RELEASE.encode()
_POLL_SECONDS = 0.01
_PREFIX = "c2:"
FENCE_PREFIX = "f:"
# What _store answers when a replica fill is older than the key's write fence.
FENCED = object()
SEARCH_GENERATION_KEY = "search:gen"


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached answer: `body` is the response body, None for a 404."""

    body: bytes | None
    version: int = 0
    meta: str = ""


Loader = Callable[[], Awaitable[Entry]]
# Store modes of _STORE: a write-through, a fill read from a replica, one from the primary.
WRITE, REPLICA_FILL, PRIMARY_FILL = b"w", b"r", b"p"


def encode_entry(entry: Entry, soft_expiry_ms: int) -> bytes:
    if "\n" in entry.meta:
        raise ValueError(f"cache entry meta must be one line, got {entry.meta!r}")
    flag = b"-" if entry.body is None else b"+"
    head = b"%d %d %s %s\n" % (entry.version, soft_expiry_ms, flag, entry.meta.encode())
    return head if entry.body is None else head + entry.body


def decode_entry(raw: bytes) -> tuple[Entry, int] | None:
    """(entry, soft expiry ms), or None for bytes that are not an entry of this format."""
    end = raw.find(b"\n")
    if end < 0:
        return None
    parts = raw[:end].split(b" ", 3)
    if len(parts) != 4 or parts[2] not in (b"+", b"-"):
        return None
    try:
        version, soft = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    body = None if parts[2] == b"-" else raw[end + 1 :]
    return Entry(body, version, parts[3].decode()), soft


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


def make_getter(settings: Settings, password: str | None = None) -> PipelinedGet | None:
    """The cache-hit path's GET on one pipelined connection (redis_get.py), unless
    MOVIES_REDIS_PIPELINED_GET=false leaves it to redis-py like every other command."""
    if not settings.redis_pipelined_get:
        return None
    return PipelinedGet(settings.redis_url, password, settings.redis_timeout_seconds)


@dataclass
class Cache:
    settings: Settings
    metrics: Metrics
    client: aioredis.Redis | None = None
    getter: PipelinedGet | None = None
    _open_until: float = 0.0
    _inflight: dict[str, asyncio.Future[Entry]] = field(default_factory=dict)
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    _probe: asyncio.Task[None] | None = None
    # key -> (monotonic expiry, entry): the hot keys, answered without a Redis round trip.
    _local: OrderedDict[str, tuple[float, Entry]] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        m = self.metrics
        # Label lookups take a lock and a dict walk: done once here, not per request.
        self._hits = {k: m.cache_hits.labels(kind=k) for k in ("movie", "search")}
        self._misses = {k: m.cache_misses.labels(kind=k) for k in ("movie", "search")}
        self._stale = {k: m.cache_stale.labels(kind=k) for k in ("movie", "search")}
        self._local_hits = {k: m.cache_local_hits.labels(kind=k) for k in ("movie", "search")}
        self._local_seconds = self.settings.hot_cache_ms / 1000
        self._local_size = self.settings.hot_cache_size if self._local_seconds > 0 else 0

    @property
    def active(self) -> bool:
        return self.client is not None and self.settings.cache_active

    # -- circuit breaker -------------------------------------------------------------
    def _usable(self) -> bool:
        if not self.active:
            return False
        if self._open_until and time.monotonic() < self._open_until:
            self.metrics.cache_bypassed.inc()
            return False
        if self._open_until:
            self._open_until = 0.0
            self.metrics.redis_breaker_open.set(0)
        return True

    def _trip(self, exc: BaseException) -> None:
        self.metrics.cache_errors.inc()
        self.metrics.redis_breaker_open.set(1)
        self._open_until = time.monotonic() + self.settings.redis_breaker_seconds
        log.warning(
            "redis error %s: %s; bypassing cache for up to %.1fs",
            type(exc).__name__,
            exc,
            self.settings.redis_breaker_seconds,
        )
        # After a Redis restart every pooled connection is dead, and each would fail (and
        # trip the breaker again) the first time it is used: drop them all, and let a probe
        # close the breaker as soon as a fresh connection answers (issue 15 item 8).
        if self.client is not None and isinstance(exc, (RedisConnectionError, OSError)):
            self._spawn(self.client.connection_pool.disconnect(inuse_connections=False))
        if self.getter is not None:
            self.getter.close()
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._probe_until_closed())

    async def _probe_until_closed(self) -> None:
        assert self.client is not None
        interval = max(0.05, min(0.5, self.settings.redis_breaker_seconds / 4))
        while time.monotonic() < self._open_until:
            await asyncio.sleep(interval)
            try:
                await self.client.ping()
            except REDIS_ERRORS:
                continue
            self._open_until = 0.0
            self.metrics.redis_breaker_open.set(0)
            log.info("redis answers again; cache back on")
            return

    def _spawn(self, work: Awaitable[object]) -> None:
        async def run() -> None:
            with contextlib.suppress(*REDIS_ERRORS):
                await work

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- entries ---------------------------------------------------------------------
    def _ttl(self, base: int) -> float:
        jitter = self.settings.cache_ttl_jitter
        return base * random.uniform(1 - jitter, 1 + jitter)

    def _base_ttl(self, key: str) -> int:
        # Search pages are many, cheap to rebuild and retired by writes anyway: shorter TTL.
        if key.startswith("search:"):
            return self.settings.search_ttl_seconds
        return self.settings.cache_ttl_seconds

    def _encode(self, key: str, entry: Entry) -> tuple[bytes, int]:
        if entry.body is None:
            soft = self._ttl(self.settings.cache_negative_ttl_seconds)
            hard = soft
        else:
            soft = self._ttl(self._base_ttl(key))
            hard = soft + self.settings.cache_stale_seconds
        soft_ms = int((time.time() + soft) * 1000)
        return encode_entry(entry, soft_ms), max(1, int(hard * 1000))

    async def _store(self, key: str, entry: Entry, mode: bytes) -> Entry | object | None:
        """Store unless Redis holds a newer version (returns that newer entry) or, for a
        replica fill, the key's write fence is newer (returns FENCED)."""
        data, ttl_ms = self._encode(key, entry)
        flag = b"-" if entry.body is None else b"+"
        fence_ms = b"%d" % (self.settings.write_fence_seconds * 1000)
        # EVAL with the script's text, not EVALSHA: no NOSCRIPT after a Redis restart, and
        # Redis keeps the compiled script by its hash either way.
        kept = await self._command(
            b"EVAL", _STORE_BYTES, b"3", (_PREFIX + key).encode(), key.encode(),
            (FENCE_PREFIX + key).encode(), data, b"%d" % entry.version, b"%d" % ttl_ms, mode,
            flag, fence_ms,
        )  # fmt: skip
        if kept is None:
            return None
        if kept == b"!":
            return FENCED
        decoded = decode_entry(kept)
        return None if decoded is None else decoded[0]

    async def set(self, key: str, entry: Entry) -> None:
        """Write-through after a write on the primary (a body of None caches a 404)."""
        self._local.pop(key, None)
        if not self._usable():
            return
        try:
            await self._store(key, entry, WRITE)
        except REDIS_ERRORS as exc:
            self._trip(exc)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._local.pop(key, None)
        if not self._usable():
            return
        assert self.client is not None
        try:
            await self.client.delete(*(_PREFIX + k for k in keys), *keys)
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
        if self._probe is not None:
            self._probe.cancel()
        for task in list(self._background):
            task.cancel()
        if self.getter is not None:
            self.getter.close()
        if self.client is not None:
            await self.client.aclose()

    # -- the in-process hot-key cache -----------------------------------------------
    def _local_get(self, key: str) -> Entry | None:
        found = self._local.get(key)
        if found is None:
            return None
        if found[0] < time.monotonic():
            del self._local[key]
            return None
        self._local.move_to_end(key)
        return found[1]

    def _local_put(self, key: str, entry: Entry) -> None:
        self._local[key] = (time.monotonic() + self._local_seconds, entry)
        self._local.move_to_end(key)
        if len(self._local) > self._local_size:
            self._local.popitem(last=False)  # least recently used

    # -- reads -----------------------------------------------------------------------
    async def get_or_load(
        self, kind: str, key: str, loader: Loader, primary: Loader | None = None
    ) -> Entry:
        """The cached entry for `key`, loading it with `loader` on a miss.

        `primary` reads the same from the primary: given, `loader`'s result is checked
        against the key's write fence and read again with `primary` when it is older."""
        if self._local_size:
            local = self._local_get(key)
            if local is not None:
                self._hits[kind].inc()
                self._local_hits[kind].inc()
                return local
        if not self.settings.stampede_protection:
            if not self._usable():
                return await loader()
            return await self._fetch(kind, key, loader, primary)
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
                return await self.get_or_load(kind, key, loader, primary)
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await (self._fetch(kind, key, loader, primary) if self._usable() else loader())
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

    async def _command(self, *parts: bytes) -> object:
        """One command of the read path: on the pipelined connection when there is one."""
        if self.getter is not None:
            return await self.getter.execute(*parts)
        assert self.client is not None
        return await self.client.execute_command(*parts)

    async def _get(self, key: str) -> tuple[Entry, int] | None:
        if self.getter is not None:
            raw = await self.getter.get(_PREFIX + key)
        else:
            assert self.client is not None
            raw = await self.client.get(_PREFIX + key)
        return None if raw is None else decode_entry(raw)

    async def _fetch(
        self, kind: str, key: str, loader: Loader, primary: Loader | None = None
    ) -> Entry:
        try:
            found = await self._get(key)
        except REDIS_ERRORS as exc:
            self._trip(exc)
            return await loader()
        if found is not None:
            entry, soft_ms = found
            self._hits[kind].inc()
            if soft_ms < time.time() * 1000:
                if entry.body is not None:
                    self._stale[kind].inc()
                    await self._refresh_in_background(key, loader, primary)
            elif self._local_size:
                self._local_put(key, entry)
            return entry
        self._misses[kind].inc()
        if not self.settings.stampede_protection:
            return await self._fill(key, await loader(), primary)
        return await self._fill_single_flight(key, loader, primary)

    async def _fill(self, key: str, loaded: Entry, primary: Loader | None = None) -> Entry:
        """Store what a miss loaded; if Redis has a newer write, answer with that instead;
        if the key's write fence is newer than what a replica gave, read the primary."""
        if not self._usable():
            return loaded
        try:
            mode = PRIMARY_FILL if primary is None else REPLICA_FILL
            newer = await self._store(key, loaded, mode)
            if newer is FENCED:
                assert primary is not None
                self.metrics.cache_fenced.inc()
                loaded = await primary()
                newer = await self._store(key, loaded, PRIMARY_FILL)
        except REDIS_ERRORS as exc:
            self._trip(exc)
            return loaded
        return loaded if not isinstance(newer, Entry) else newer

    async def _lock(self, key: str) -> str | None:
        assert self.client is not None
        token = secrets.token_hex(8)
        got = await self._command(
            b"SET", f"lock:{key}".encode(), token.encode(), b"NX", b"PX",
            b"%d" % self.settings.cache_lock_ms,
        )  # fmt: skip
        return token if got else None

    async def _unlock(self, key: str, token: str) -> None:
        assert self.client is not None
        try:
            await self._command(
                b"EVAL", _RELEASE_BYTES, b"1", f"lock:{key}".encode(), token.encode()
            )
        except REDIS_ERRORS as exc:
            self._trip(exc)

    async def _fill_single_flight(
        self, key: str, loader: Loader, primary: Loader | None = None
    ) -> Entry:
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
                    found = await self._get(key)
                    if found is not None:
                        return found[0]
                    if time.monotonic() < deadline:
                        continue
                    # The holder is slow or died: answer from the database rather than wait
                    # (through _fill, so the answer passes the write fence too).
                    return await self._fill(key, await loader(), primary)
            except REDIS_ERRORS as exc:
                self._trip(exc)
                return await loader()
            try:
                # Double-checked: the previous holder may have filled the key and released
                # the lock between our miss and our SET NX; loading again would be the
                # duplicate query this lock exists to prevent.
                try:
                    found = await self._get(key)
                except REDIS_ERRORS as exc:
                    self._trip(exc)
                    found = None
                if found is not None:
                    return found[0]
                return await self._fill(key, await loader(), primary)
            finally:
                await self._unlock(key, token)

    async def _refresh_in_background(
        self, key: str, loader: Loader, primary: Loader | None = None
    ) -> None:
        try:
            token = await self._lock(key)
        except REDIS_ERRORS as exc:
            self._trip(exc)
            return
        if token is None:
            return  # another caller is already refreshing it

        async def refresh() -> None:
            try:
                await self._fill(key, await loader(), primary)
            except Exception:
                log.exception("background refresh of %s failed", key)
            finally:
                await self._unlock(key, token)

        task = asyncio.create_task(refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
