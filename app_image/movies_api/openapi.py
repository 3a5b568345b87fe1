"""The OpenAPI 3.0 description of the service, served at /openapi.json and fuzzed in tests."""

from __future__ import annotations

from typing import Any

from .media import CONTENT_TYPES
from .validation import MAX_BIGINT


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERR = _ref("Error")
_MOVIE_ID = {"id": "$response.body#/id"}
# What a new movie leads to. Explicit, so a fuzzer follows these and does not guess (from
# the path) that a new movie has a poster: it has none until a poster-upload.
_MOVIE_LINKS = {
    "GetMovie": {"operationId": "getMovie", "parameters": _MOVIE_ID},
    "ReplaceMovie": {"operationId": "replaceMovie", "parameters": _MOVIE_ID},
    "DeleteMovie": {"operationId": "deleteMovie", "parameters": _MOVIE_ID},
    "UploadPoster": {"operationId": "uploadPoster", "parameters": _MOVIE_ID},
}
_ID = {
    "name": "id", "in": "path", "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BIGINT},
}  # fmt: skip
_AUTH = [{"apiKey": []}, {"bearer": []}]


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "unreadable body", 401: "missing or invalid credentials",
        403: "authenticated but not allowed", 404: "not found", 413: "body too large",
        422: "invalid input", 503: "database unavailable",
    }  # fmt: skip
    return {str(c): _json(_ERR, text[c]) for c in codes}


MOVIE_INPUT = {
    "type": "object",
    "required": ["title", "year"],
    "additionalProperties": False,
    "properties": {
        # PostgreSQL text cannot hold NUL; a title needs one non-space character.
        "title": {"type": "string", "minLength": 1, "maxLength": 300,
                  "pattern": r"^[^\u0000]*[^\s\u0000][^\u0000]*$"},
        "year": {"type": "integer", "minimum": 1870, "maximum": 2100},
        "genres": {
            "type": "array", "maxItems": 10,
            "items": {"type": "string", "pattern": "^[a-z][a-z-]{0,29}$"},
        },
        "runtime_minutes": {"type": "integer", "minimum": 1, "maximum": 1000, "nullable": True},
        "rating": {"type": "number", "minimum": 0, "maximum": 10, "nullable": True},
        "overview": {"type": "string", "maxLength": 5000, "pattern": r"^[^\u0000]*$"},
    },
}  # fmt: skip

