"""The Starlette application: routes, auth, HTTP caching headers, metrics middleware."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__, repository
from .auth import (
    KEY_PREFIX,
    TOKEN_PREFIX,
    AuthError,
    Principal,
    credential_from_headers,
    hash_api_key,
    is_api_key_shaped,
    issue_token,
    verify_token,
)
from .bodies import BodyTooLarge, read_json
from .cache import Cache, Entry, make_getter, make_redis
from .db import CONNECTION_ERRORS, Database
from .keycache import KeyCache
from .media import CONTENT_TYPES, Media, make_s3_client
from .metrics import CONTENT_TYPE_LATEST, Metrics, client_allowed
from .openapi import openapi_spec
from .settings import Settings
from .validation import ValidationError, int_param, movie_body, movie_id, search_params

log = logging.getLogger("movies_api")
MAX_BODY_BYTES = 64 * 1024
_VARY = "Authorization, X-API-Key"


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    db: Database
    cache: Cache
    media: Media
    token_key: bytes | None = None
    # ("hash", sha256(key)) or ("kid", key id) -> (user id, role, key id), or None for an
    # unknown/revoked key: most requests with a key or token skip the DB (keycache.py).
    key_cache: KeyCache[tuple[int, str, int]] = field(default_factory=KeyCache)
    # The search bulkhead (issue 22 item 3), made in __post_init__ from the settings.
    search_slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.search_slots = asyncio.Semaphore(self.settings.search_slots)


def _state(request: Request) -> AppState:
    return request.app.state.movies


# -- auth --------------------------------------------------------------------------------
async def _token_key(st: AppState) -> bytes:
    if st.token_key is None:
        if st.settings.token_secret:
            st.token_key = st.settings.token_secret.encode()
        else:
            key = await st.db.read(repository.signing_key)
            if key is None:
                raise HTTPError(
                    503, "token signing key missing; run `python -m movies_api migrate`"
                )
            st.token_key = bytes(key)
    return st.token_key


KeyRecord = tuple[int, str, int]  # user id, role, key id


async def _key_record(
    st: AppState, cache_key: tuple[str, Any], query: Callable[[Any], Awaitable[Any]], fresh: bool
) -> KeyRecord | None:
    """An unrevoked key's record, from the cache (see keycache.py for the bound) or a replica.

    Only `db.read`: the auth path never queries the primary unless no replica is up, so a
    flood of made-up keys costs replica queries at most, each one remembered as unknown.
    `fresh` (minting a token) skips a cached *found* record, never a cached unknown one.
    """
    hit, record = st.key_cache.get(cache_key, found_too=not fresh)
    if hit:
        return record
    record = await st.db.read(query)
    st.key_cache.put(cache_key, record)
    return record


async def _principal_for_key(st: AppState, key: str, fresh: bool = False) -> Principal | None:
    digest = hash_api_key(key)
    found = await _key_record(
        st, ("hash", digest), lambda c: repository.user_by_key_hash(c, digest), fresh
    )
    return None if found is None else Principal(found[0], found[1], "api_key", found[2])  # type: ignore[arg-type]


async def _principal_for_token(st: AppState, token: str) -> Principal:
    claims = verify_token(await _token_key(st), token)
    kid = claims.key_id
    found = await _key_record(
        st, ("kid", kid), lambda c: repository.user_by_key_id(c, kid), fresh=False
    )
    if found is None or found[0] != claims.user_id:
        raise AuthError("the API key this token was minted from is revoked")
    # The role now, not the role at minting: a demoted writer's tokens are a reader's.
    return Principal(claims.user_id, found[1], "token", kid)  # type: ignore[arg-type]


async def authenticate(request: Request, *, fresh_key: bool = False) -> Principal | None:
    st = _state(request)
    try:
        cred = credential_from_headers(
            request.headers.get("authorization"), request.headers.get("x-api-key")
        )
        if cred is None:
            return None
        if cred.startswith(TOKEN_PREFIX):
            return await _principal_for_token(st, cred)
        if cred.startswith(KEY_PREFIX):
            # A value that cannot be a key is refused without a query.
            principal = (
                await _principal_for_key(st, cred, fresh_key) if is_api_key_shaped(cred) else None
            )
            if principal is None:
                raise AuthError("unknown or revoked API key")
            return principal
        raise AuthError("credential must be an API key (mk_...) or a token (mt_...)")
    except AuthError as exc:
        raise HTTPError(401, str(exc), {"WWW-Authenticate": 'Bearer realm="movies"'}) from None


async def require(
    request: Request, role: str | None = None, *, fresh_key: bool = False
) -> Principal:
    principal = await authenticate(request, fresh_key=fresh_key)
    if principal is None:
        raise HTTPError(
            401,
            "authentication required: send 'Authorization: Bearer <key or "
            "token>' or 'X-API-Key: <key>'",
            {"WWW-Authenticate": 'Bearer realm="movies"'},
        )
    if role == "writer" and principal.role != "writer":
        raise HTTPError(
            403, f"this needs the writer role; user {principal.user_id} is a {principal.role}"
        )
    return principal


# -- responses ---------------------------------------------------------------------------
def _cache_headers(
    st: AppState, principal: Principal | None, max_age: int | None = None
) -> dict[str, str]:
    if principal is not None:
        return {"Cache-Control": "private, no-cache", "Vary": _VARY}
    return dict(_cache_headers_anonymous(st.settings, max_age))


def _raw(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response from bytes already encoded (a cache hit's body, as stored)."""
    return Response(body, status, headers, media_type="application/json")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return _raw(orjson.dumps(data), status, headers)


