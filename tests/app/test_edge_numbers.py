"""Issue 22 item 4 (finding 5): every number read from a request or a token is finite and in
range before it is used. The two 500s the issue found (a `rating` of `1` and 400 zeros; a
correctly signed token whose key id is 2^70) and their neighbours, over ASGI against the
real database; test_hostile.py draws the same values over a real socket."""

from __future__ import annotations

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from movies_api.auth import AuthError, issue_token, verify_token
from movies_api.validation import ValidationError, number

from tests.app.support import MOVIE, auth

# Values a JSON number in a body can take that do not fit a float, a bigint or the range.
HUGE_RATINGS = [10**400, -(10**400), 2**70, 1e308, -1e-320, 10.05, 10.000001]


@pytest.mark.parametrize("value", [*HUGE_RATINGS, float("nan"), float("inf"), "7", True])
def test_number_refuses_what_is_not_a_finite_number_in_range(value) -> None:
    with pytest.raises(ValidationError):
        number("rating", value, 0, 10)


@given(st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True)))
@settings(max_examples=300, database=None)
def test_number_never_raises_anything_but_a_validation_error(value) -> None:
    try:
        got = number("rating", value, 0, 10)
    except ValidationError:
        return
    assert 0 <= got <= 10


@pytest.mark.parametrize("claim", ["kid", "sub", "exp"])
@pytest.mark.parametrize("value", [2**70, 2**63, 0, -1, 1.5, True, "5"])
def test_a_signed_claim_out_of_bigint_range_is_an_auth_error(claim: str, value) -> None:
    import base64
    import hashlib
    import hmac
    import json

    secret = b"s" * 32
    claims = {"sub": 1, "role": "writer", "exp": 2**40, "kid": 1, claim: value}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    sig = base64.urlsafe_b64encode(hmac.new(secret, payload, hashlib.sha256).digest())
    token = f"mt_{payload.decode()}.{sig.rstrip(b'=').decode()}"
    with pytest.raises(AuthError):
        verify_token(secret, token)


def test_a_token_signed_with_key_id_2_70_is_refused() -> None:
    token, _ = issue_token(b"k" * 32, 1, "writer", 600, key_id=2**70)
    with pytest.raises(AuthError, match="malformed token"):
        verify_token(b"k" * 32, token)


@pytest.mark.servers
@pytest.mark.anyio
@pytest.mark.parametrize(
    "raw",
    [b"1" + b"0" * 400, b"-1" + b"0" * 400, b"1e400", b"-1e400", b"NaN", b"Infinity"],
)
async def test_the_overflowing_rating_is_4xx_on_post_and_put(app_client, servers, raw) -> None:
    body = b'{"title": "Edge", "year": 2001, "rating": ' + raw + b"}"
    headers = {**auth(servers.key("demo-writer")), "Content-Type": "application/json"}
    async with app_client() as (client, _):
        for method, path in (("POST", "/movies"), ("PUT", "/movies/3")):
            r = await client.request(method, path, content=body, headers=headers)
            assert 400 <= r.status_code < 500, (method, raw[:12], r.status_code, r.text)
            assert "rating" in r.text or "JSON" in r.text or "number" in r.text, r.text


@pytest.mark.servers
@pytest.mark.anyio
async def test_a_correctly_signed_token_with_key_id_2_70_is_401(app_client, servers) -> None:
    conn = await asyncpg.connect(servers.primary.url())
    try:
        secret = bytes(await conn.fetchval("SELECT secret FROM token_signing_keys WHERE id = 1"))
    finally:
        await conn.close()
    async with app_client() as (client, _):
        for kid in (2**70, 2**63, 2**63 - 1):
            token, _ = issue_token(secret, 1, "writer", 600, key_id=kid)
            for method, path in (("GET", "/users/me/watchlist"), ("PUT", "/movies/3")):
                r = await client.request(method, path, json=MOVIE, headers=auth(token))
                assert r.status_code == 401, (kid, method, r.status_code, r.text)
