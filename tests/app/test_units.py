"""Settings, auth, secrets and the generator: no servers needed."""

from __future__ import annotations

import json
from itertools import islice

import boto3
import pytest
from moto import mock_aws
from movies_api.auth import (
    AuthError,
    credential_from_headers,
    hash_api_key,
    issue_token,
    new_api_key,
    verify_token,
)
from movies_api.aws_secrets import resolve_secrets, with_credentials
from movies_api.db import last_record_end
from movies_api.seed import chunks, generate
from movies_api.settings import SettingsError, load_settings, redact

DB = "postgresql://movies:pw@db.internal:5432/movies"


def test_settings_defaults_and_switches() -> None:
    s = load_settings({"MOVIES_DATABASE_URL": DB})
    assert not s.cache_active and s.reader_urls == () and s.stage == "local"
    s = load_settings(
        {
            "MOVIES_DATABASE_URL": DB,
            "MOVIES_REDIS_URL": "redis://r:6379/0",
            "MOVIES_DATABASE_READER_URLS": f"{DB}, {DB}",
        }
    )
    assert s.cache_active and len(s.reader_urls) == 2
    off = load_settings(
        {
            "MOVIES_DATABASE_URL": DB,
            "MOVIES_REDIS_URL": "redis://r:6379/0",
            "MOVIES_CACHE_ENABLED": "off",
        }
    )
    assert not off.cache_active


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MOVIES_DATABASE_URL is not set"),
        ({"MOVIES_DATABASE_URL": "mysql://x/y"}, "MOVIES_DATABASE_URL='mysql://x/y' is not a"),
        (
            {"MOVIES_DATABASE_URL": DB, "MOVIES_CACHE_ENABLED": "maybe"},
            "MOVIES_CACHE_ENABLED='maybe' is not a boolean",
        ),
        (
            {"MOVIES_DATABASE_URL": DB, "MOVIES_CACHE_TTL_SECONDS": "0"},
            "MOVIES_CACHE_TTL_SECONDS=0 is out of range; allowed 1..86400",
        ),
        (
            {"MOVIES_DATABASE_URL": DB, "MOVIES_DB_POOL_MAX": "0"},
            "MOVIES_DB_POOL_MAX=0 is out of range; allowed 1..200",
        ),
        (
            {"MOVIES_DATABASE_URL": DB, "MOVIES_DB_POOL_MAX": "4", "MOVIES_DB_POOL_WARM": "5"},
            "MOVIES_DB_POOL_WARM=5 is over MOVIES_DB_POOL_MAX=4; allowed 0..4",
        ),
        (
            {"MOVIES_DATABASE_URL": DB, "MOVIES_DB_POOL_IDLE_SECONDS": "-1"},
            "MOVIES_DB_POOL_IDLE_SECONDS=-1.0 is out of range; allowed 0.0..86400.0",
        ),
        (
            {"MOVIES_DATABASE_URL": DB, "MOVIES_REDIS_URL": "memcached://x"},
            "MOVIES_REDIS_URL='memcached://x' is not a valid URL",
        ),
        (
            {"MOVIES_DATABASE_URL": DB, "MOVIES_CACHE_TTL_JITTER": "lots"},
            "MOVIES_CACHE_TTL_JITTER='lots' is not a number",
        ),
    ],
)
def test_bad_settings_fail_with_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_url_error_does_not_leak_the_password() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"MOVIES_DATABASE_URL": "mysql://u:hunter2@h/db"})
    assert "hunter2" not in str(err.value)
    assert redact(DB) == "postgresql://movies:***@db.internal:5432/movies"


def test_api_keys_are_random_and_hashed() -> None:
    a, b = new_api_key(), new_api_key()
    assert a != b and a.startswith("mk_") and len(a) > 40
    assert hash_api_key(a) == hash_api_key(a) and len(hash_api_key(a)) == 32


