"""The command line and migrations on a real server: one-line errors, concurrent migrate."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path

import asyncpg
import pytest
from movies_api.migrate import available_migrations, migrate

from lab.stack import service_python

pytestmark = pytest.mark.servers
ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MOVIES_")}
    return subprocess.run(
        [service_python(), "-m", "movies_api", *args], capture_output=True, text=True,
        env={**base, "PYTHONPATH": str(ROOT / "app_image"), **env}, timeout=120,
    )  # fmt: skip


def test_missing_database_url_is_one_line() -> None:
    r = run_cli("migrate")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: MOVIES_DATABASE_URL is not set; expected postgresql://user:password@host:port/db"
    ]


def test_bad_cli_argument() -> None:
    r = run_cli("seed", "--count", "-5", MOVIES_DATABASE_URL="postgresql://x:y@127.0.0.1/db")
    assert r.returncode == 2 and "--count=-5 out of range; allowed 0..100000000" in r.stderr


async def _new_db(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def test_concurrent_migrations_apply_each_version_once(servers) -> None:
    url = asyncio.run(_new_db(servers.primary.url(), "migrate_race"))

    async def race() -> list[list[int]]:
        conns = [await asyncpg.connect(url) for _ in range(4)]
        try:
            return await asyncio.gather(*(migrate(c) for c in conns))
        finally:
            for c in conns:
                await c.close()

    results = asyncio.run(race())
    versions = [m.version for m in available_migrations()]
    # exactly one runner applied everything; the others waited on the lock, found nothing
    assert sorted(results, key=len) == [[], [], [], versions]

    async def applied() -> list[int]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
            return [r["version"] for r in rows]
        finally:
            await conn.close()

    assert asyncio.run(applied()) == versions


def test_cli_migrate_seed_and_keys_file(servers, tmp_path: Path) -> None:
    url = asyncio.run(_new_db(servers.primary.url(), "cli_seed"))
    r = run_cli("migrate", MOVIES_DATABASE_URL=url)
    assert r.returncode == 0, r.stderr
    assert "applied [1, 2]" in r.stdout and "local-dev-only" not in r.stdout  # redacted
    assert "applied nothing" in run_cli("migrate", MOVIES_DATABASE_URL=url).stdout
    keys = tmp_path / "keys.json"
    r = run_cli(
        "seed", "--count", "1000", "--users", "3", "--keys-out", str(keys), MOVIES_DATABASE_URL=url
    )
    assert r.returncode == 0, r.stderr
    # Keys only in the file. Not `"mk_" not in stdout`: the stdout names the file, whose
    # path holds pytest's random directory names ("pt-diz2hmk_" failed a fresh-clone run).
    assert "seed: 1000 movies" in r.stdout
    assert not re.search(r"mk_[A-Za-z0-9_-]{43}", r.stdout + r.stderr), r.stdout
    data = json.loads(keys.read_text())
    written = re.findall(r"mk_[A-Za-z0-9_-]{43}", keys.read_text())
    assert len(written) == 5 and not [k for k in written if k in r.stdout + r.stderr]
    assert set(data) == {"demo-reader", "demo-writer", "lab-user-1", "lab-user-2", "lab-user-3"}
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    again = run_cli("seed", "--count", "10", MOVIES_DATABASE_URL=url)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        "error: movies already holds 1000 rows; pass --reset to replace them"
    )
    assert run_cli("seed", "--count", "10", "--reset", MOVIES_DATABASE_URL=url).returncode == 0