def _no_store(data: Any, status: int = 200) -> Response:
    return _json(data, status, {"Cache-Control": "no-store", "Vary": _VARY})


async def _body(request: Request) -> Any:
    # Cut at the limit while streaming, nesting bounded, NaN refused: see bodies.py.
    return await read_json(request, MAX_BODY_BYTES)


_PRIVATE = ("poster_key", "version")


def _public_movie(movie: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in movie.items() if k not in _PRIVATE}


def _movie_entry(movie: dict[str, Any] | None) -> Entry:
    """What the cache keeps for a movie: the response body, its version, its poster key."""
    if movie is None:
        return Entry(None)  # version 0: never overwrites a write-through
    return Entry(orjson.dumps(_public_movie(movie)), movie["version"], movie["poster_key"] or "")


# -- movies ------------------------------------------------------------------------------
async def _cached_movie(st: AppState, mid: int) -> Entry:
    async def load() -> Entry:
        return _movie_entry(await st.db.read(lambda c: repository.get_movie(c, mid)))

    async def load_primary() -> Entry:
        # Only when a replica's row is older than this id's write fence (cache.py).
        return _movie_entry(await st.db.write(lambda c: repository.get_movie(c, mid)))

    return await st.cache.get_or_load("movie", f"movie:{mid}", load, load_primary)


async def get_movie(request: Request) -> Response:
    st = _state(request)
    principal = await authenticate(request)
    mid = movie_id(request.path_params["id"])
    entry = await _cached_movie(st, mid)
    if entry.body is None:
        # 404s are cacheable too, briefly: a popular missing id must not reach the DB.
        return _json(
            {"error": f"movie {mid} not found"}, 404, _cache_headers(st, principal, max_age=10)
        )
    return _raw(entry.body, headers=_cache_headers(st, principal))


async def search_movies(request: Request) -> Response:
    st = _state(request)
    principal = await authenticate(request)
    params = search_params(request.query_params, st.settings.max_page)
    size = st.settings.page_size

    async def load() -> Entry:
        async with _search_slot(st):
            page = await st.db.read(lambda c: repository.search(c, params, size))
        return Entry(orjson.dumps(page))

    # By default a cached page lives out its TTL (search is eventually consistent within
    # MOVIES_SEARCH_TTL_SECONDS); with invalidation on, every movie write retires all pages,
    # which at a steady write rate leaves search with almost no hits.
    gen = await st.cache.search_generation() if st.settings.search_invalidate_on_write else 0
    entry = await st.cache.get_or_load("search", f"search:{gen}:{params.cache_key()}", load)
    assert entry.body is not None
    return _raw(entry.body, headers=_cache_headers(st, principal))


@asynccontextmanager
async def _search_slot(st: AppState) -> AsyncIterator[None]:
    """A search that queries the database holds one of `search_concurrency` slots, so a
    flood of cache-busting searches cannot take every pooled connection (and the event
    loop) from point reads: it waits at most `search_queue_seconds` for a slot, then is
    answered 503 with Retry-After (issue 22 item 3: 150 such searches pushed point reads
    from a p99 of 2-14 ms to 0.9-3.3 s)."""
    try:
        if st.search_slots.locked():
            await asyncio.wait_for(st.search_slots.acquire(), st.settings.search_queue_seconds)
        else:
            await st.search_slots.acquire()  # free: returns at once
    except TimeoutError:
        st.metrics.search_shed.inc()
        raise HTTPError(
            503,
            f"search is busy ({st.settings.search_slots} running); retry in a second",
            {"Retry-After": "1"},
        ) from None
    try:
        yield
    finally:
        st.search_slots.release()


