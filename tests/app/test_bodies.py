"""bodies.py without servers: the limit holds while streaming, nesting is bounded, and the
nesting scan is exact and linear (issue 15 items 5 and 6)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from movies_api.bodies import (
    MAX_DEPTH,
    BodyTooLarge,
    nesting_depth,
    parse_json,
    read_body,
)
from movies_api.validation import ValidationError
from starlette.requests import Request

LIMIT = 64 * 1024


def _request(chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[Request, list[int]]:
    consumed: list[int] = []

    async def receive() -> dict:
        i = len(consumed)
        consumed.append(i)
        if i >= len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[i], "more_body": i < len(chunks) - 1}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return Request(scope, receive), consumed


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_streamed_body_is_cut_at_the_chunk_that_passes_the_limit() -> None:
    chunks = [b"x" * 16384] * 6400  # 100 MB if it were all read
    request, consumed = _request(chunks, [])
    with pytest.raises(BodyTooLarge, match="at most 65536"):
        await read_body(request, LIMIT)
    assert len(consumed) == LIMIT // 16384 + 1  # 5 of 6400 chunks


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_declared_length_over_the_limit_reads_nothing() -> None:
    request, consumed = _request([b"{}"], [(b"content-length", b"104857600")])
    with pytest.raises(BodyTooLarge, match="body is 104857600 bytes"):
        await read_body(request, LIMIT)
    assert consumed == []


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_body_at_the_limit_is_read_whole() -> None:
    request, _ = _request([b"a" * (LIMIT // 2)] * 2, [(b"content-length", str(LIMIT).encode())])
    assert len(await read_body(request, LIMIT)) == LIMIT


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"", 0), (b"1", 0), (b"[]", 1), (b"[[]]", 2), (b"[" * 5000, 5000),
        (b'{"a": [1, {"b": "[[[[{{{"}]}', 3), (b'["\\"[[["]', 1),
        (b'"unterminated [[[[', 0), (b"]]]][[", 0), (b"]][[[[", 2),
    ],
)  # fmt: skip
def test_nesting_depth(raw: bytes, depth: int) -> None:
    assert nesting_depth(raw) == depth


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=30,
    )
)
def test_nesting_depth_matches_the_parsed_value(value: object) -> None:
    def depth(v: object) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    assert nesting_depth(json.dumps(value).encode()) == depth(value)


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_parse_json_only_ever_raises_a_400(raw: bytes) -> None:
    try:
        parse_json(raw)
    except ValidationError as exc:
        assert exc.status == 400 and "\n" not in str(exc)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 5000, "body nests 5000 levels deep; at most 32 allowed"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nests 33 levels"),
        (b'{"a":' * 3000 + b"1" + b"}" * 3000, "nests 3000 levels"),
        (b"NaN", "not valid JSON"),
        (b'{"rating": -Infinity}', "not valid JSON"),
        (b"1" * 5000, "not valid JSON"),  # past Python's int digit limit
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_parse_json_refusals(raw: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        parse_json(raw)
    assert caught.value.status == 400


def test_parse_json_accepts_the_limit_depth() -> None:
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None


def test_the_scan_is_linear_on_hostile_shapes() -> None:
    # An unterminated string after many escaped quotes: a regex that needs the closing
    # quote would rescan from every quote (quadratic); this one is one pass.
    for raw in (b'"' + b'\\"' * 30000, b"[]" * 32768, b'"\\' * 30000):
        started = time.process_time()
        nesting_depth(raw)
        assert time.process_time() - started < 0.5, raw[:20]


# -- the other parsers a hostile request reaches, without a server -------------------------
LATIN1 = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=120)


@settings(max_examples=400, deadline=None, database=None)
@given(authorization=st.none() | LATIN1, x_api_key=st.none() | LATIN1, prefix=st.sampled_from(
    ["", "Bearer ", "Bearer mt_", "Bearer mk_", "bearer  mt_"]))  # fmt: skip
def test_credential_parsing_raises_only_auth_error(authorization, x_api_key, prefix) -> None:
    """Starlette hands header values over as latin-1 text: whatever they hold, the auth
    functions answer a credential, None, or AuthError (a 401), never anything else."""
    from movies_api.auth import AuthError, credential_from_headers, is_api_key_shaped, verify_token

    header = None if authorization is None else prefix + authorization
    try:
        cred = credential_from_headers(header, x_api_key)
        if cred is not None:
            is_api_key_shaped(cred)
            verify_token(b"k" * 32, cred)
    except AuthError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=400, deadline=None, database=None)
@given(st.dictionaries(st.sampled_from(["q", "genre", "year", "page", "x"]), LATIN1 | st.text()))
def test_search_params_raise_only_a_422(params) -> None:
    from movies_api.validation import search_params

    try:
        parsed = search_params(params, 500)
    except ValidationError as exc:
        assert exc.status == 422 and "\n" not in str(exc)
    else:
        assert parsed.q is None or "\x00" not in parsed.q
        assert 1 <= parsed.page <= 500
