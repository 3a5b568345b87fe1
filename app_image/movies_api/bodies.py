"""Reading a JSON request body from a client that may be hostile.

- The size limit holds while the body streams in: a `Content-Length` over the limit is
  refused before a byte of the body is read, and a chunked body is cut at the chunk that
  passes it, so a 100 MB body costs at most the limit plus one chunk of memory.
- Nesting is bounded before parsing: `json.loads` recurses once per `[` or `{` and raises
  RecursionError near the interpreter's limit (a body of 5,000 `[` did). Every body this
  API takes is two levels deep; MAX_DEPTH leaves room and still stops long before that.
- `NaN`/`Infinity` are not JSON (RFC 8259 §6); Python's parser takes them unless told not to.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from starlette.requests import ClientDisconnect, Request

from .validation import ValidationError

MAX_DEPTH = 32

# A JSON string literal, its closing quote optional so an unterminated one is consumed in
# one linear pass (with a required quote, `"\"\"\"...` would be rescanned from every quote).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_NOT_BRACKETS = bytes(b for b in range(256) if not _STEP[b])


class BodyTooLarge(ValidationError):
    """413; the app closes the connection after it (the rest of the body is not read)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=413)


def nesting_depth(raw: bytes) -> int:
    """The deepest `[`/`{` nesting outside string literals (unbalanced input included)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    # map/accumulate/max all run in C, no Python loop per byte.
    return max(accumulate(map(_STEP.__getitem__, brackets), initial=0))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    # Fewer brackets than the limit cannot nest past it: the usual body (a movie has two)
    # skips the scan, which costs ~2-3 ms of CPU on 64 kB of brackets (measured on the
    # shared, loaded 2-core box; bytes.count is ~100x cheaper).
    few = raw.count(b"[") + raw.count(b"{") <= max_depth
    depth = 0 if few else nesting_depth(raw)
    if depth > max_depth:
        raise ValidationError(
            f"body nests {depth} levels deep; at most {max_depth} allowed", status=400
        )
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, int digits limit, NaN
        raise ValidationError("body is not valid JSON", status=400) from None


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as the header or the bytes read pass `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body is {int(declared)} bytes; at most {limit} allowed")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"body is over {limit} bytes; at most {limit} allowed")
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody is left to read the answer; a 400 keeps it out of the 5xx counts.
        raise ValidationError("client disconnected before the body ended", status=400) from None
    return b"".join(chunks)


async def read_json(request: Request, limit: int, max_depth: int = MAX_DEPTH) -> Any:
    return parse_json(await read_body(request, limit), max_depth)
