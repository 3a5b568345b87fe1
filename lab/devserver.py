"""`PYTHONPATH=app_image python -m lab.devserver`: PostgreSQL + Redis in a temp dir,
migrated, seeded, and the API served on 127.0.0.1 until Ctrl-C, after which everything is
removed. Dev-only: it lives in lab/, outside the service's wheel.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from lab.localservers import Postgres, Redis, temp_root
from lab.stack import service_python


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.devserver", description=__doc__)
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--count", type=int, default=100_000, help="movies to seed")
    p.add_argument("--replica", action="store_true", help="also start a streaming replica")
    p.add_argument("--keys-out", type=Path, default=Path("build/dev-keys.json"))
    p.add_argument("--keep", action="store_true", help="keep the temp dir on exit")
    args = p.parse_args(argv)
    # Clean up the same way on Ctrl-C, on SIGTERM (kill, timeout) and on a SIGINT sent to a
    # background job (whose shell started it with SIGINT ignored).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    root = temp_root("movies-dev-")
    pg, redis = Postgres(root / "pg"), Redis(root / "redis")
    replica: Postgres | None = None
    try:
        pg.init()
        redis.start()
        env = {**os.environ, "MOVIES_DATABASE_URL": pg.url(), "MOVIES_REDIS_URL": redis.url,
               "MOVIES_STAGE": "local"}  # fmt: skip
        from movies_api.migrate import migrate
        from movies_api.seed import run_seed

        async def prepare() -> None:
            import asyncpg

            conn = await asyncpg.connect(pg.url())
            try:
                await migrate(conn)
            finally:
                await conn.close()
            result = await run_seed(
                pg.url(), args.count, 42, reset=False, users=0, keys_out=args.keys_out
            )
            print(
                f"devserver: seeded {result.movies} movies in {result.seconds:.1f}s; "
                f"API keys in {args.keys_out}",
                flush=True,
            )

        asyncio.run(prepare())
        if args.replica:
            replica = pg.replica(root / "replica")
            env["MOVIES_DATABASE_READER_URLS"] = replica.url()
        print(
            f"devserver: postgres {pg.url()}  redis {redis.url}"
            + (f"  replica {replica.url()}" if replica else ""),
            flush=True,
        )
        print(
            f"devserver: serving http://127.0.0.1:{args.port}  (Ctrl-C stops and cleans up)",
            flush=True,
        )
        serve = subprocess.Popen(
            [service_python(), "-m", "movies_api", "serve", "--port", str(args.port)], env=env
        )
        try:
            return serve.wait()
        except KeyboardInterrupt:
            serve.terminate()
            serve.wait(timeout=10)
            return 0
    finally:
        if replica is not None:
            replica.stop()
        pg.stop()
        redis.stop()
        if args.keep:
            print(f"devserver: kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
