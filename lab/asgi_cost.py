"""`PYTHONPATH=app_image python -m lab.asgi_cost`: CPU per request without the HTTP layer.

Calls the service's ASGI app and the minimal app (`lab/minimal_app.py`) directly on
uvloop, 32 concurrent callers, anonymous `GET /movies/{id}` over 100 cached ids, against a
throwaway redis-server; then redis-py's asyncio GET against the pipelined GET
(`movies_api/redis_get.py`). Prints microseconds of this process's CPU per call, so what
the service adds per request beyond the HTTP server is measured apart from it (and from a
load generator on the same cores). No database: every request is a cache hit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from lab.localservers import Redis


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _drive(app: Any, requests: int, concurrency: int) -> float:
    """CPU µs per request of `requests` GETs through `app` by `concurrency` callers."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def caller(k: int) -> None:
        for j in range(requests // concurrency):
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "GET", "scheme": "http", "path": f"/movies/{(j * 7 + k) % 100 + 1}",
                "raw_path": b"", "query_string": b"", "root_path": "",
                "headers": [(b"host", b"lab"), (b"user-agent", b"lab")],
                "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {},
            }  # fmt: skip
            await app(scope, receive, send)

    start = _cpu()
    await asyncio.gather(*(caller(k) for k in range(concurrency)))
    return (_cpu() - start) / requests * 1e6


async def _gets(get: Any, requests: int, concurrency: int) -> float:
    async def caller() -> None:
        for _ in range(requests // concurrency):
            await get("c2:movie:1")

    start = _cpu()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return (_cpu() - start) / requests * 1e6


async def _run(redis_url: str, requests: int, concurrency: int, rounds: int) -> None:
    import redis.asyncio as aioredis
    from movies_api.app import create_app
    from movies_api.redis_get import PipelinedGet
    from movies_api.settings import load_settings

    from lab import minimal_app

    settings = load_settings(
        {
            "MOVIES_DATABASE_URL": "postgresql://unused@127.0.0.1:1/none",
            "MOVIES_REDIS_URL": redis_url,
        }
    )
    service = create_app(settings)
    os.environ["LAB_MINIMAL_REDIS_URL"] = redis_url
    started: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.ensure_future(minimal_app.app({"type": "lifespan"}, inbox.get, started.put))
    await started.get()
    plain = aioredis.Redis.from_url(redis_url)
    pipelined = PipelinedGet(redis_url, None, 2.0)
    try:
        async with service.router.lifespan_context(service):
            await _drive(service, 2000, concurrency)  # warm-up: connections, caches
            await _drive(minimal_app.app, 2000, concurrency)
            for _ in range(rounds):
                svc = await _drive(service, requests, concurrency)
                floor = await _drive(minimal_app.app, requests, concurrency)
                print(f"ASGI call: service {svc:.1f} µs, minimal app {floor:.1f} µs per request")
            for _ in range(rounds):
                slow = await _gets(plain.get, requests, concurrency)
                fast = await _gets(pipelined.get, requests, concurrency)
                print(f"one GET: redis-py {slow:.1f} µs, pipelined {fast:.1f} µs of CPU")
    finally:
        pipelined.close()
        await plain.aclose()
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan


def main(argv: list[str] | None = None) -> int:
    import redis
    import uvloop
    from movies_api.cache import Entry, encode_entry

    p = argparse.ArgumentParser(prog="python -m lab.asgi_cost", description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    if not 1 <= args.concurrency <= args.requests:
        p.error(f"--concurrency={args.concurrency}; allowed 1..--requests ({args.requests})")
    root = Path(tempfile.mkdtemp(prefix="lab-asgi-cost-"))
    server = Redis(root)
    try:
        server.start()
        client = redis.Redis.from_url(server.url)
        soft = int(time.time() * 1000) + 3_600_000
        for i in range(1, 101):
            body = b'{"id":%d,"title":"The Silent River","year":1999}' % i
            client.set(f"c2:movie:{i}", encode_entry(Entry(body, 1), soft))
        client.close()
        uvloop.run(_run(server.url, args.requests, args.concurrency, args.rounds))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
