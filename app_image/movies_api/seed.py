"""Deterministic synthetic movies, streamed into PostgreSQL with binary COPY in chunks.

Movie i depends only on the seed and i, so 100k rows are a prefix of 5M rows with the same
seed; memory stays bounded by the chunk size whatever N is.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import asyncpg

from .auth import hash_api_key, new_api_key

GENRES = (
    "action", "adventure", "animation", "comedy", "crime", "documentary", "drama", "family",
    "fantasy", "history", "horror", "music", "mystery", "romance", "science-fiction",
    "thriller", "war", "western",
)  # fmt: skip
_ADJ = (
    "silent", "last", "golden", "broken", "hidden", "lost", "dark", "bright", "frozen",
    "burning", "secret", "wild", "empty", "distant", "crimson", "iron", "paper", "glass",
    "midnight", "eternal", "savage", "quiet", "electric", "velvet", "hollow", "northern",
    "southern", "final", "first", "little", "great", "lonely", "brave", "wicked", "sacred",
)  # fmt: skip
_NOUN = (
    "river", "city", "king", "garden", "storm", "road", "mountain", "letter", "island",
    "dream", "shadow", "empire", "harbor", "witness", "orchard", "machine", "summer",
    "winter", "kingdom", "stranger", "signal", "voyage", "house", "forest", "desert",
    "ocean", "bridge", "tower", "circus", "engine", "planet", "mirror", "soldier", "widow",
    "detective", "dancer", "thief", "pilot", "doctor", "prophet", "child", "sister",
)  # fmt: skip
_PLACE = (
    "paris", "tokyo", "cairo", "lisbon", "berlin", "havana", "oslo", "lagos", "lima",
    "mumbai", "dublin", "vienna", "sydney", "boston", "naples", "seoul", "kyoto", "prague",
)  # fmt: skip
_VERB = (
    "returns", "falls", "rises", "waits", "burns", "sings", "remembers", "escapes",
    "hunts", "dreams", "breaks", "wakes",
)  # fmt: skip

COLUMNS = ("id", "title", "year", "genres", "runtime_minutes", "rating", "overview")
Row = tuple[int, str, int, list[str], int, Decimal, str]


def _title(rng: random.Random) -> str:
    form = rng.randrange(5)
    adj, noun = rng.choice(_ADJ), rng.choice(_NOUN)
    if form == 0:
        words = ["the", adj, noun]
    elif form == 1:
        words = ["the", noun, "of", rng.choice(_PLACE)]
    elif form == 2:
        words = [adj, noun, rng.choice(_VERB)]
    elif form == 3:
        words = ["a", noun, "in", rng.choice(_PLACE)]
    else:
        words = [adj, noun, str(rng.randrange(2, 5))]
    return " ".join(words).title()


def movie(rng: random.Random, movie_id: int) -> Row:
    title = _title(rng)
    genres = sorted(rng.sample(GENRES, rng.randint(1, 3)))
    year = rng.randint(1920, 2025)
    overview = (
        f"In {rng.choice(_PLACE).title()}, a {rng.choice(_ADJ)} {rng.choice(_NOUN)} "
        f"{rng.choice(_VERB)} when a {rng.choice(_NOUN)} {rng.choice(_VERB)}."
    )
    rating = Decimal(rng.randint(10, 99)) / 10
    return (movie_id, title, year, genres, rng.randint(70, 200), rating, overview)


def generate(count: int, seed: int = 42, start_id: int = 1) -> Iterator[Row]:
    """Yield `count` movies; the same seed always gives the same movies."""
    rng = random.Random(seed)
    for movie_id in range(start_id, start_id + count):
        yield movie(rng, movie_id)


def chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class SeedResult:
    movies: int
    seconds: float
    keys: dict[str, dict[str, str]]


# Index definitions rebuilt after a bulk load: building a GIN index once is many times
# faster than maintaining it row by row during COPY.
_BULK_INDEXES = {
    "movies_search_idx": "CREATE INDEX movies_search_idx ON movies USING gin (search)",
    "movies_genres_idx": "CREATE INDEX movies_genres_idx ON movies USING gin (genres)",
    "movies_year_idx": "CREATE INDEX movies_year_idx ON movies (year, id)",
}


async def seed_movies(
    conn: asyncpg.Connection, count: int, seed: int, *, reset: bool, chunk_size: int = 20_000
) -> int:
    existing = await conn.fetchval("SELECT count(*) FROM movies")
    if existing and not reset:
        raise ValueError(f"movies already holds {existing} rows; pass --reset to replace them")
    if reset:
        await conn.execute("TRUNCATE movies, watchlist")
    bulk = count >= 50_000
    if bulk:
        for name in _BULK_INDEXES:
            await conn.execute(f"DROP INDEX IF EXISTS {name}")
    try:
        for batch in chunks(generate(count, seed), chunk_size):
            await conn.copy_records_to_table("movies", records=batch, columns=COLUMNS)
    finally:
        if bulk:
            await conn.execute("SET maintenance_work_mem = '256MB'")
            for sql in _BULK_INDEXES.values():
                await conn.execute(sql.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS"))
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('movies', 'id'), "
        "GREATEST((SELECT max(id) FROM movies), 1))"
    )
    await conn.execute("ANALYZE movies")
    return count


DEMO_USERS = (("demo-reader", "reader"), ("demo-writer", "writer"))


async def create_user_key(conn: asyncpg.Connection, name: str, role: str) -> tuple[int, str]:
    """Create the user if missing and give it a fresh API key; return (user id, key)."""
    user_id = await conn.fetchval(
        "INSERT INTO users (name, role) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role RETURNING id",
        name,
        role,
    )
    key = new_api_key()
    await conn.execute(
        "INSERT INTO api_keys (user_id, key_hash, prefix) VALUES ($1, $2, $3)",
        user_id,
        hash_api_key(key),
        key[:8],
    )
    return user_id, key


async def seed_users(conn: asyncpg.Connection, extra_users: int) -> dict[str, dict[str, str]]:
    users = list(DEMO_USERS) + [(f"lab-user-{i}", "reader") for i in range(1, extra_users + 1)]
    out: dict[str, dict[str, str]] = {}
    for name, role in users:
        user_id, key = await create_user_key(conn, name, role)
        out[name] = {"user_id": str(user_id), "role": role, "api_key": key}
    return out


async def run_seed(
    dsn: str, count: int, seed: int, *, reset: bool, users: int, keys_out: Path | None
) -> SeedResult:
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        if count:
            await seed_movies(conn, count, seed, reset=reset)
        keys = await seed_users(conn, users)
    finally:
        await conn.close()
    if keys_out is not None:
        keys_out.parent.mkdir(parents=True, exist_ok=True)
        keys_out.touch(mode=0o600)
        keys_out.write_text(json.dumps(keys, indent=2) + "\n")
    return SeedResult(count, time.perf_counter() - started, keys)
