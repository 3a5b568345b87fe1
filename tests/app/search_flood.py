"""`python tests/app/search_flood.py BASE SECONDS CONCURRENCY`: cache-busting searches
(every query new) from CONCURRENCY connections for SECONDS; prints the status counts as
JSON. A process of its own, so the load generator's CPU does not delay the point reads
the test measures in its own process."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

import httpx

WORDS = ["river", "silent", "iron", "harbor", "night", "city", "dream", "storm", "last", "gold"]


async def flood(base: str, seconds: float, concurrency: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    bad_retry_after = 0
    rng = random.Random(22)
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def searcher(n: int) -> None:
            nonlocal bad_retry_after
            k = 0
            while time.monotonic() < stop:
                k += 1
                q = f"{rng.choice(WORDS)} {rng.choice(WORDS)} x{n}y{k}"  # never cached
                r = await client.get("/movies", params={"q": q})
                counts[str(r.status_code)] = counts.get(str(r.status_code), 0) + 1
                if r.status_code == 503:
                    bad_retry_after += r.headers.get("retry-after") != "1"
                    await asyncio.sleep(0.1)

        await asyncio.gather(*(searcher(n) for n in range(concurrency)))
    counts["503_without_retry_after"] = bad_retry_after
    return counts


if __name__ == "__main__":
    base, seconds, concurrency = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(flood(base, seconds, concurrency))))
