"""Helpers shared by the service tests."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from movies_api.db import last_record_end

from lab.localservers import free_port
from lab.stack import service_python


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
        # written yet, so pg_current_wal_lsn() can be behind it. At a page's start it is
        # reported past the page header, where replay never gets on an idle primary (a
        # fresh-clone run waited 10 s at "24 bytes behind"): the service's own correction.
        target = last_record_end(await p.fetchval("SELECT pg_current_wal_insert_lsn()"))
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


class Reply:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k == name.lower()]
        return ", ".join(found) if found else None

    @property
    def closes(self) -> bool:
        return "close" in (self.header("connection") or "").lower()

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.headers}, {self.body[:200]!r})"


class RawHTTP:
    """One HTTP/1.1 connection to 127.0.0.1 that sends exactly the bytes it is given.

    httpx and h11 refuse to *send* malformed requests, which is what the hostile-input
    tests need to send; responses are parsed here (Content-Length, chunked, or no body).
    """

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        import socket

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def __enter__(self) -> RawHTTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before {marker!r}; got {self.buffer[:200]!r}")
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def _read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not self._fill():
                raise ConnectionError(f"closed after {len(self.buffer)} of {n} body bytes")
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def response(self, method: bytes = b"GET") -> Reply:
        while True:
            head = self._read_until(b"\r\n\r\n").decode("latin-1")
            status_line, *lines = head.split("\r\n")
            status = int(status_line.split(" ", 2)[1])
            headers = [
                (k.strip().lower(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines)
            ]
            if status >= 200:  # skip 100 Continue and other interim responses
                break
        reply = Reply(status, headers, b"")
        if method == b"HEAD" or status in (204, 304):
            return reply
        if reply.header("content-length") is not None:
            reply.body = self._read_exactly(int(reply.header("content-length") or 0))
        elif "chunked" in (reply.header("transfer-encoding") or ""):
            parts = []
            while size := int(self._read_until(b"\r\n").split(b";")[0], 16):
                parts.append(self._read_exactly(size))
                self._read_exactly(2)
            self._read_until(b"\r\n")
            reply.body = b"".join(parts)
        else:
            while self._fill():
                pass
            reply.body, self.buffer = self.buffer, b""
        return reply

    def request(self, data: bytes) -> Reply:
        self.send(data)
        return self.response(data.split(b" ", 1)[0])

    def still_serves(self) -> bool:
        """Whether this same connection answers one more ordinary request."""
        try:
            return self.request(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").status == 200
        except OSError:
            return False


@contextmanager
def serve_process(
    env: Mapping[str, str], log_dir: Path, name: str
) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    """`python -m movies_api serve` on a free 127.0.0.1 port with `env`, its output in
    `log_dir/<name>-<port>.log` (a file, not a pipe: nobody drains a pipe while tests run,
    and the warnings hostile requests cause would fill it and stall the server); yields
    (port, process, log) once /healthz answers 200, and stops it after."""
    port = free_port()
    log = log_dir / f"{name}-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [service_python(), "-m", "movies_api", "serve", "--port", str(port),
             "--log-level", "warning"],
            env={**env, "PYTHONPATH": "app_image"}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        # One client for the whole wait: `httpx.get` makes a client, and with it an SSL
        # context (~20 ms of CPU, the certificate store loaded), at every 0.1 s poll.
        with httpx.Client(timeout=1) as client:
            while True:
                try:
                    if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"serve did not start: {tail}")
                time.sleep(0.1)
        yield port, proc, log
    finally:
        proc.terminate()
        proc.wait(timeout=15)
