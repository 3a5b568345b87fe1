"""Every endpoint over ASGI against the session PostgreSQL, Redis and moto S3 servers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.app.support import MOVIE, auth, db_queries, metric, wait_for_replica

pytestmark = [pytest.mark.servers, pytest.mark.anyio]


async def test_healthz_and_readyz(app_client, servers) -> None:
    async with app_client() as (client, _):
        health = await client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "cache": "ok",
            "database": {"primary": "ok", "replica0": "ok"},
        }


async def test_readyz_fails_when_primary_is_unreachable(app_client, servers) -> None:
    from lab.localservers import free_port

    dead = f"postgresql://movies:x@127.0.0.1:{free_port()}/movies"
    async with app_client(
        MOVIES_DATABASE_URL=dead,
        MOVIES_DATABASE_READER_URLS="",
        MOVIES_DB_CONNECT_TIMEOUT_SECONDS="0.5",
    ) as (client, _):
        assert (await client.get("/healthz")).status_code == 200  # shallow: still alive
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["database"]["primary"].startswith("error:")
        missing = await client.get("/movies/1")
        assert missing.status_code == 503 and missing.json() == {"error": "database unavailable"}


async def test_get_movie_anonymous_is_public_and_cached(app_client, servers, flush_redis) -> None:
    async with app_client() as (client, app):
        first = await client.get("/movies/5")
        assert first.status_code == 200
        body = first.json()
        assert body["id"] == 5 and body["title"] and 1920 <= body["year"] <= 2025
        assert "poster_key" not in body
        assert first.headers["cache-control"] == "public, max-age=60, stale-while-revalidate=30"
        assert "Authorization" in first.headers["vary"]
        before = db_queries(app)
        second = await client.get("/movies/5")
        assert second.json() == body
        assert db_queries(app) == before  # served from Redis, no DB query
        assert metric(app, "movies_cache_hits_total", kind="movie") == 1
        assert metric(app, "movies_cache_misses_total", kind="movie") == 1


async def test_authenticated_reads_are_private(app_client, servers) -> None:
    async with app_client() as (client, _):
        r = await client.get("/movies/5", headers=auth(servers.key("demo-reader")))
        assert r.status_code == 200
        assert r.headers["cache-control"].startswith("private")


async def test_missing_movie_is_404_and_negatively_cached(app_client, servers, flush_redis) -> None:
    async with app_client() as (client, app):
        r = await client.get("/movies/999999")
        assert r.status_code == 404 and r.json() == {"error": "movie 999999 not found"}
        before = db_queries(app)
        again = await client.get("/movies/999999")
        assert again.status_code == 404
        assert db_queries(app) == before


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/movies/abc", "id='abc' must be an integer"),
        ("/movies/0", "id=0 is out of range"),
        ("/movies/99999999999999999999", "is out of range; allowed 1..9223372036854775807"),
        ("/movies?year=20x", "year='20x' must be an integer"),
        ("/movies?year=1500", "year=1500 is out of range"),
        ("/movies?page=0", "page=0 is out of range"),
        ("/movies?genre=ROCK!", "genre='ROCK!' must be lowercase"),
        ("/movies?genre=Drama", "genre='Drama' must be lowercase"),
        ("/movies?genre=drama%0A", "genre='drama\\n' must be lowercase"),
        ("/movies?genre=", "genre has 0 chars; allowed 1..30"),
        ("/movies?year=", "year='' must be an integer"),
        ("/movies?page=%D9%A3", "page='٣' must be an integer"),
        ("/movies?q=" + "x" * 201, "q has 201 chars"),
    ],
)
async def test_bad_query_input_is_422(app_client, servers, path, needle) -> None:
    async with app_client() as (client, _):
        r = await client.get(path)
        assert r.status_code == 422, r.text
        assert needle in r.json()["error"]


async def test_search_by_words_genre_year_and_pages(app_client, servers, flush_redis) -> None:
    async with app_client() as (client, app):
        first = await client.get("/movies", params={"page": 1})
        assert first.status_code == 200
        page1 = first.json()
        assert page1["page_size"] == 20 and len(page1["items"]) == 20 and page1["next_page"] == 2
        page2 = (await client.get("/movies", params={"page": 2})).json()
        assert page1["items"][-1]["id"] < page2["items"][0]["id"]
        word = page1["items"][0]["title"].split()[-1].lower()
        hits = (await client.get("/movies", params={"q": word})).json()["items"]
        assert hits and all(word in m["title"].lower().split() for m in hits)
        drama = (await client.get("/movies", params={"genre": "drama", "year": 1999})).json()
        assert all("drama" in m["genres"] and m["year"] == 1999 for m in drama["items"])
        nothing = (await client.get("/movies", params={"q": "zzzqqq"})).json()
        assert nothing == {"items": [], "page": 1, "page_size": 20, "next_page": None}
        # the same search again is a cache hit
        before = db_queries(app)
        await client.get("/movies", params={"q": word})
        assert db_queries(app) == before
        assert metric(app, "movies_cache_hits_total", kind="search") == 1


async def test_writes_need_auth_401_and_writer_role_403(app_client, servers) -> None:
    async with app_client() as (client, _):
        anon = await client.post("/movies", json=MOVIE)
        assert anon.status_code == 401 and anon.headers["www-authenticate"].startswith("Bearer")
        bad = await client.post("/movies", json=MOVIE, headers=auth("mk_not-a-real-key"))
        assert bad.status_code == 401 and "unknown or revoked" in bad.json()["error"]
        junk = await client.put("/movies/1", json=MOVIE, headers={"Authorization": "Basic xyz"})
        assert junk.status_code == 401
        reader = await client.delete("/movies/1", headers=auth(servers.key("demo-reader")))
        assert reader.status_code == 403 and "writer role" in reader.json()["error"]
        assert (await client.get("/users/me/watchlist")).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 422, "must be a JSON object"),
        (b'{"title": "x"}', 422, "'year' is required"),
        (b'{"title": "", "year": 2000}', 422, "title has 0 chars"),
        (b'{"title": "x", "year": "2000"}', 422, "year='2000' must be an integer"),
        (b'{"title": "x", "year": 2000, "rating": 11}', 422, "rating=11 must be a number"),
        (b'{"title": "x", "year": 2000, "colour": 1}', 422, "unknown field 'colour'"),
        (b'{"title": "x", "year": 2000, "genres": "drama"}', 422, "genres='drama'"),
        (b'{"title": "\\ud800", "year": 2000}', 422, "not valid Unicode"),
    ],
)
async def test_bad_write_bodies(app_client, servers, body, status, needle) -> None:
    async with app_client() as (client, _):
        r = await client.post("/movies", content=body, headers=auth(servers.key("demo-writer")))
        assert r.status_code == status, r.text
        assert needle in r.json()["error"]


@pytest.mark.parametrize("invalidate_searches", [False, True])
async def test_create_update_delete_invalidate_the_cache(
    app_client, servers, flush_redis, invalidate_searches
) -> None:
    writer = auth(servers.key("demo-writer"))
    movie = {**MOVIE, "title": "Zanzibar Quokka"}
    env = {"MOVIES_SEARCH_INVALIDATE_ON_WRITE": str(invalidate_searches).lower(),
           "MOVIES_SEARCH_TTL_SECONDS": "1", "MOVIES_CACHE_STALE_SECONDS": "0",
           "MOVIES_CACHE_TTL_JITTER": "0"}  # fmt: skip
    async with app_client(**env) as (client, app):
        created = await client.post("/movies", json=movie, headers=writer)
        assert created.status_code == 201, created.text
        mid = created.json()["id"]
        assert created.json()["title"] == "Zanzibar Quokka"
        assert created.headers["cache-control"] == "no-store"
        # served at once from the write-through cache entry, before the replica has it
        assert (await client.get(f"/movies/{mid}")).json()["title"] == "Zanzibar Quokka"
        # search reads the replica, which is eventually consistent (see docs/app.md)
        await wait_for_replica(servers.primary.url(), servers.replica.url())
        found = (await client.get("/movies", params={"q": "zanzibar quokka"})).json()["items"]
        assert [m["id"] for m in found] == [mid]

        updated = await client.put(
            f"/movies/{mid}", json={**movie, "title": "Renamed Film"}, headers=writer
        )
        assert updated.status_code == 200 and updated.json()["title"] == "Renamed Film"
        # the cached copy was replaced, not left stale
        assert (await client.get(f"/movies/{mid}")).json()["title"] == "Renamed Film"
        await wait_for_replica(servers.primary.url(), servers.replica.url())
        found = (await client.get("/movies", params={"q": "zanzibar quokka"})).json()["items"]
        if invalidate_searches:
            assert found == []  # the write retired every cached search page
        else:
            # the cached page lives out its TTL (eventually consistent search), then goes
            assert [m["title"] for m in found] == ["Zanzibar Quokka"]
            await asyncio.sleep(1.1)
            found = (await client.get("/movies", params={"q": "zanzibar quokka"})).json()
            assert found["items"] == []

        deleted = await client.delete(f"/movies/{mid}", headers=writer)
        assert deleted.status_code == 204
        assert (await client.get(f"/movies/{mid}")).status_code == 404
        assert (await client.delete(f"/movies/{mid}", headers=writer)).status_code == 404
        assert (await client.put(f"/movies/{mid}", json=MOVIE, headers=writer)).status_code == 404
        assert metric(app, "movies_db_queries_total", role="primary") >= 4


async def test_tokens_authenticate_and_are_checked(app_client, servers) -> None:
    async with app_client() as (client, _):
        issued = await client.post("/auth/token", headers={"X-API-Key": servers.key("demo-writer")})
        assert issued.status_code == 201
        token = issued.json()["token"]
        assert token.startswith("mt_") and issued.json()["role"] == "writer"
        ok = await client.post("/movies", json=MOVIE, headers=auth(token))
        assert ok.status_code == 201
        await client.delete(f"/movies/{ok.json()['id']}", headers=auth(token))
        payload, sig = token[3:].split(".")
        forged = f"mt_{payload}.{sig[:-2]}AA"
        r = await client.post("/movies", json=MOVIE, headers=auth(forged))
        assert r.status_code == 401 and "signature" in r.json()["error"]
        assert (await client.post("/auth/token")).status_code == 401


async def test_watchlist_is_per_user(app_client, servers) -> None:
    alice, bob = auth(servers.key("lab-user-1")), auth(servers.key("lab-user-2"))
    async with app_client() as (client, _):
        assert (
            await client.post("/users/me/watchlist", json={"movie_id": 11}, headers=alice)
        ).status_code == 201
        again = await client.post("/users/me/watchlist", json={"movie_id": 11}, headers=alice)
        assert again.status_code == 200 and again.json() == {"movie_id": 11, "added": False}
        missing = await client.post("/users/me/watchlist", json={"movie_id": 10**9}, headers=alice)
        assert missing.status_code == 404
        bad = await client.post("/users/me/watchlist", json={"movie_id": "11"}, headers=alice)
        assert bad.status_code == 422
        mine = (await client.get("/users/me/watchlist", headers=alice)).json()
        assert [i["movie"]["id"] for i in mine["items"]] == [11]
        theirs = await client.get("/users/me/watchlist", headers=bob)
        assert theirs.json()["items"] == []
        assert theirs.headers["cache-control"].startswith("private")
        assert (await client.delete("/users/me/watchlist/11", headers=alice)).status_code == 204
        assert (await client.delete("/users/me/watchlist/11", headers=alice)).status_code == 404


async def test_poster_upload_then_presigned_redirect(app_client, servers) -> None:
    writer = auth(servers.key("demo-writer"))
    async with app_client() as (client, _):
        none_yet = await client.get("/movies/3/poster")
        assert none_yet.status_code == 404 and "no poster" in none_yet.json()["error"]
        assert (
            await client.post(
                "/movies/3/poster-upload", json={}, headers=auth(servers.key("demo-reader"))
            )
        ).status_code == 403
        bad = await client.post(
            "/movies/3/poster-upload", json={"content_type": "text/html"}, headers=writer
        )
        assert bad.status_code == 422 and "image/jpeg" in bad.json()["error"]
        form = await client.post(
            "/movies/3/poster-upload", json={"content_type": "image/png"}, headers=writer
        )
        assert form.status_code == 201, form.text
        up = form.json()
        image = b"\x89PNG fake image bytes"
        async with httpx.AsyncClient() as s3:
            stored = await s3.post(
                up["url"], data=up["fields"], files={"file": ("p.png", image, "image/png")}
            )
            assert stored.status_code in (200, 204), stored.text
            redirect = await client.get("/movies/3/poster")
            assert redirect.status_code == 302
            assert redirect.headers["cache-control"] == "private, max-age=60"
            fetched = await s3.get(redirect.headers["location"])
            assert fetched.status_code == 200 and fetched.content == image


async def test_poster_redirects_to_cdn_when_configured(app_client, servers) -> None:
    writer = auth(servers.key("demo-writer"))
    async with app_client(MOVIES_CDN_BASE_URL="https://d111.cloudfront.net") as (client, _):
        up = (
            await client.post(
                "/movies/4/poster-upload", json={"content_type": "image/jpeg"}, headers=writer
            )
        ).json()
        r = await client.get("/movies/4/poster")
        assert r.status_code == 302
        assert r.headers["location"] == f"https://d111.cloudfront.net/{up['key']}"
        assert r.headers["cache-control"].startswith("public")


async def test_posters_disabled_without_bucket(app_client, servers) -> None:
    async with app_client(MOVIES_MEDIA_BUCKET="") as (client, _):
        r = await client.get("/movies/3/poster")
        assert r.status_code == 404 and "not enabled" in r.json()["error"]


async def test_metrics_and_openapi(app_client, servers) -> None:
    async with app_client() as (client, _):
        await client.get("/movies/1")
        text = (await client.get("/metrics")).text
        assert 'movies_requests_total{method="GET",route="/movies/{id}",status="200"} 1.0' in text
        assert 'movies_db_queries_total{role="replica"}' in text
        assert "movies_request_seconds_bucket" in text
        assert "movies_cache_hits_total" in text and "movies_cache_misses_total" in text
        spec = (await client.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.0")
        assert {
            "/movies",
            "/movies/{id}",
            "/movies/{id}/poster",
            "/users/me/watchlist",
            "/healthz",
            "/readyz",
            "/metrics",
        } <= set(spec["paths"])


async def test_cache_disabled_goes_to_db_every_time(app_client, servers) -> None:
    async with app_client(MOVIES_CACHE_ENABLED="false") as (client, app):
        await client.get("/movies/8")
        await client.get("/movies/8")
        assert db_queries(app)["replica"] == 2
        assert metric(app, "movies_cache_hits_total", kind="movie") == 0