def test_tokens_sign_verify_and_expire() -> None:
    secret = b"k" * 32
    token, exp = issue_token(secret, 7, "writer", 60, now=1000, key_id=12)
    assert exp == 1060
    p = verify_token(secret, token, now=1059)
    assert (p.user_id, p.role, p.via, p.key_id) == (7, "writer", "token", 12)
    with pytest.raises(AuthError, match="expired"):
        verify_token(secret, token, now=1060)
    with pytest.raises(AuthError, match="signature"):
        verify_token(b"x" * 32, token, now=1000)
    payload, sig = token[3:].split(".")
    tampered_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    with pytest.raises(AuthError):
        verify_token(secret, f"mt_{tampered_payload}.{sig}", now=1000)
    with pytest.raises(AuthError, match="malformed"):
        verify_token(secret, "mt_nodot", now=1000)


def test_credentials_from_headers() -> None:
    assert credential_from_headers(None, None) is None
    assert credential_from_headers("Bearer mk_abc", None) == "mk_abc"
    assert credential_from_headers("bearer  mk_abc ", None) == "mk_abc"
    assert credential_from_headers(None, "mk_xyz") == "mk_xyz"
    with pytest.raises(AuthError, match="Bearer"):
        credential_from_headers("Basic dXNlcg==", None)


def test_generator_is_deterministic_and_prefix_stable() -> None:
    first = list(generate(500, seed=42))
    assert first == list(generate(500, seed=42))
    assert list(generate(100, seed=42)) == first[:100]  # 100k is a prefix of 5M
    assert first != list(generate(500, seed=43))
    ids = [row[0] for row in first]
    assert ids == list(range(1, 501))
    assert all(1920 <= row[2] <= 2025 and 1 <= len(row[3]) <= 3 for row in first)


def test_generator_streams_in_bounded_chunks() -> None:
    # 5M rows are never materialised: the generator is lazy and chunks are bounded.
    rows = generate(5_000_000, seed=1)
    batches = list(islice(chunks(rows, 1000), 3))
    assert [len(b) for b in batches] == [1000, 1000, 1000]
    assert batches[2][-1][0] == 3000


def test_secrets_manager_credentials_fill_the_urls() -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        db_arn = client.create_secret(
            Name="rds-master",
            SecretString=json.dumps({"username": "app", "password": "p@ss:w/rd"}),
        )["ARN"]
        redis_arn = client.create_secret(Name="redis-auth", SecretString="tok3n")["ARN"]
        settings = load_settings({
            "MOVIES_DATABASE_URL": "postgresql://db.internal:5432/movies?sslmode=require",
            "MOVIES_DATABASE_READER_URLS": "postgresql://ro.internal:5432/movies",
            "MOVIES_DB_SECRET_ARN": db_arn, "MOVIES_REDIS_AUTH_SECRET_ARN": redis_arn,
            "AWS_REGION": "us-east-1",
        })  # fmt: skip
        resolved, token = resolve_secrets(settings)
    assert resolved.database_url == (
        "postgresql://app:p%40ss%3Aw%2Frd@db.internal:5432/movies?sslmode=require"
    )
    assert resolved.reader_urls == ("postgresql://app:p%40ss%3Aw%2Frd@ro.internal:5432/movies",)
    assert token == "tok3n"


def test_unreadable_secret_is_a_one_line_settings_error() -> None:
    with mock_aws():
        settings = load_settings(
            {
                "MOVIES_DATABASE_URL": "postgresql://db:5432/m",
                "MOVIES_DB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:"
                "123456789012:secret:missing",
                "AWS_REGION": "us-east-1",
            }
        )
        with pytest.raises(SettingsError, match=r"cannot read secret .*missing"):
            resolve_secrets(settings)


def test_with_credentials_keeps_ipv6_hosts() -> None:
    assert with_credentials("postgresql://[::1]:5432/db", "u", "p") == (
        "postgresql://u:p@[::1]:5432/db"
    )


@pytest.mark.parametrize(
    "insert_lsn,end",
    [
        (0x3000018, 0x3000000),  # 24 past a page's start: its short header, none written
        (0x4000028, 0x4000000),  # 40 past a segment's first page: the long header
        (0x3002018, 0x3002000),
        (0x3000019, 0x3000019),  # inside a page: a record ends there
        (0x3001FF8, 0x3001FF8),
    ],
)
def test_the_last_record_ends_before_a_page_header(insert_lsn: int, end: int) -> None:
    assert last_record_end(insert_lsn) == end
