"""API keys and signed tokens.

API keys are 256-bit random strings (`mk_...`) stored as their SHA-256. A slow hash
(bcrypt, argon2) exists to make guessing a *low-entropy* password expensive; a 256-bit
random key cannot be guessed anyway, and a fast hash lets every request be checked by an
indexed equality lookup instead of ~100 ms of CPU per request.

Tokens are `mt_<payload>.<signature>`: base64url JSON `{"sub", "role", "exp", "kid"}`
signed with HMAC-SHA256 under a key every instance shares (from MOVIES_TOKEN_SECRET or the
database). Tokens are never stored, so there is nothing to leak; they expire. `kid` is the
id of the API key the token was minted from: every use re-checks that key (through the same
cache as a key), so revoking the key or demoting its user reaches its tokens too, and only
an API key can mint a token (the app refuses a token at POST /auth/token).

Both credentials are parsed by shape before anything else: a header is any latin-1 text, and
a value that is not exactly base64url of the right length is refused here, before a
database query, an `.encode("ascii")` or a `compare_digest` of unequal types can fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Literal

Role = Literal["reader", "writer"]
KEY_PREFIX = "mk_"
TOKEN_PREFIX = "mt_"
# new_api_key(): "mk_" + token_urlsafe(32), which is always 43 base64url characters.
_KEY_SHAPE = re.compile(r"mk_[A-Za-z0-9_-]{43}")
# payload (a few dozen bytes of JSON; 512 is generous) "." 43-char HMAC-SHA256.
_TOKEN_SHAPE = re.compile(r"mt_([A-Za-z0-9_-]{1,512})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class Principal:
    user_id: int
    role: Role
    via: Literal["api_key", "token"]
    key_id: int = 0  # api_keys.id of the key (or of the key the token was minted from)


class AuthError(Exception):
    """Credentials were given but are not valid: answered with 401."""


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_api_key_shaped(value: str) -> bool:
    return _KEY_SHAPE.fullmatch(value) is not None


def issue_token(
    secret: bytes,
    user_id: int,
    role: Role,
    ttl_seconds: int,
    now: float | None = None,
    *,
    key_id: int,
) -> tuple[str, int]:
    exp = int((time.time() if now is None else now) + ttl_seconds)
    claims = {"sub": user_id, "role": role, "exp": exp, "kid": key_id}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())
    return f"{TOKEN_PREFIX}{payload}.{sig}", exp


# Every integer claim goes to PostgreSQL as a bigint (or is compared with the clock): a
# signed claim outside it was a driver OverflowError and a 500 (issue 22 item 5).
_MAX_BIGINT = 2**63 - 1


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _claim_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_BIGINT:
        raise ValueError(f"claim {value!r} is not an integer in 1..2^63-1")
    return value


def verify_token(secret: bytes, token: str, now: float | None = None) -> Principal:
    """The signed claims of a well-formed, unexpired token; the caller re-checks its key."""
    shape = _TOKEN_SHAPE.fullmatch(token)
    if shape is None:
        raise AuthError("malformed token: expected mt_<base64url>.<base64url signature>")
    payload, sig = shape.group(1).encode("ascii"), shape.group(2).encode("ascii")
    expected = _b64(hmac.new(secret, payload, hashlib.sha256).digest()).encode("ascii")
    if not hmac.compare_digest(expected, sig):
        raise AuthError("bad token signature")
    try:
        claims = json.loads(_unb64(shape.group(1)), parse_constant=_no_constant)
        user_id, role = _claim_int(claims["sub"]), claims["role"]
        exp, key_id = _claim_int(claims["exp"]), _claim_int(claims["kid"])
    except KeyError:
        # Signed by us before tokens named their key: such a token could outlive a revoked
        # key, so it is refused (tokens live an hour; the client mints a new one).
        raise AuthError("token predates key binding; mint a new one with your API key") from None
    except (ValueError, TypeError, OverflowError):
        raise AuthError("malformed token") from None
    if role not in ("reader", "writer"):
        raise AuthError("malformed token")
    if exp <= (time.time() if now is None else now):
        raise AuthError("token expired")
    return Principal(user_id, role, "token", key_id)


def credential_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    """The raw key or token a request carries, or None for an anonymous request."""
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("Authorization must be 'Bearer mk_...' or 'Bearer mt_...'")
        return value.strip()
    return None
