"""Seed N movies into a throwaway PostgreSQL and print the figures: rows/s, the seeding
process's peak RSS, table and index sizes, and the plans and timings of typical searches.

    PYTHONPATH=app_image python -m lab.bench_seed --count 5000000

Dev-only, so it lives in lab/ (it was app_image/bench_seed.py, which made the service's
folder import the lab's servers): it imports the service, never the other way round.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import sys
import time

import asyncpg
from movies_api.migrate import migrate
from movies_api.repository import search
from movies_api.seed import seed_movies
from movies_api.validation import SearchParams

from lab.localservers import Postgres, temp_root

SEARCHES = [
    SearchParams("silent", None, None, 1),
    SearchParams("silent river", None, None, 1),
    SearchParams("harbor", "drama", None, 1),
    SearchParams(None, "horror", 1999, 1),
    SearchParams(None, None, 1987, 50),
    SearchParams("lisbon", None, None, 100),
]


async def bench(url: str, count: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        started = time.perf_counter()
        await seed_movies(conn, count, 42, reset=False)
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"seeded {count:,} movies in {seconds:.1f}s ({count / seconds:,.0f} rows/s, "
            f"incl. index build); seeding process peak RSS {peak_mb:.0f} MB"
        )
        sizes = await conn.fetch(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) AS size FROM pg_class "
            "WHERE relname IN ('movies', 'movies_search_idx', 'movies_genres_idx', "
            "'movies_year_idx', 'movies_pkey') ORDER BY relname"
        )
        print("sizes: " + ", ".join(f"{r['relname']}={r['size']}" for r in sizes))
        for p in SEARCHES:
            t = time.perf_counter()
            for _ in range(5):
                result = await search(conn, p, 20)
            ms = (time.perf_counter() - t) / 5 * 1000
            print(f"search {p.cache_key():40s} {len(result['items']):2d} rows  {ms:7.1f} ms")
        plan = await conn.fetch(
            "EXPLAIN SELECT id FROM movies WHERE search @@ websearch_to_tsquery('simple', "
            "'silent river') ORDER BY id LIMIT 21"
        )
        print("plan for 'silent river':\n  " + "\n  ".join(r[0] for r in plan))
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.bench_seed", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()
    root = temp_root("movies-bench-")
    pg = Postgres(root / "pg")
    try:
        pg.init()
        asyncio.run(bench(pg.url(), args.count))
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
