"""The floor for `lab limit`: a bare ASGI app whose whole work is one Redis GET.

GET /movies/{id} answers the body of the cache entry at `c2:movie:{id}` (the bytes after
its one-line header; 404 when absent). It runs on the service's server stack and settings
(`python -m lab.minimal_app --port N`: uvicorn, uvloop, httptools, one worker, the same
uvicorn options as `movies_api serve`) and reads Redis with the service's own GET (the
pipelined connection of movies_api/redis_get.py), so whatever the service does beyond this
(routing, auth, metrics, the cache's checks) is its overhead."""

from __future__ import annotations

import argparse
import os

from movies_api.redis_get import PipelinedGet

_redis: PipelinedGet | None = None


async def app(scope, receive, send) -> None:
    global _redis
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _redis = PipelinedGet(os.environ["LAB_MINIMAL_REDIS_URL"], None, 2.0)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _redis is not None:
                    _redis.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert _redis is not None
    path = scope["path"]
    raw = None
    if path.startswith("/movies/"):
        raw = await _redis.get("c2:movie:" + path[len("/movies/") :])
    body = None if raw is None else raw[raw.find(b"\n") + 1 :]
    status = 200 if body else 404
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json")],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body or b'{"error":"not found"}'})


def main() -> None:
    import uvicorn
    from movies_api.__main__ import SERVER_STACK
    from movies_api.settings import load_settings

    parser = argparse.ArgumentParser(description="the minimal ASGI + one Redis GET app")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The options `movies_api serve` passes, minus the proxy list (no proxy in front here).
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=20,
        timeout_keep_alive=load_settings(need_db=False).http_keepalive_seconds,
        **SERVER_STACK,
    )


if __name__ == "__main__":
    main()
