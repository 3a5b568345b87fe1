"""Issue 15 items 3, 4 and 7: who can mint tokens, how long a revoked key or a demoted
writer keeps access (the stated bound: keycache.KEY_CACHE_SECONDS = 60 s plus replica lag,
for the key and every token minted from it), and what an unknown key costs.

The key cache's clock is replaced by one the test moves, so the 60 s bound is checked at
59 s and 61 s without waiting a minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from movies_api.auth import issue_token
from movies_api.keycache import KEY_CACHE_SECONDS, UNKNOWN_KEY_CACHE_SECONDS, KeyCache
from movies_api.seed import create_user_key

from tests.app.support import MOVIE, auth, db_queries, wait_for_replica

pytestmark = [pytest.mark.servers, pytest.mark.anyio]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def app_with_clock(app_client):
    @asynccontextmanager
    async def factory() -> AsyncIterator[tuple[Any, Any, Clock]]:
        async with app_client() as (client, app):
            clock = Clock()
            app.state.movies.key_cache = KeyCache(clock=clock)
            yield client, app, clock

    return factory


async def _sql(servers, query: str, *args: Any) -> None:
    conn = await asyncpg.connect(servers.primary.url())
    try:
        await conn.execute(query, *args)
    finally:
        await conn.close()
    # The auth path reads the replica: let it replay the change before asserting on it.
    await wait_for_replica(servers.primary.url(), servers.replica.url())


async def _new_user(servers, role: str) -> tuple[int, str]:
    conn = await asyncpg.connect(servers.primary.url())
    try:
        user_id, key = await create_user_key(conn, f"bound-{uuid.uuid4().hex[:12]}", role)
    finally:
        await conn.close()
    await wait_for_replica(servers.primary.url(), servers.replica.url())
    return user_id, key


async def _mint(client, credential: str) -> Any:
    return await client.post("/auth/token", headers=auth(credential))


async def test_a_token_cannot_mint_a_token(app_client, servers) -> None:
    async with app_client() as (client, _):
        issued = await _mint(client, servers.key("demo-reader"))
        assert issued.status_code == 201
        token = issued.json()["token"]
        again = await _mint(client, token)
        assert again.status_code == 403
        assert "a token cannot mint a token" in again.json()["error"]
        assert again.headers["cache-control"] == "no-store"
        # The token itself still reads what its key may read.
        assert (await client.get("/users/me/watchlist", headers=auth(token))).status_code == 200


async def test_revoked_key_and_its_tokens_stop_within_the_bound(app_with_clock, servers) -> None:
    user_id, key = await _new_user(servers, "reader")
    async with app_with_clock() as (client, _, clock):
        token = (await _mint(client, key)).json()["token"]
        assert (await client.get("/users/me/watchlist", headers=auth(key))).status_code == 200
        assert (await client.get("/users/me/watchlist", headers=auth(token))).status_code == 200
        await _sql(servers, "UPDATE api_keys SET revoked_at = now() WHERE user_id = $1", user_id)

        # Minting looks the key up afresh: refused at once, cache or not.
        minted = await _mint(client, key)
        assert minted.status_code == 401 and "revoked" in minted.json()["error"]

        # Within the bound the cached lookup of the token's key may still admit it...
        clock.now += KEY_CACHE_SECONDS - 1
        assert (await client.get("/users/me/watchlist", headers=auth(token))).status_code == 200
        # ...past it, neither the token nor (after its own entry expires) the key does.
        clock.now += 2
        denied = await client.get("/users/me/watchlist", headers=auth(token))
        assert denied.status_code == 401
        assert "minted from is revoked" in denied.json()["error"]
        assert (await client.get("/users/me/watchlist", headers=auth(key))).status_code == 401


async def test_demoted_writer_loses_the_role_within_the_bound(app_with_clock, servers) -> None:
    user_id, key = await _new_user(servers, "writer")
    async with app_with_clock() as (client, _, clock):
        token = (await _mint(client, key)).json()["token"]
        created = await client.post("/movies", json=MOVIE, headers=auth(token))
        assert created.status_code == 201
        path = f"/movies/{created.json()['id']}"
        await _sql(servers, "UPDATE users SET role = 'reader' WHERE id = $1", user_id)

        # A new token is a reader's at once (fresh lookup)...
        fresh = await _mint(client, key)
        assert fresh.status_code == 201 and fresh.json()["role"] == "reader"
        # ...and the old writer token loses the role once the cache entry expires.
        clock.now += KEY_CACHE_SECONDS + 1
        for credential in (token, key, fresh.json()["token"]):
            r = await client.put(path, json=MOVIE, headers=auth(credential))
            assert r.status_code == 403, (credential[:3], r.text)
            assert "writer role" in r.json()["error"]

    await _sql(servers, "DELETE FROM movies WHERE id = $1", created.json()["id"])


async def test_a_token_without_a_key_id_is_refused(app_client, servers) -> None:
    conn = await asyncpg.connect(servers.primary.url())
    try:
        secret = bytes(await conn.fetchval("SELECT secret FROM token_signing_keys WHERE id = 1"))
    finally:
        await conn.close()
    async with app_client() as (client, _):
        # Sign a token the way the service did before tokens named their key.
        good, _ = issue_token(secret, 1, "writer", 600, key_id=1)
        payload = base64.urlsafe_b64encode(
            json.dumps({"sub": 1, "role": "writer", "exp": 2**40}).encode()
        ).rstrip(b"=")
        sig = base64.urlsafe_b64encode(hmac.new(secret, payload, hashlib.sha256).digest())
        legacy = f"mt_{payload.decode()}.{sig.rstrip(b'=').decode()}"
        r = await client.get("/users/me/watchlist", headers=auth(legacy))
        assert r.status_code == 401 and "predates key binding" in r.json()["error"]
        assert good != legacy


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer mt_\xe9.x",  # the issue's header: a non-ASCII byte in the token
        b"Bearer mt_" + b"A" * 20 + b"." + b"\xff" * 43,
        b"Bearer mk_\xe9" + b"a" * 42,
        b"Bearer mt_a.b.c",
        b"Bearer mt_" + b"A" * 5000 + b"." + b"B" * 43,
        b"Bearer \x80",
    ],
)
async def test_odd_bytes_in_a_credential_are_401(app_client, servers, value: bytes) -> None:
    async with app_client() as (client, _):
        for path in ("/movies/1", "/users/me/watchlist"):
            r = await client.get(path, headers={"Authorization": value})
            assert r.status_code == 401, (value, path, r.text)
        r = await client.post("/auth/token", headers={"X-API-Key": value[7:]})
        assert r.status_code == 401


async def test_unknown_keys_cost_no_primary_query_and_are_remembered(
    app_with_clock, servers
) -> None:
    made_up = [f"mk_{secrets.token_urlsafe(32)}" for _ in range(40)]
    malformed = [
        "mk_short",
        "mk_" + "x" * 44,
        "mk_" + "!" * 43,
        ("mk_" + "é" * 43).encode("latin-1"),
    ]
    async with app_with_clock() as (client, app, clock):
        # Warm the signing-key and pool state so only auth queries are counted below.
        await client.get("/movies/1")
        before = db_queries(app)
        for key in made_up:
            r = await client.get("/users/me/watchlist", headers={"X-API-Key": key})
            assert r.status_code == 401
        after = db_queries(app)
        assert after["primary"] == before["primary"], "an unknown key reached the primary"
        assert after["replica"] - before["replica"] == len(made_up)  # one lookup each

        # The same keys again, and keys that cannot be keys: no query at all.
        for key in made_up + malformed:
            r = await client.get("/movies/1", headers={"X-API-Key": key})
            assert r.status_code == 401
        assert db_queries(app) == after

        # Remembered for UNKNOWN_KEY_CACHE_SECONDS, then looked up again (a new key may
        # not have reached the replica when first used).
        clock.now += UNKNOWN_KEY_CACHE_SECONDS + 1
        await client.get("/users/me/watchlist", headers={"X-API-Key": made_up[0]})
        assert db_queries(app)["replica"] == after["replica"] + 1
        assert db_queries(app)["primary"] == before["primary"]


def test_the_key_cache_is_bounded_and_unknowns_cannot_evict_known_keys() -> None:
    clock = Clock()
    cache: KeyCache[tuple[int, str, int]] = KeyCache(limit=100, clock=clock)
    cache.put(("hash", b"valid"), (1, "reader", 1))
    for i in range(10_000):
        cache.put(("hash", i.to_bytes(4, "big")), None)
    assert len(cache) == 101
    assert cache.get(("hash", b"valid")) == (True, (1, "reader", 1))
    assert cache.get(("hash", (9_999).to_bytes(4, "big"))) == (True, None)
    assert cache.get(("hash", (0).to_bytes(4, "big"))) == (False, None)  # pushed out
    # fresh lookups (minting) skip found entries but still honour unknown ones
    assert cache.get(("hash", b"valid"), found_too=False) == (False, None)
    assert cache.get(("hash", (9_999).to_bytes(4, "big")), found_too=False) == (True, None)
    clock.now += KEY_CACHE_SECONDS
    assert cache.get(("hash", b"valid")) == (False, None)
