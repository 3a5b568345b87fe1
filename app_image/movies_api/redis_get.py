"""The cache's read path on one pipelined Redis connection: the hit's GET, and a miss's
lock and store scripts.

redis-py's asyncio client checks a connection out of its pool, takes two locks and
awaits a stream reader for every command: measured here at 40 to 50 µs of CPU per GET at
32 concurrent callers (`python -m lab.asgi_cost`), a third of a whole cache-hit request.
Redis answers the commands of one connection in order, so every concurrent GET can share
one connection: write the command, queue a future, and resolve the futures in order as
hiredis parses the replies (the way pipelining clients work): 3.5 to 6.5 µs per GET on
the same machine. The GETs issued in
one turn of the event loop also leave in one write (one send() system call, where the
profile showed one per GET as the largest single cost). A miss's lock, double-check and
store scripts use `execute` here too (a miss made five redis-py round trips, each ~50 µs of
CPU); write-throughs share the store script. The rest (search generations, deletes,
PING) stays on redis-py.

A lost connection fails every GET waiting on it (the breaker then skips Redis) and the
next GET connects again; a GET that times out closes the connection, since replies after
it could no longer be matched to their callers. Timeouts are kept by one watchdog timer
per connection that looks at the oldest GET waiting (replies come in order, so it is the
first to be late), not by a timer per GET (~2 µs each, a third of the GET's cost).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from urllib.parse import unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


# How long an overdue GET waits for one I/O poll before it counts as timed out.
_GRACE_SECONDS = 0.001


class _Protocol(asyncio.Protocol):
    def __init__(self, timeout: float) -> None:
        self.reader = hiredis.Reader()
        # (future, deadline on the loop's clock), oldest first
        self.waiting: deque[tuple[asyncio.Future[object], float]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None
        self.outgoing: list[bytes] = []
        self.timeout = timeout
        self.watchdog: asyncio.TimerHandle | None = None
        # The oldest GET once seen past its deadline: it gets one I/O poll more (_watch).
        self.overdue: asyncio.Future[object] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.abort(RedisConnectionError(f"redis protocol error: {exc}"))
                return
            if reply is False:
                return
            if not self.waiting:  # a reply nobody asked for: the stream is out of step
                self.abort(RedisConnectionError("redis sent a reply nobody was waiting for"))
                return
            waiter = self.waiting.popleft()[0]
            if not waiter.done():
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"connection to redis lost: {exc or 'closed by server'}"))

    def abort(self, exc: BaseException) -> None:
        self._fail(exc)
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: BaseException) -> None:
        self.lost = self.lost or exc
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        while self.waiting:
            waiter = self.waiting.popleft()[0]
            if not waiter.done():
                waiter.set_exception(exc)

    def _watch(self) -> None:
        self.watchdog = None
        if not self.waiting:
            return
        loop = asyncio.get_running_loop()
        waiter, deadline = self.waiting[0]
        if loop.time() < deadline:
            self.watchdog = loop.call_at(deadline, self._watch)
        elif self.overdue is not waiter:
            # Past its deadline, but replies that came while this process was busy may be
            # sitting unread: uvloop runs due timers before it polls for I/O, so after a
            # CPU stall this timer fires ahead of the reply that arrived long ago. Look
            # again after one poll; only a GET still unanswered then timed out. The round
            # trip is measured, not the service's own queueing (issue 22 item 3: the
            # breaker tripped nine times under CPU load alone).
            self.overdue = waiter
            self.watchdog = loop.call_at(loop.time() + _GRACE_SECONDS, self._watch)
        else:
            self.abort(RedisTimeoutError(f"redis did not answer within {self.timeout}s"))

    def send(self, data: bytes) -> asyncio.Future[object]:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if self.lost is not None or self.transport is None:
            waiter.set_exception(self.lost or RedisConnectionError("not connected to redis"))
            return waiter
        if not self.outgoing:
            loop.call_soon(self.flush)
        self.outgoing.append(data)
        deadline = loop.time() + self.timeout
        self.waiting.append((waiter, deadline))
        if self.watchdog is None:
            self.watchdog = loop.call_at(deadline, self._watch)
        return waiter

    def flush(self) -> None:
        data, self.outgoing = b"".join(self.outgoing), []
        if self.transport is not None and self.lost is None:
            self.transport.write(data)


class PipelinedGet:
    """`await get(key)`: the value or None; raises redis-py's ConnectionError/TimeoutError
    (and ResponseError for an error reply), which the cache's breaker already handles."""

    def __init__(self, url: str, password: str | None, timeout: float) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.tls = parts.scheme == "rediss"
        self.db = int(parts.path.strip("/") or 0)
        self.username = unquote(parts.username) if parts.username else None
        self.password = password or (unquote(parts.password) if parts.password else None)
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def get(self, key: str) -> bytes | None:
        return await self.execute(b"GET", key.encode())  # type: ignore[return-value]

    async def execute(self, *parts: bytes) -> object:
        """Any command, as bytes; the raw reply (bytes, int, None or a list)."""
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connect()
        reply = await protocol.send(_command(*parts))
        if isinstance(reply, Exception):
            raise ResponseError(str(reply))
        return reply

    async def _connect(self) -> _Protocol:
        # Concurrent callers share one connection attempt.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
            self._connecting.add_done_callback(self._connected)
        return await asyncio.shield(self._connecting)

    def _connected(self, attempt: asyncio.Future[_Protocol]) -> None:
        self._connecting = None
        if not attempt.cancelled() and attempt.exception() is None:
            self._protocol = attempt.result()

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        context = ssl.create_default_context() if self.tls else None
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Protocol(self.timeout),
                    self.host,
                    self.port,
                    ssl=context,
                    server_hostname=self.host if self.tls else None,
                ),
                self.timeout,
            )
        except (TimeoutError, OSError) as exc:
            raise RedisConnectionError(
                f"cannot connect to redis at {self.host}:{self.port}: {exc}"
            ) from None
        hello: list[bytes] = []
        if self.password is not None:
            auth = [self.username.encode()] if self.username else []
            hello.append(_command(b"AUTH", *auth, self.password.encode()))
        if self.db:
            hello.append(_command(b"SELECT", str(self.db).encode()))
        for command in hello:
            reply = await protocol.send(command)
            if isinstance(reply, Exception):
                protocol.abort(RedisConnectionError(f"redis refused the connection: {reply}"))
                raise RedisConnectionError(f"redis refused the connection: {reply}")
        return protocol

    def close(self) -> None:
        """Drop the connection (after a Redis error): the next GET connects afresh."""
        if self._protocol is not None:
            self._protocol.abort(RedisConnectionError("connection dropped after an error"))
            self._protocol = None
