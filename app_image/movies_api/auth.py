"""API keys and signed tokens.

API keys are 256-bit random strings (`mk_...`) stored as their SHA-256. A slow hash
(bcrypt, argon2) exists to make guessing a *low-entropy* password expensive; a 256-bit
random key cannot be guessed anyway, and a fast hash lets every request be checked by an
indexed equality lookup instead of ~100 ms of CPU per request.

Tokens are `mt_<payload>.<signature>`: base64url JSON `{"sub", "role", "exp"}` signed with
HMAC-SHA256 under a key every instance shares (from MOVIES_TOKEN_SECRET or the database).
Tokens are never stored, so there is nothing to leak; they expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Literal

Role = Literal["reader", "writer"]
KEY_PREFIX = "mk_"
TOKEN_PREFIX = "mt_"


@dataclass(frozen=True)
class Principal:
    user_id: int
    role: Role
    via: Literal["api_key", "token"]


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


def issue_token(
    secret: bytes, user_id: int, role: Role, ttl_seconds: int, now: float | None = None
) -> tuple[str, int]:
    exp = int((time.time() if now is None else now) + ttl_seconds)
    payload = _b64(
        json.dumps({"sub": user_id, "role": role, "exp": exp}, separators=(",", ":")).encode()
    )
    sig = _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())
    return f"{TOKEN_PREFIX}{payload}.{sig}", exp


def verify_token(secret: bytes, token: str, now: float | None = None) -> Principal:
    body = token[len(TOKEN_PREFIX) :]
    payload, _, sig = body.partition(".")
    if not payload or not sig:
        raise AuthError("malformed token")
    expected = _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, sig):
        raise AuthError("bad token signature")
    try:
        claims = json.loads(_unb64(payload))
        user_id, role, exp = int(claims["sub"]), claims["role"], int(claims["exp"])
    except (ValueError, KeyError, TypeError):
        raise AuthError("malformed token") from None
    if role not in ("reader", "writer"):
        raise AuthError("malformed token")
    if exp <= (time.time() if now is None else now):
        raise AuthError("token expired")
    return Principal(user_id, role, "token")


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
