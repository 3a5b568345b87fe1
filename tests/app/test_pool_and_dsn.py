"""Connection pool reset and the database URL forms the service accepts."""

from __future__ import annotations

import pytest
from movies_api.db import Database
from movies_api.metrics import Metrics
from movies_api.settings import SettingsError, load_settings

SOCKET_DSN = "postgresql://postgres@/movies?host=/run/postgresql"


def test_unix_socket_dsn_is_accepted() -> None:
    # How a single box reaches its own PostgreSQL without TCP.
    assert load_settings({"MOVIES_DATABASE_URL": SOCKET_DSN}).database_url == SOCKET_DSN


@pytest.mark.parametrize(
    "url",
    ["postgresql://@/movies", "postgresql:///movies?host=relative/dir", "redis://h/0"],
)
def test_url_without_host_or_socket_dir_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match=r"MOVIES_DATABASE_URL=.*Unix socket"):
        load_settings({"MOVIES_DATABASE_URL": url})


@pytest.mark.servers
@pytest.mark.anyio
async def test_released_connection_keeps_its_session_but_not_its_transaction(servers) -> None:
    # With one pooled connection, a second acquire gets the same session back. The default
    # asyncpg reset (RESET ALL and friends, one extra round trip per query) would clear the
    # setting; an open transaction must still be rolled back.
    db = Database(servers.settings(MOVIES_DB_POOL_MAX="1"), Metrics())
    await db.start()
    try:
        assert db.primary is not None
        async with db.primary.acquire() as conn:
            await conn.execute("SET application_name = 'pool-reset-test'")
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            await conn.execute("BEGIN")
            await conn.execute("CREATE TEMP TABLE left_open (x int)")
        async with db.primary.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid
            assert await conn.fetchval("SELECT current_setting('application_name')") == (
                "pool-reset-test"
            )
            assert not conn.is_in_transaction()
            exists = await conn.fetchval("SELECT to_regclass('pg_temp.left_open') IS NOT NULL")
            assert exists is False
    finally:
        await db.close()