async def _after_write(st: AppState, mid: int, entry: Entry) -> None:
    # Write-through rather than delete: a delete would let a concurrent miss refill the key
    # from a replica that has not replayed this write yet; the entry's version keeps such a
    # fill from overwriting it afterwards.
    await st.cache.set(f"movie:{mid}", entry)
    if st.settings.search_invalidate_on_write:
        await st.cache.bump_search_generation()


async def create_movie(request: Request) -> Response:
    st = _state(request)
    await require(request, "writer")
    data = movie_body(await _body(request))
    movie = await st.db.write(lambda c: repository.insert_movie(c, data))
    entry = _movie_entry(movie)
    await _after_write(st, movie["id"], entry)
    assert entry.body is not None
    return _raw(entry.body, 201, {"Cache-Control": "no-store", "Vary": _VARY})


async def replace_movie(request: Request) -> Response:
    st = _state(request)
    await require(request, "writer")
    mid = movie_id(request.path_params["id"])
    data = movie_body(await _body(request))
    movie = await st.db.write(lambda c: repository.update_movie(c, mid, data))
    if movie is None:
        return _no_store({"error": f"movie {mid} not found"}, 404)
    entry = _movie_entry(movie)
    await _after_write(st, mid, entry)
    assert entry.body is not None
    return _raw(entry.body, headers={"Cache-Control": "no-store", "Vary": _VARY})


async def delete_movie(request: Request) -> Response:
    st = _state(request)
    await require(request, "writer")
    mid = movie_id(request.path_params["id"])
    version = await st.db.write(lambda c: repository.delete_movie(c, mid))
    if version is None:
        return _no_store({"error": f"movie {mid} not found"}, 404)
    # The 404 carries the deletion's version: a fill from a replica that still has the row
    # is older and cannot bring it back.
    await _after_write(st, mid, Entry(None, version))
    return Response(status_code=204, headers={"Cache-Control": "no-store", "Vary": _VARY})


async def get_poster(request: Request) -> Response:
    st = _state(request)
    principal = await authenticate(request)
    mid = movie_id(request.path_params["id"])
    entry = await _cached_movie(st, mid)
    if entry.body is None:
        return _json(
            {"error": f"movie {mid} not found"}, 404, _cache_headers(st, principal, max_age=10)
        )
    if not st.media.enabled:
        return _json(
            {"error": "posters are not enabled at this stage (no MOVIES_MEDIA_BUCKET)"},
            404,
            _cache_headers(st, principal, max_age=10),
        )
    if not entry.meta:  # the poster key
        return _json(
            {"error": f"movie {mid} has no poster"}, 404, _cache_headers(st, principal, max_age=10)
        )
    url = st.media.poster_url(entry.meta)
    if st.settings.cdn_base_url:
        headers = _cache_headers(st, principal)
    else:
        # A presigned URL expires: no shared cache may keep the redirect past its life.
        headers = {"Cache-Control": "private, max-age=60", "Vary": _VARY}
    return RedirectResponse(url, status_code=302, headers=headers)


async def poster_upload(request: Request) -> Response:
    st = _state(request)
    await require(request, "writer")
    mid = movie_id(request.path_params["id"])
    body = await _body(request)
    if not isinstance(body, dict) or set(body) - {"content_type"}:
        raise ValidationError('body must be {"content_type": "image/jpeg|image/png|image/webp"}')
    content_type = body.get("content_type", "image/jpeg")
    if not isinstance(content_type, str) or content_type not in CONTENT_TYPES:
        raise ValidationError(
            f"content_type={content_type!r} is not allowed; allowed: {', '.join(CONTENT_TYPES)}"
        )
    if not st.media.enabled:
        return _no_store(
            {"error": "posters are not enabled at this stage (no MOVIES_MEDIA_BUCKET)"}, 404
        )
    key = st.media.poster_key(mid, content_type)
    movie = await st.db.write(lambda c: repository.set_poster_key(c, mid, key))
    if movie is None:
        return _no_store({"error": f"movie {mid} not found"}, 404)
    await _after_write(st, mid, _movie_entry(movie))
    form = st.media.upload_form(key, content_type)
    return _no_store(
        {
            "key": key,
            "url": form["url"],
            "fields": form["fields"],
            "expires_in": st.settings.presign_seconds,
        },
        201,
    )


