"""The SQL: movies, search, users' keys and watchlists. Each function takes a connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from .validation import MovieInput, SearchParams

_COLUMNS = "id, title, year, genres, runtime_minutes, rating, overview, poster_key, updated_at"


def movie_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "year": row["year"],
        "genres": list(row["genres"]),
        "runtime_minutes": row["runtime_minutes"],
        "rating": None if row["rating"] is None else float(row["rating"]),
        "overview": row["overview"],
        "has_poster": row["poster_key"] is not None,
        "updated_at": row["updated_at"].isoformat(),
    }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Every write moves the row's updated_at forward by at least a microsecond, even if the
# clock did not (or went back on a failover): the cache compares these as versions, and a
# newer write must never look older than the one before it.
_NEXT_VERSION = "GREATEST(clock_timestamp(), updated_at + interval '1 microsecond')"


def version_of(ts: datetime) -> int:
    """A row version for the cache: its updated_at in whole microseconds since the epoch."""
    return (ts - _EPOCH) // _MICROSECOND


def _with_private(row: asyncpg.Record) -> dict[str, Any]:
    """The public movie plus what the service keeps to itself: poster_key and version."""
    movie = movie_json(row)
    movie["poster_key"] = row["poster_key"]
    movie["version"] = version_of(row["updated_at"])
    return movie


async def get_movie(conn: asyncpg.Connection, movie_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM movies WHERE id = $1", movie_id)
    if row is None:
        return None
    return _with_private(row)


async def search(conn: asyncpg.Connection, p: SearchParams, page_size: int) -> dict[str, Any]:
    # Only the conditions present go into the SQL, so each shape gets an index-friendly
    # plan instead of one generic plan with `$1 IS NULL OR ...` branches.
    where, args = [], []
    if p.q:
        args.append(p.q)
        where.append(f"search @@ websearch_to_tsquery('simple', ${len(args)})")
    if p.genre:
        args.append([p.genre])
        where.append(f"genres @> ${len(args)}::text[]")
    if p.year:
        args.append(p.year)
        where.append(f"year = ${len(args)}")
    args += [page_size + 1, (p.page - 1) * page_size]
    sql = (
        f"SELECT {_COLUMNS} FROM movies"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY id LIMIT ${len(args) - 1} OFFSET ${len(args)}"
    )
    rows = await conn.fetch(sql, *args)
    items = [movie_json(r) for r in rows[:page_size]]
    return {
        "items": items,
        "page": p.page,
        "page_size": page_size,
        "next_page": p.page + 1 if len(rows) > page_size else None,
    }


async def insert_movie(conn: asyncpg.Connection, m: MovieInput) -> dict[str, Any]:
    row = await conn.fetchrow(
        "INSERT INTO movies (title, year, genres, runtime_minutes, rating, overview) "
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
        m.title, m.year, m.genres, m.runtime_minutes, m.rating, m.overview,
    )  # fmt: skip
    return _with_private(row)


async def update_movie(
    conn: asyncpg.Connection, movie_id: int, m: MovieInput
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "UPDATE movies SET title = $2, year = $3, genres = $4, runtime_minutes = $5, "
        f"rating = $6, overview = $7, updated_at = {_NEXT_VERSION} "
        f"WHERE id = $1 RETURNING {_COLUMNS}",
        movie_id, m.title, m.year, m.genres, m.runtime_minutes, m.rating, m.overview,
    )  # fmt: skip
    if row is None:
        return None
    return _with_private(row)


async def delete_movie(conn: asyncpg.Connection, movie_id: int) -> int | None:
    """The deletion's version (newer than any the row had), or None if there was no row."""
    ts = await conn.fetchval(
        f"DELETE FROM movies WHERE id = $1 RETURNING {_NEXT_VERSION}", movie_id
    )
    return None if ts is None else version_of(ts)


async def set_poster_key(
    conn: asyncpg.Connection, movie_id: int, key: str
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "UPDATE movies SET poster_key = $2, "
        f"updated_at = {_NEXT_VERSION} WHERE id = $1 RETURNING {_COLUMNS}",
        movie_id, key,
    )  # fmt: skip
    if row is None:
        return None
    return _with_private(row)


async def user_by_key_hash(
    conn: asyncpg.Connection, key_hash: bytes
) -> tuple[int, str, int] | None:
    """(user id, role, key id) of an unrevoked key, by its SHA-256."""
    row = await conn.fetchrow(
        "SELECT u.id, u.role, k.id AS key_id FROM api_keys k JOIN users u ON u.id = k.user_id "
        "WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        key_hash,
    )
    return None if row is None else (row["id"], row["role"], row["key_id"])


async def user_by_key_id(conn: asyncpg.Connection, key_id: int) -> tuple[int, str, int] | None:
    """The same for the key a token was minted from (a token names its key's id)."""
    row = await conn.fetchrow(
        "SELECT u.id, u.role, k.id AS key_id FROM api_keys k JOIN users u ON u.id = k.user_id "
        "WHERE k.id = $1 AND k.revoked_at IS NULL",
        key_id,
    )
    return None if row is None else (row["id"], row["role"], row["key_id"])


async def signing_key(conn: asyncpg.Connection) -> bytes | None:
    return await conn.fetchval("SELECT secret FROM token_signing_keys WHERE id = 1")


async def watchlist(conn: asyncpg.Connection, user_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT w.added_at, {', '.join('m.' + c.strip() for c in _COLUMNS.split(','))} "
        "FROM watchlist w JOIN movies m ON m.id = w.movie_id "
        "WHERE w.user_id = $1 ORDER BY w.added_at DESC, m.id LIMIT 1000",
        user_id,
    )
    return [{"movie": movie_json(r), "added_at": r["added_at"].isoformat()} for r in rows]


async def watchlist_add(conn: asyncpg.Connection, user_id: int, movie_id: int) -> str:
    """'added', 'exists' or 'no-movie', in one round trip."""
    try:
        row = await _watchlist_insert(conn, user_id, movie_id)
    except asyncpg.ForeignKeyViolationError:  # the movie was deleted in between
        return "no-movie"
    if not row["movie"]:
        return "no-movie"
    return "added" if row["added"] else "exists"


async def _watchlist_insert(
    conn: asyncpg.Connection, user_id: int, movie_id: int
) -> asyncpg.Record:
    return await conn.fetchrow(
        "WITH m AS (SELECT id FROM movies WHERE id = $2), "
        "ins AS (INSERT INTO watchlist (user_id, movie_id) SELECT $1, id FROM m "
        "ON CONFLICT DO NOTHING RETURNING 1) "
        "SELECT EXISTS (SELECT 1 FROM m) AS movie, EXISTS (SELECT 1 FROM ins) AS added",
        user_id,
        movie_id,
    )


async def watchlist_remove(conn: asyncpg.Connection, user_id: int, movie_id: int) -> bool:
    return (
        await conn.fetchval(
            "DELETE FROM watchlist WHERE user_id = $1 AND movie_id = $2 RETURNING true",
            user_id,
            movie_id,
        )
        is True
    )
