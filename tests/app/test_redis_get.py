"""The pipelined GET (redis_get.py) against a real redis-server: values matched to their
callers under concurrency, AUTH and SELECT, and the failures the breaker relies on."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from movies_api.redis_get import PipelinedGet
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lab.localservers import free_port

pytestmark = [pytest.mark.servers, pytest.mark.anyio]


@pytest.fixture
def locked_redis(tmp_path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A redis-server that wants a password ("s3cret")."""
    port = free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(tmp_path), "--requirepass", "s3cret"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port, password="s3cret").ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield port, proc
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)


async def test_concurrent_gets_each_get_their_own_value(locked_redis) -> None:
    port, _ = locked_redis
    sync = redis.Redis(port=port, password="s3cret", db=2)
    sync.mset({f"k{i}": f"v{i}".encode() * (i % 7 + 1) for i in range(2000)})
    getter = PipelinedGet(f"redis://127.0.0.1:{port}/2", "s3cret", 2.0)
    try:
        keys = [f"k{i}" for i in range(2000)] + ["missing"]
        values = await asyncio.gather(*(getter.get(k) for k in keys))
        assert values[:-1] == [f"v{i}".encode() * (i % 7 + 1) for i in range(2000)]
        assert values[-1] is None
        assert getter._protocol is not None  # one connection served them all
    finally:
        getter.close()
        sync.close()


async def test_a_wrong_password_is_a_connection_error(locked_redis) -> None:
    port, _ = locked_redis
    getter = PipelinedGet(f"redis://127.0.0.1:{port}/0", "wrong", 2.0)
    with pytest.raises(RedisConnectionError, match="refused the connection"):
        await getter.get("k")


async def test_a_stalled_redis_times_out_and_the_next_get_reconnects(locked_redis) -> None:
    port, proc = locked_redis
    redis.Redis(port=port, password="s3cret").set("k", b"v")
    getter = PipelinedGet(f"redis://127.0.0.1:{port}/0", "s3cret", 0.3)
    try:
        assert await getter.get("k") == b"v"
        os.kill(proc.pid, signal.SIGSTOP)
        started = time.monotonic()
        results = await asyncio.gather(
            *(getter.get("k") for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(r, RedisTimeoutError) for r in results), results
        assert time.monotonic() - started < 1.0  # one timeout, not ten in a row
        os.kill(proc.pid, signal.SIGCONT)
        assert await getter.get("k") == b"v"
    finally:
        getter.close()


async def test_a_killed_redis_fails_waiting_gets_at_once(locked_redis) -> None:
    port, proc = locked_redis
    getter = PipelinedGet(f"redis://127.0.0.1:{port}/0", "s3cret", 5.0)
    try:
        assert await getter.get("nothing") is None
        os.kill(proc.pid, signal.SIGSTOP)
        pending = [asyncio.ensure_future(getter.get("k")) for _ in range(5)]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        proc.kill()  # SIGKILL works on a stopped process; the socket closes
        results = await asyncio.gather(*pending, return_exceptions=True)
        assert all(isinstance(r, RedisConnectionError) for r in results), results
        assert time.monotonic() - started < 1.0  # not the 5 s timeout
        # refused, or (while the dying server's socket is torn down) accepted then reset
        with pytest.raises(RedisConnectionError):
            await getter.get("k")
    finally:
        getter.close()


async def test_rediss_verifies_the_server_certificate(tmp_path, monkeypatch) -> None:
    """rediss:// (ElastiCache's in-transit encryption): TLS with the certificate checked
    against the trusted CAs and the host name; an untrusted certificate is refused."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key),
         "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no", "--save", "",
         "--dir", str(tmp_path), "--requirepass", "tok"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:  # listening yet? (a TCP connect; the TLS handshake comes later)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not listen with TLS"
                await asyncio.sleep(0.05)
        untrusted = PipelinedGet(f"rediss://127.0.0.1:{port}/0", "tok", 2.0)
        with pytest.raises(RedisConnectionError, match="cannot connect"):
            await untrusted.get("k")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test's own CA
        getter = PipelinedGet(f"rediss://127.0.0.1:{port}/0", "tok", 2.0)
        try:
            assert await getter.execute(b"SET", b"k", b"v") == b"OK"
            assert await getter.get("k") == b"v"
        finally:
            getter.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