MOVIE = {
    "type": "object",
    "required": ["id", "title", "year", "genres", "runtime_minutes", "rating", "overview",
                 "has_poster", "updated_at"],
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "year": {"type": "integer"},
        "genres": {"type": "array", "items": {"type": "string"}},
        "runtime_minutes": {"type": "integer", "nullable": True},
        "rating": {"type": "number", "nullable": True},
        "overview": {"type": "string"},
        "has_poster": {"type": "boolean"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}  # fmt: skip


def openapi_spec(version: str) -> dict[str, Any]:
    public_get = {"security": [{}, *_AUTH]}
    return {
        "openapi": "3.0.3",
        "info": {"title": "movies API", "version": version,
                 "description": "Movie metadata: read-heavy, cached, staged on AWS."},
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "an API key (mk_...) or a signed token (mt_...)"},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"],
                          "properties": {"error": {"type": "string"}}},
                "MovieInput": MOVIE_INPUT,
                "Movie": MOVIE,
                "SearchPage": {
                    "type": "object", "required": ["items", "page", "page_size", "next_page"],
                    "properties": {
                        "items": {"type": "array", "items": _ref("Movie")},
                        "page": {"type": "integer"},
                        "page_size": {"type": "integer"},
                        "next_page": {"type": "integer", "nullable": True},
                    },
                },
            },
        },
        "paths": {
            "/healthz": {"get": {
                "operationId": "healthz",
                "summary": "Shallow liveness check for the load balancer",
                "responses": {"200": _json({"type": "object"}, "alive")},
            }},
            "/readyz": {"get": {
                "operationId": "readyz",
                "summary": "Deep check: database primary, replicas and cache",
                "responses": {"200": _json({"type": "object"}, "ready"),
                              "503": _json({"type": "object"}, "primary database down")},
            }},
            "/metrics": {"get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "Prometheus text format",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}},
                              # As for an unknown path: to clients outside the allowed
                              # networks, and always at the ALB (its /metrics* rule).
                              "404": {"description": "not served to this client",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}}},
            }},
            "/movies": {
                "get": {
                    **public_get, "operationId": "searchMovies",
                    "summary": "Search movies by title words, genre and year, paginated",
                    "parameters": [
                        {"name": "q", "in": "query",
                         "schema": {"type": "string", "maxLength": 200}},
                        {"name": "genre", "in": "query",
                         "schema": {"type": "string", "pattern": "^[a-z][a-z-]{0,29}$"}},
                        {"name": "year", "in": "query",
                         "schema": {"type": "integer", "minimum": 1870, "maximum": 2100}},
                        {"name": "page", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    ],
                    "responses": {"200": _json(_ref("SearchPage"), "one page of results"),
                                  **_errors(401, 422, 503)},
                },
                "post": {
                    "security": _AUTH, "operationId": "createMovie",
                    "summary": "Create a movie (writer role)",
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": _ref("MovieInput")}}},
                    "responses": {"201": {**_json(_ref("Movie"), "created"),
                                          "links": _MOVIE_LINKS},
                                  **_errors(400, 401, 403, 413, 422, 503)},
                },
            },
            "/movies/{id}": {
                "parameters": [_ID],
                "get": {**public_get, "operationId": "getMovie", "summary": "One movie",
                        "responses": {"200": _json(_ref("Movie"), "the movie"),
                                      **_errors(401, 404, 422, 503)}},
                "put": {
                    "security": _AUTH, "operationId": "replaceMovie",
                    "summary": "Replace a movie (writer role)",
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": _ref("MovieInput")}}},
                    "responses": {"200": _json(_ref("Movie"), "replaced"),
                                  **_errors(400, 401, 403, 404, 413, 422, 503)},
                },
                "delete": {
                    "security": _AUTH, "operationId": "deleteMovie",
                    "summary": "Delete a movie (writer role)",
                    "responses": {"204": {"description": "deleted"},
                                  **_errors(401, 403, 404, 422, 503)},
                },
            },
            "/movies/{id}/poster": {"get": {
                **public_get, "operationId": "getPoster",
                "summary": "Redirect to the poster (CDN or presigned S3 URL)",
                "parameters": [_ID],
                "responses": {"302": {"description": "redirect to the image",
                                      "headers": {"Location": {"schema": {"type": "string"}}}},
                              **_errors(401, 404, 422, 503)},
            }},
            "/movies/{id}/poster-upload": {"post": {
                "security": _AUTH, "operationId": "uploadPoster",
                "summary": "A presigned S3 POST form for a new poster (writer role)",
                "parameters": [_ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"content_type": {"type": "string",
                                                    "enum": list(CONTENT_TYPES)}}}}}},
                "responses": {"201": _json({
                    "type": "object", "required": ["key", "url", "fields", "expires_in"],
                    "properties": {"key": {"type": "string"}, "url": {"type": "string"},
                                   "fields": {"type": "object"},
                                   "expires_in": {"type": "integer"}}}, "upload form")
                    | {"links": {"GetPoster": {"operationId": "getPoster",
                                               "parameters": {"id": "$request.path.id"}}}},
                    **_errors(400, 401, 403, 404, 413, 422, 503)},
            }},
            "/auth/token": {"post": {
                "security": _AUTH, "operationId": "createToken",
                "summary": "Exchange an API key for a signed, expiring token (a token "
                           "cannot mint another: 403)",
                "responses": {"201": _json({
                    "type": "object", "required": ["token", "token_type", "expires_at"],
                    "properties": {"token": {"type": "string"}, "token_type": {"type": "string"},
                                   "expires_at": {"type": "integer"},
                                   "role": {"type": "string"}}}, "a token"),
                    **_errors(401, 403, 503)},
            }},
            "/users/me/watchlist": {
                "get": {
                    "security": _AUTH, "operationId": "getWatchlist",
                    "summary": "The caller's watchlist",
                    "responses": {"200": _json({
                        "type": "object", "required": ["user_id", "items"],
                        "properties": {"user_id": {"type": "integer"}, "items": {
                            "type": "array", "items": {"type": "object", "properties": {
                                "movie": _ref("Movie"), "added_at": {"type": "string"}}}}}},
                        "the watchlist"), **_errors(401, 503)},
                },
                "post": {
                    "security": _AUTH, "operationId": "addToWatchlist",
                    "summary": "Add a movie to the caller's watchlist",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"type": "object", "required": ["movie_id"],
                                   "additionalProperties": False,
                                   "properties": {"movie_id": {"type": "integer", "minimum": 1,
                                                               "maximum": MAX_BIGINT}}}}}},
                    "responses": {
                        "201": _json({"type": "object"}, "added") | {"links": {
                            "RemoveFromWatchlist": {
                                "operationId": "removeFromWatchlist",
                                "parameters": {"movie_id": "$response.body#/movie_id"}}}},
                        "200": _json({"type": "object"}, "already there"),
                        **_errors(400, 401, 404, 413, 422, 503)},
                },
            },
            "/users/me/watchlist/{movie_id}": {"delete": {
                "security": _AUTH, "operationId": "removeFromWatchlist",
                "summary": "Remove a movie from the caller's watchlist",
                "parameters": [{"name": "movie_id", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1,
                                           "maximum": MAX_BIGINT}}],
                "responses": {"204": {"description": "removed"}, **_errors(401, 404, 422, 503)},
            }},
        },
    }  # fmt: skip
