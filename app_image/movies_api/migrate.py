"""Numbered SQL migrations applied in order, tracked in `schema_migrations`.

Every instance of an autoscaling group runs `migrate` at boot; a PostgreSQL advisory lock
makes concurrent runs safe: one applies, the others wait and then find nothing to do.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from importlib import resources

import asyncpg

log = logging.getLogger("movies_api.migrate")

# Any constant works; it names "the movies schema migration" among advisory locks.
ADVISORY_LOCK_ID = 0x6D6F76696573
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("movies_api.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {versions}")
    return found


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply pending migrations; return the versions applied by this call."""
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_ID)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY, name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied: list[int] = []
        for m in available_migrations():
            if m.version in done:
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    m.version,
                    m.name,
                )
            log.info("applied migration %04d_%s", m.version, m.name)
            applied.append(m.version)
        await conn.execute(
            "INSERT INTO token_signing_keys (id, secret) VALUES (1, $1) ON CONFLICT DO NOTHING",
            secrets.token_bytes(32),
        )
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_ID)
