"""Session servers for the service tests: PostgreSQL primary + streaming replica, Redis and the
S3 stand-in (moto's server), all started by their launchers (devservers/, through
lab/localservers.py) without durability, on free 127.0.0.1 ports in a temp dir that is
removed at the end. Under pytest-xdist each worker that runs a test here starts its own."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import httpx
import pytest
from movies_api.app import create_app
from movies_api.migrate import migrate
from movies_api.seed import run_seed
from movies_api.settings import Settings, load_settings

from lab.localservers import S3, Postgres, Redis, free_port, temp_root
from tests.app.support import serve_process

SEED_MOVIES = 2000
BUCKET = "movies-media-test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Servers:
    root: Path
    primary: Postgres
    replica: Postgres
    redis: Redis
    s3_endpoint: str
    keys: dict[str, dict[str, str]]

    def key(self, name: str) -> str:
        return self.keys[name]["api_key"]

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "MOVIES_DATABASE_URL": self.primary.url(),
            "MOVIES_DATABASE_READER_URLS": self.replica.url(),
            "MOVIES_REDIS_URL": self.redis.url,
            "MOVIES_MEDIA_BUCKET": BUCKET,
            "MOVIES_S3_ENDPOINT_URL": self.s3_endpoint,
            "MOVIES_STAGE": "test",
            "AWS_REGION": "us-east-1",
            "MOVIES_DB_POOL_MAX": "20",
            # Generous: a loaded 2-core CI box can stall a Redis reply past the 0.25 s
            # default, which would (correctly) trip the breaker and make counts flaky.
            "MOVIES_REDIS_TIMEOUT_SECONDS": "2",
        }
        env.update(extra)
        return env

    def settings(self, **extra: str) -> Settings:
        return load_settings(self.env(**extra))


async def _prepare(url: str, keys_out: Path) -> dict[str, dict[str, str]]:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    result = await run_seed(url, SEED_MOVIES, 7, reset=False, users=2, keys_out=keys_out)
    return result.keys


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    root = temp_root("movies-test-")
    primary, redis = Postgres(root / "primary"), Redis(root / "redis")
    replica: Postgres | None = None
    moto = S3(root / "s3")
    try:
        moto.start()
        primary.init()
        redis.start()
        keys = asyncio.run(_prepare(primary.url(), root / "keys.json"))
        replica = primary.replica(root / "replica")
        endpoint = moto.endpoint
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=BUCKET)
        yield Servers(root, primary, replica, redis, endpoint, keys)
    finally:
        moto.stop()
        if replica is not None:
            replica.stop()
        primary.stop()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _leave_an_event_loop() -> Iterator[None]:
    yield
    # asyncio.run() and anyio end by setting the main thread's loop to None; tests run
    # later in the same session (Pulumi's mocks) call asyncio.get_event_loop() and need one.
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


@pytest.fixture(autouse=True)
def _aws_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Presigning needs credentials; these fake ones keep boto3 away from any real account.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


AppFactory = Callable[..., Any]


@pytest.fixture
def app_client(servers: Servers) -> AppFactory:
    """`async with app_client(**env) as (client, app):` a started app over ASGI."""

    @asynccontextmanager
    async def factory(
        settings: Settings | None = None, **env: str
    ) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
        app = create_app(settings or servers.settings(**env))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                yield client, app

    return factory


@pytest.fixture
def flush_redis(servers: Servers) -> None:
    import redis

    client = redis.Redis.from_url(servers.redis.url)
    client.flushall()
    client.close()


@dataclass
class Live:
    """A `python -m movies_api serve` process (the server stack production runs)."""

    base: str
    port: int
    pid: int
    writer_key: str
    reader_key: str
    log: Path  # the server's stdout and stderr

    def log_text(self, since: int = 0) -> str:
        return self.log.read_bytes()[since:].decode("utf-8", "replace")


async def _fresh_database(admin_url: str, db: str) -> tuple[str, dict[str, dict[str, str]]]:
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
    return url, keys


@pytest.fixture(scope="session")
def live(servers: Servers) -> Iterator[Live]:
    # Its own database and Redis db: the fuzzers delete and rewrite movies other tests read.
    url, keys = asyncio.run(_fresh_database(servers.primary.url(), "fuzz"))
    env = {**os.environ, **servers.env(MOVIES_DATABASE_URL=url, MOVIES_DATABASE_READER_URLS="",
                                        MOVIES_REDIS_URL=servers.redis.url[:-1] + "1"),
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    with serve_process(env, servers.root, "live-serve") as (port, proc, log):
        yield Live(
            f"http://127.0.0.1:{port}",
            port,
            proc.pid,
            keys["demo-writer"]["api_key"],
            keys["demo-reader"]["api_key"],
            log,
        )


@pytest.fixture(scope="session")
def alb_base(live: Live, servers: Servers) -> Iterator[str]:
    """The lab's ALB stand-in (nginx, `lab.nginx.alb_conf`: no retries, the `/metrics*`
    404 rule, its own JSON 400/413) in front of the live service, as at load-balanced."""
    from lab import nginx
    from lab.procs import stop
    from lab.state import Registry

    prefix = servers.root / "alb"
    registry = Registry(path=prefix / "registry.json")
    port = free_port()
    try:
        nginx.start(registry, "alb", prefix, port, nginx.alb_conf(prefix, port, [live.port]))
        yield f"http://127.0.0.1:{port}"
    finally:
        for record in registry.processes:
            stop(record)
