"""Schemathesis fuzzes /openapi.json against a live `python -m movies_api serve` process:
valid and invalid inputs on every operation, anonymous and as a writer, never a 5xx, and
every response matches the documented status codes, content types and schemas."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from movies_api import __version__
from movies_api.localservers import free_port
from movies_api.migrate import migrate
from movies_api.openapi import openapi_spec
from movies_api.seed import run_seed
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.servers
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]  # fmt: skip


async def _fresh_database(admin_url: str, db: str) -> tuple[str, str]:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {db}")
        await conn.execute(f"CREATE DATABASE {db}")
    finally:
        await conn.close()
    url = admin_url.rsplit("/", 1)[0] + f"/{db}"
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    keys = (await run_seed(url, 300, 3, reset=False, users=0, keys_out=None)).keys
    return url, keys["demo-writer"]["api_key"]


@pytest.fixture(scope="module")
def live(servers) -> Iterator[tuple[str, str]]:
    # Its own database: the fuzzer deletes and rewrites movies the other tests read.
    url, writer_key = asyncio.run(_fresh_database(servers.primary.url(), "fuzz"))
    port = free_port()
    env = {**os.environ, **servers.env(MOVIES_DATABASE_URL=url, MOVIES_DATABASE_READER_URLS="",
                                        MOVIES_REDIS_URL=servers.redis.url[:-1] + "1"),
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "PYTHONPATH": "app_image"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "movies_api", "serve", "--port", str(port), "--log-level",
         "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"serve did not start: {out[-2000:]}")
            time.sleep(0.1)
        yield base, writer_key
    finally:
        proc.terminate()
        proc.wait(timeout=15)


# The spec is static, so it loads at import; test_served_spec_is_the_fuzzed_spec checks the
# live server serves exactly this.
schema = schemathesis.openapi.from_dict(openapi_spec(__version__))


def test_served_spec_is_the_fuzzed_spec(live) -> None:
    assert httpx.get(f"{live[0]}/openapi.json").json() == openapi_spec(__version__)


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_anonymous(case, live) -> None:
    case.call_and_validate(base_url=live[0], checks=CHECKS, timeout=10)


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_as_writer(case, live) -> None:
    case.call_and_validate(
        base_url=live[0], headers={"X-API-Key": live[1]}, checks=CHECKS, timeout=10
    )