# -- users -------------------------------------------------------------------------------
async def create_token(request: Request) -> Response:
    st = _state(request)
    # Minted only from an API key, looked up afresh: a token minting tokens would outlive
    # its key's revocation forever (issue 15, item 3).
    principal = await require(request, fresh_key=True)
    if principal.via != "api_key":
        raise HTTPError(
            403,
            "a token cannot mint a token: POST /auth/token with your API key "
            "('X-API-Key: mk_...' or 'Authorization: Bearer mk_...')",
        )
    token, exp = issue_token(
        await _token_key(st),
        principal.user_id,
        principal.role,
        st.settings.token_ttl_seconds,
        key_id=principal.key_id,
    )
    return _no_store(
        {"token": token, "token_type": "Bearer", "expires_at": exp, "role": principal.role}, 201
    )


async def get_watchlist(request: Request) -> Response:
    st = _state(request)
    principal = await require(request)
    # From the primary: a user who just added a movie must see it (read-your-writes).
    items = await st.db.write(lambda c: repository.watchlist(c, principal.user_id))
    return _json(
        {"user_id": principal.user_id, "items": items}, headers=_cache_headers(st, principal)
    )


async def add_to_watchlist(request: Request) -> Response:
    st = _state(request)
    principal = await require(request)
    body = await _body(request)
    if not isinstance(body, dict) or set(body) != {"movie_id"}:
        raise ValidationError('body must be {"movie_id": <positive integer>}')
    mid = body["movie_id"]
    if isinstance(mid, bool) or not isinstance(mid, int) or not 1 <= mid < 2**63:
        raise ValidationError(f"movie_id={mid!r} must be a positive integer")
    outcome = await st.db.write(lambda c: repository.watchlist_add(c, principal.user_id, mid))
    if outcome == "no-movie":
        return _no_store({"error": f"movie {mid} not found"}, 404)
    return _no_store(
        {"movie_id": mid, "added": outcome == "added"}, 201 if outcome == "added" else 200
    )


async def remove_from_watchlist(request: Request) -> Response:
    st = _state(request)
    principal = await require(request)
    mid = int_param("movie_id", request.path_params["movie_id"], 1, 2**63 - 1)
    removed = await st.db.write(lambda c: repository.watchlist_remove(c, principal.user_id, mid))
    if not removed:
        return _no_store({"error": f"movie {mid} is not on the watchlist"}, 404)
    return Response(status_code=204, headers={"Cache-Control": "no-store", "Vary": _VARY})


# -- operations --------------------------------------------------------------------------
async def healthz(request: Request) -> Response:
    st = _state(request)
    return _no_store({"status": "ok", "stage": st.settings.stage, "version": __version__})


async def readyz(request: Request) -> Response:
    st = _state(request)
    db = await st.db.ping()
    cache = await st.cache.ping()
    # A replica or Redis being down degrades but does not stop service (both fall back);
    # only the primary is required.
    ready = db.get("primary") == "ok"
    body = {"status": "ready" if ready else "not ready", "database": db, "cache": cache}
    return _no_store(body, 200 if ready else 503)


async def metrics(request: Request) -> Response:
    st = _state(request)
    client = request.client.host if request.client else None
    # Only the bytes "/metrics" as sent: uvicorn percent-decodes the path it routes on, so
    # "/%6detrics" would reach this handler past the ALB's "/metrics*" 404 rule, which
    # matches the path as sent. (A test client may put the query in raw_path too.)
    raw_path = request.scope.get("raw_path", b"/metrics").split(b"?", 1)[0]
    if raw_path != b"/metrics" or not client_allowed(client, st.settings.metrics_allow_networks):
        # The same answer as an unknown path: nothing says the endpoint exists.
        return Response(
            "Not Found", 404, media_type="text/plain", headers={"Cache-Control": "no-store"}
        )
    return Response(
        st.metrics.render(),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )


async def openapi(request: Request) -> Response:
    return _json(openapi_spec(__version__), headers={"Cache-Control": "public, max-age=300"})


# -- wiring ------------------------------------------------------------------------------
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


