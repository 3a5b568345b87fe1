"""The floor for `lab limit`: a bare ASGI app whose whole work is one Redis GET.

GET /movies/{id} answers the bytes stored at `movie:{id}` (404 when absent). Whatever the
service does beyond this (routing, auth, JSON, metrics, cache envelope) is its overhead."""

from __future__ import annotations

import os

import redis.asyncio as aioredis

_redis: aioredis.Redis | None = None


async def app(scope, receive, send) -> None:
    global _redis
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _redis = aioredis.Redis.from_url(os.environ["LAB_MINIMAL_REDIS_URL"])
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _redis is not None:
                    await _redis.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert _redis is not None
    path = scope["path"]
    body = None
    if path.startswith("/movies/"):
        body = await _redis.get("movie:" + path[len("/movies/") :])
    status = 200 if body is not None else 404
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json")],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body or b'{"error":"not found"}'})
