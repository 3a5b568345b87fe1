"""Credentials from Secrets Manager, merged into the connection URLs in memory only.

The RDS-managed master secret is JSON with `username` and `password`; the ElastiCache auth
secret is either a bare token or JSON with `auth_token`, `password` or `token`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

from .settings import Settings, SettingsError


def _secret_string(client: Any, arn: str) -> str:
    try:
        value = client.get_secret_value(SecretId=arn)
    except Exception as exc:  # botocore raises many types; all mean "cannot read it"
        raise SettingsError(f"cannot read secret {arn}: {type(exc).__name__}: {exc}") from None
    text = value.get("SecretString")
    if not text:
        raise SettingsError(f"secret {arn} has no SecretString")
    return text


def db_credentials(client: Any, arn: str) -> tuple[str, str]:
    text = _secret_string(client, arn)
    try:
        data = json.loads(text)
        return str(data["username"]), str(data["password"])
    except (ValueError, KeyError, TypeError):
        raise SettingsError(
            f"secret {arn} is not JSON with 'username' and 'password' keys"
        ) from None


def redis_token(client: Any, arn: str) -> str:
    text = _secret_string(client, arn)
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(data, dict):
        for key in ("auth_token", "password", "token"):
            if data.get(key):
                return str(data[key])
        raise SettingsError(f"secret {arn} has none of the keys auth_token, password, token")
    return str(data)


def with_credentials(url: str, username: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}{port}"
    return parts._replace(netloc=netloc).geturl()


def resolve_secrets(settings: Settings, client: Any | None = None) -> tuple[Settings, str]:
    """Settings with DB credentials filled in, and the Redis auth token ("" if none)."""
    if not settings.db_secret_arn and not settings.redis_auth_secret_arn:
        return settings, ""
    if client is None:
        # Imported here: every `serve` reads this module, and only a stack with secrets
        # needs boto3 (a tenth of a CPU-second per process start).
        import boto3

        client = boto3.client("secretsmanager", region_name=settings.aws_region or None)
    if settings.db_secret_arn:
        user, password = db_credentials(client, settings.db_secret_arn)
        settings = settings.with_overrides(
            database_url=with_credentials(settings.database_url, user, password),
            reader_urls=tuple(with_credentials(u, user, password) for u in settings.reader_urls),
        )
    token = (
        redis_token(client, settings.redis_auth_secret_arn)
        if (settings.redis_auth_secret_arn)
        else ""
    )
    return settings, token
