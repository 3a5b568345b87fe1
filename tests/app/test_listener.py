"""Issue 22 item 2 (finding 2): the public listener bounds what it reads. On the real
listener, `python -m movies_api serve` (uvicorn, uvloop, httptools, listener.py), as at
single-box and split-db where it faces the internet. Before: a 1 MB header and 10,000
headers got 200, two 32 MB header streams grew the process from 73 MB to 643 MB with no
reply, and 500 stalled header connections were still open after 85 s.

The limits are the ALB's (listener.py cites the page): request line 16K, one header 16K,
the header section 64K; at most 100 headers; a header read timeout; a connection cap."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from movies_api.listener import HEADER_COUNT_MAX, HEADER_MAX, HEADERS_TOTAL_MAX

from tests.app.support import RawHTTP, serve_process

pytestmark = pytest.mark.servers
HEADER_TIMEOUT_S, MAX_CONNECTIONS = 1.0, 40


@dataclass
class Served:
    port: int
    pid: int
    log: Path


@pytest.fixture(scope="module")
def served(servers) -> Iterator[Served]:
    """Its own serve process, with a short header timeout and a small connection cap so
    both can be reached in a test; reads only (no replica, no Redis needed)."""
    settings = servers.env(
        MOVIES_DATABASE_READER_URLS="",
        MOVIES_REDIS_URL="",
        MOVIES_HTTP_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
        MOVIES_HTTP_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
    )
    env = {**os.environ, **settings}
    with serve_process(env, servers.root, "listener") as (port, proc, log):
        yield Served(port, proc.pid, log)


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def _refused(reply, status: int) -> dict:
    assert reply.status == status, reply
    assert reply.closes and reply.header("content-type") == "application/json", reply
    return orjson.loads(reply.body)


def _stream(port: int, head: bytes, line: bytes, total: int) -> tuple[int, bytes]:
    """Send `head`, then `line` repeated up to `total` bytes, until the server stops
    reading; returns (bytes sent, what the server answered)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sent = 0
    try:
        sock.sendall(head)
        sock.settimeout(2)
        try:
            while sent < total:
                sock.sendall(line)
                sent += len(line)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what the test wants
        sock.settimeout(5)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return sent, answer
    finally:
        sock.close()


@pytest.mark.parametrize("shape", ["one header", "many header lines"])
def test_32_mb_header_streams_are_cut_and_memory_stays_flat(served, shape: str) -> None:
    before = _rss_kib(served.pid)
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
    if shape == "one header":
        head, line = head + b"X-Long: ", b"a" * 65536
    else:
        line = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(500))
    results = [_stream(served.port, head, line, 32 * 1024 * 1024) for _ in range(2)]
    time.sleep(0.2)
    grown = _rss_kib(served.pid) - before
    for sent, answer in results:
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:300]
        assert b"connection: close" in answer.lower()
        # Loopback buffers take a few MB before the writer blocks; 32 MB never go.
        assert sent < 8 * 1024 * 1024, f"{sent} bytes sent before the cut"
    print(f"\n{shape}: RSS {before} KiB before, grew {grown} KiB; sent {[r[0] for r in results]}")
    assert grown < 4 * 1024, f"server RSS grew {grown} KiB on two refused 32 MB header streams"


def test_a_1_mb_header_is_431(served) -> None:
    with RawHTTP(served.port) as conn:
        reply = conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 2**20
                             + b"\r\n\r\n")  # fmt: skip
    assert "over" in _refused(reply, 431)["error"]


def test_one_header_over_16k_is_431_and_one_under_is_served(served) -> None:
    with RawHTTP(served.port) as conn:
        ok = conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Fits: "
                          + b"a" * (HEADER_MAX - 100) + b"\r\n\r\n")  # fmt: skip
        assert ok.status == 200 and not ok.closes, ok
    with RawHTTP(served.port) as conn:
        reply = conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Over: "
                             + b"a" * (HEADER_MAX + 1) + b"\r\n\r\n")  # fmt: skip
    assert "x-over" in _refused(reply, 431)["error"].lower()


def test_10000_headers_are_431_and_100_are_served(served) -> None:
    def headers(n: int) -> bytes:
        return b"".join(b"X-%d: v\r\n" % i for i in range(n))

    with RawHTTP(served.port) as conn:
        ok = conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
                          + headers(HEADER_COUNT_MAX - 1) + b"\r\n")  # fmt: skip
        assert ok.status == 200, ok
    with RawHTTP(served.port) as conn:
        reply = conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + headers(10_000) + b"\r\n")
    assert f"more than {HEADER_COUNT_MAX}" in _refused(reply, 431)["error"]


def test_a_header_section_over_64k_is_431(served) -> None:
    section = b"".join(b"X-%d: " % i + b"a" * 8000 + b"\r\n" for i in range(9))
    assert len(section) - 9 * 4 > HEADERS_TOTAL_MAX  # over it without the ": " and CRLF
    with RawHTTP(served.port) as conn:
        reply = conn.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + section + b"\r\n")
    _refused(reply, 431)


def test_a_request_line_over_16k_is_414(served) -> None:
    with RawHTTP(served.port) as conn:
        reply = conn.request(b"GET /movies?q=" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    _refused(reply, 414)


def test_stalled_header_connections_are_closed_after_the_timeout(served) -> None:
    socks = []
    for i in range(30):
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
        # Half of them send part of a request and stall; half send nothing at all.
        if i % 2:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        socks.append(sock)
    started = time.monotonic()
    try:
        for sock in socks:
            answer = b""
            while chunk := sock.recv(65536):  # until the server closes
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        waited = time.monotonic() - started
    finally:
        for sock in socks:
            sock.close()
    print(f"\n30 stalled connections closed {waited:.2f}s after opening (timeout "
          f"{HEADER_TIMEOUT_S}s)")  # fmt: skip
    assert waited < HEADER_TIMEOUT_S + 2, waited
    # And a prompt client on a fresh connection is unaffected.
    assert httpx.get(f"http://127.0.0.1:{served.port}/healthz").status_code == 200


def test_connections_over_the_cap_get_503_and_are_closed(served) -> None:
    socks = [socket.create_connection(("127.0.0.1", served.port), timeout=5)
             for _ in range(MAX_CONNECTIONS + 10)]  # fmt: skip
    try:
        refused = 0
        for sock in socks:
            sock.settimeout(0.3)
            try:
                first = sock.recv(65536)
            except TimeoutError:
                continue  # held open, waiting for a request
            if first.startswith(b"HTTP/1.1 503 "):
                assert b"retry-after: 1" in first.lower() and b"too many connections" in first
                refused += 1
        assert refused == 10, refused
    finally:
        for sock in socks:
            sock.close()
