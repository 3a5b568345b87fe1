"""Two HTTP/1.1 clients for the load generator, behind one small interface.

`RawClient` speaks keep-alive HTTP/1.1 over asyncio streams with no per-request objects
beyond bytes; `HttpxClient` is httpx. On two cores the generator competes with the servers
it measures, so the cheaper one leaves more CPU to them (`lab clientcheck` measures both
against nginx serving a static file; docs/lab.md has the figures)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from lab.procs import LOOPBACK


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; only the ones the lab reads
    body: bytes


WANTED = (
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"location",
    b"x-cache-status",
    b"cache-control",
    b"retry-after",  # lab move: a refused write is clean only with it
)


class LoopbackOnly(ValueError):
    pass


# What a request to a server under test raises when the server, not the client, fails: a
# refused or reset connection, a timeout, or a response cut short or malformed (the raw
# client's parser raises ValueError/IndexError on a broken status line or header).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ValueError,
    IndexError,
)


def check_loopback(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.hostname not in (LOOPBACK, "localhost"):
        raise LoopbackOnly(f"url {url!r}: the lab sends traffic to 127.0.0.1 only")
    return LOOPBACK, parts.port or 80


class RawClient:
    """One keep-alive connection per (worker, host, port); reconnects when closed."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._conns: dict[tuple[str, int], tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

    async def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Response:
        host, port = check_loopback(url)
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        head = [f"{method} {target or '/'} HTTP/1.1", f"Host: {host}:{port}"]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}")
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        try:
            return await asyncio.wait_for(self._exchange((host, port), data, method), self.timeout)
        except BaseException:
            await self._drop((host, port))
            raise

    async def _exchange(self, key: tuple[str, int], data: bytes, method: str) -> Response:
        conn = self._conns.get(key)
        fresh = conn is None
        if conn is None:
            conn = await asyncio.open_connection(*key)
            self._conns[key] = conn
        reader, writer = conn
        writer.write(data)
        try:
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            if fresh:
                raise
            # The server closed an idle keep-alive connection: retry once on a new one.
            await self._drop(key)
            return await self._exchange(key, data, method)
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        found: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname in WANTED:
                found[lname.decode()] = value.strip().decode("latin-1")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "content-length" in found:
            body = await reader.readexactly(int(found["content-length"]))
        elif found.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(reader)
        else:
            body = await reader.read()
            found["connection"] = "close"
        if found.get("connection", "").lower() == "close":
            await self._drop(key)
        return Response(status, found, body)

    async def _drop(self, key: tuple[str, int]) -> None:
        conn = self._conns.pop(key, None)
        if conn is not None:
            conn[1].close()

    async def close(self) -> None:
        for key in list(self._conns):
            await self._drop(key)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Trailers (none expected) end with an empty line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class HttpxClient:
    def __init__(self, timeout: float = 10.0) -> None:
        import httpx

        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        )

    async def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Response:
        check_loopback(url)
        resp = await self._client.request(method, url, headers=headers, content=body or None)
        wanted = {
            k.decode(): resp.headers[k.decode()] for k in WANTED if k.decode() in resp.headers
        }
        return Response(resp.status_code, wanted, resp.content)

    async def close(self) -> None:
        await self._client.aclose()


CLIENTS = {"raw": RawClient, "httpx": HttpxClient}