class MetricsMiddleware:
    """Counts and times every request by its route template (not the raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        # (method, route, status) -> (counter, histogram) children: a label lookup takes a
        # lock and hashes the label values, so each combination is looked up once.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _child(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = (
                self.metrics.requests.labels(method=method, route=route, status=str(status)),
                self.metrics.request_seconds.labels(method=method, route=route),
            )
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        # Any token is a valid method: labelling by it would let a client mint series.
        method = scope["method"] if scope["method"] in _METHODS else "other"

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            counter, histogram = self._child(method, name, status)
            counter.inc()
            histogram.observe(time.perf_counter() - started)


_AUTH_HEADERS = (b"authorization", b"x-api-key")


class AnonymousMovieRead:
    """`GET /movies/{id}` without credentials, the hottest request by far, answered before
    Starlette (see MoviesApp): no middleware stack, routing, Request or Response objects,
    but the same cache lookup, body, status and headers as `get_movie`, and the same
    metrics series, at less CPU per request (issue 12). Anything else (a credential, HEAD,
    an id `movie_id` would reject or rewrite) goes to the full stack unchanged."""

    ROUTE = "/movies/{id}"

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.metrics = metrics
        self.headers = {
            status: [
                (b"content-type", b"application/json"),
                *[
                    (k.lower().encode(), v.encode())
                    for k, v in _cache_headers_anonymous(settings, None if status == 200 else 10)
                ],
            ]
            for status in (200, 404)
        }
        # Label lookups take a lock and hash the labels: once here, not per request.
        self.counted = {
            status: metrics.requests.labels(method="GET", route=self.ROUTE, status=str(status))
            for status in (200, 404)
        }
        self.timed = metrics.request_seconds.labels(method="GET", route=self.ROUTE)

    @staticmethod
    def movie_id(scope: Scope) -> int | None:
        path: str = scope["path"]
        if not path.startswith("/movies/") or scope["method"] != "GET":
            return None
        raw = path[8:]
        # Canonical ids only (what movie_id gives back unchanged); the rest takes the full
        # path, which answers them (or rejects them) as before.
        if not raw.isascii() or not raw.isdigit() or raw[0] == "0" or len(raw) > 19:
            return None
        for name, _ in scope["headers"]:
            if name in _AUTH_HEADERS:
                return None
        try:
            return movie_id(raw)
        except ValidationError:
            return None

    async def handle(
        self, st: AppState, mid: int, scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = time.perf_counter()
        try:
            entry = await _cached_movie(st, mid)
        except Exception as exc:
            # The full stack's answer (503 for a database outage, else a logged 500), from
            # the same code.
            response = await _errors(_raise(exc))(Request(scope, receive, send))
            await response(scope, receive, send)
            self.metrics.requests.labels(
                method="GET", route=self.ROUTE, status=str(response.status_code)
            ).inc()
            self.timed.observe(time.perf_counter() - started)
            return
        if entry.body is not None:
            body, status = entry.body, 200
        else:
            body, status = orjson.dumps({"error": f"movie {mid} not found"}), 404
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", b"%d" % len(body)), *self.headers[status]],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": body})
        self.counted[status].inc()
        self.timed.observe(time.perf_counter() - started)


class MoviesApp(Starlette):
    """Starlette, with anonymous movie reads answered before its middleware stack."""

    fast: AnonymousMovieRead

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            mid = self.fast.movie_id(scope)
            if mid is not None:
                scope["app"] = self
                await self.fast.handle(self.state.movies, mid, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _raise(exc: BaseException) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        raise exc

    return handler


def _cache_headers_anonymous(
    settings: Settings, max_age: int | None = None
) -> list[tuple[str, str]]:
    age = settings.http_max_age if max_age is None else max_age
    swr = settings.http_stale_while_revalidate
    return [
        ("Cache-Control", f"public, max-age={age}, stale-while-revalidate={swr}"),
        ("Vary", _VARY),
    ]


def _errors(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except HTTPError as exc:
            return _json(
                {"error": exc.message},
                exc.status,
                {**exc.headers, "Cache-Control": "no-store", "Vary": _VARY},
            )
        except BodyTooLarge as exc:
            # The rest of the body is never read: say so, rather than leave the client
            # writing into a connection that is about to be closed (RFC 9110 §15.5.14).
            return _json(
                {"error": str(exc)}, 413, {"Cache-Control": "no-store", "Connection": "close"}
            )
        except ValidationError as exc:
            return _json({"error": str(exc)}, exc.status, {"Cache-Control": "no-store"})
        except CONNECTION_ERRORS as exc:
            log.warning("database unavailable: %s", exc)
            return _json(
                {"error": "database unavailable"},
                503,
                {"Cache-Control": "no-store", "Retry-After": "5"},
            )
        except Exception:
            # A bug, not the client's fault: answered (and logged) here rather than raised
            # to uvicorn, which would drop the keep-alive connection without a word, and
            # a proxy counts dropped connections towards marking the whole server down.
            log.exception("unhandled error in %s %s", request.method, request.url.path)
            return _json({"error": "internal error"}, 500, {"Cache-Control": "no-store"})

    return wrapped


ROUTES = [
    ("/healthz", healthz, ["GET"]),
    ("/readyz", readyz, ["GET"]),
    ("/metrics", metrics, ["GET"]),
    ("/openapi.json", openapi, ["GET"]),
    ("/movies", search_movies, ["GET"]),
    ("/movies", create_movie, ["POST"]),
    ("/movies/{id}", get_movie, ["GET"]),
    ("/movies/{id}", replace_movie, ["PUT"]),
    ("/movies/{id}", delete_movie, ["DELETE"]),
    ("/movies/{id}/poster", get_poster, ["GET"]),
    ("/movies/{id}/poster-upload", poster_upload, ["POST"]),
    ("/auth/token", create_token, ["POST"]),
    ("/users/me/watchlist", get_watchlist, ["GET"]),
    ("/users/me/watchlist", add_to_watchlist, ["POST"]),
    ("/users/me/watchlist/{movie_id}", remove_from_watchlist, ["DELETE"]),
]


Handler = Callable[[Request], Awaitable[Response]]


def _routes() -> list[Route]:
    """One Route per path, so a 405's `Allow` names every method the path takes (one Route
    per method made Starlette answer from the first, e.g. PUT /movies: `Allow: GET, HEAD`)."""
    by_path: dict[str, dict[str, Handler]] = {}
    for path, fn, methods in ROUTES:
        for method in methods:
            by_path.setdefault(path, {})[method] = _errors(fn)

    def dispatch(handlers: dict[str, Handler]) -> Handler:
        async def endpoint(request: Request) -> Response:
            # Starlette admits HEAD wherever GET is; uvicorn sends a HEAD no body.
            return await handlers.get(request.method, handlers.get("GET", _never))(request)

        return endpoint

    return [Route(path, dispatch(h), methods=list(h)) for path, h in by_path.items()]


async def _never(request: Request) -> Response:  # unreachable: Route checked the method
    raise HTTPError(405, f"method {request.method} not allowed")


def _not_found(router: Router) -> ASGIApp:
    """Starlette's 404, except that `/movies/` redirects to `/movies` like Starlette's own
    redirect_slashes did, but with a relative Location: Starlette built it from the Host
    header, so any client could make a cached redirect point at a host of its choosing."""

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            target = {**scope, "path": path.rstrip("/")}
            raw = scope.get("raw_path", path.encode("utf-8")).split(b"?", 1)[0]
            location = raw.rstrip(b"/")
            if (
                location != raw
                and location.startswith(b"/")
                and not location.startswith(b"//")  # "//host" would leave this site
                and any(r.matches(target)[0] is not Match.NONE for r in router.routes)
            ):
                query = scope.get("query_string", b"")
                if query:
                    location += b"?" + query
                redirect = Response(
                    status_code=307, headers={"Location": location.decode("latin-1")}
                )
                await redirect(scope, receive, send)
                return
        await router.not_found(scope, receive, send)

    return default


def create_app(settings: Settings, *, redis_password: str = "", s3_client: Any = None) -> Starlette:
    metrics_ = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loader = None
        if settings.db_secret_arn:
            from .aws_secrets import resolve_secrets

            # On a rejected password, re-read the (rotated) secret and rebuild the pools.
            def loader() -> Settings:
                return resolve_secrets(settings)[0]

        db = Database(settings, metrics_, loader)
        await db.start()
        client = make_redis(settings, redis_password) if settings.cache_active else None
        getter = make_getter(settings, redis_password) if settings.cache_active else None
        cache = Cache(settings, metrics_, client, getter)
        s3 = s3_client
        if s3 is None and settings.media_bucket:
            s3 = make_s3_client(settings)
        app.state.movies = AppState(settings, metrics_, db, cache, Media(settings, s3))
        try:
            yield
        finally:
            await cache.close()
            await db.close()

    app = MoviesApp(routes=_routes(), lifespan=lifespan)
    app.fast = AnonymousMovieRead(settings, metrics_)
    app.router.redirect_slashes = False  # _not_found redirects, without the Host header
    app.router.default = _not_found(app.router)
    app.state.metrics = metrics_
    app.add_middleware(MetricsMiddleware, metrics=metrics_)
    return app
