"""Settings from MOVIES_* environment variables, validated once at start.

On an instance these come from the systemd EnvironmentFile `/etc/movies-api/env`; every
bad value fails with one line naming the variable, the value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlsplit


class SettingsError(ValueError):
    """A MOVIES_* variable is missing or malformed; the message is one line."""


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Always allowed to read /metrics: a scrape from the box itself (the lab, an agent).
LOOPBACK: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    database_url: str
    reader_urls: tuple[str, ...] = ()
    redis_url: str = ""
    cache_enabled: bool = False
    stampede_protection: bool = True
    cache_ttl_seconds: int = 300
    cache_ttl_jitter: float = 0.1
    cache_stale_seconds: int = 60
    cache_negative_ttl_seconds: int = 30
    search_ttl_seconds: int = 60
    search_invalidate_on_write: bool = False
    cache_lock_ms: int = 3000
    redis_timeout_seconds: float = 0.25
    redis_breaker_seconds: float = 5.0
    # The in-process hot-key cache in front of Redis: entry lifetime (0 = off) and size.
    hot_cache_ms: int = 0
    hot_cache_size: int = 1000
    # The cache-hit GET on one pipelined connection (redis_get.py) instead of redis-py.
    redis_pipelined_get: bool = True
    replica_retry_seconds: float = 10.0
    # How long a write's fence (its version, kept apart from the entry) outlives the write:
    # a replica fill older than it is read again from the primary; a replica lagging more
    # than this gets no reads (db.py). Issue 22 item 1.
    write_fence_seconds: int = 3600
    # Bulkheads (issue 22 item 3): the longest one replica read may take before it moves on
    # (and the replica is marked down); concurrent searches that may query the database per
    # process, and how long a search waits for a slot before a 503.
    replica_deadline_seconds: float = 0.5
    search_concurrency: int = 0  # 0: half of db_pool_max, at least 1 (search_slots)
    search_queue_seconds: float = 0.25
    db_pool_max: int = 10
    # A pooled connection idle this long is closed (asyncpg's
    # max_inactive_connection_lifetime; 0 keeps it). Connections each pool opens in the
    # background at start, so the first requests after a boot do not each pay a new
    # connection (a backend fork on the server); 0 opens them on demand.
    db_pool_idle_seconds: float = 60.0
    db_pool_warm: int = 0
    db_connect_timeout_seconds: float = 3.0
    http_max_age: int = 60
    http_stale_while_revalidate: int = 30
    # uvicorn's timeout_keep_alive. Longer than the idle timeout of the load balancer in
    # front (the ALB's default is 60 s), or the ALB reuses a connection the service has
    # just closed and answers 502 ("Edit the attributes of your Application Load
    # Balancer", connection idle timeout, in the ELB user guide). infra renders it from
    # the same setting as the ALB's idle timeout.
    http_keepalive_seconds: int = 75
    # The public listener (listener.py): the longest a client may take to send its request
    # headers, and the most connections one process holds open at once.
    http_header_timeout_seconds: float = 10.0
    http_max_connections: int = 4096
    page_size: int = 20
    max_page: int = 500
    media_bucket: str = ""
    s3_endpoint_url: str = ""
    cdn_base_url: str = ""
    presign_seconds: int = 300
    token_secret: str = ""
    token_ttl_seconds: int = 3600
    stage: str = "local"
    db_secret_arn: str = ""
    redis_auth_secret_arn: str = ""
    aws_region: str = ""
    # Who may read /metrics: loopback plus MOVIES_METRICS_ALLOW_CIDRS (infra: the VPC CIDR).
    metrics_allow_networks: tuple[IPNetwork, ...] = LOOPBACK

    @property
    def search_slots(self) -> int:
        """Searches that may query the database at once: the rest of the pool is left to
        point reads."""
        return self.search_concurrency or max(1, self.db_pool_max // 2)

    @property
    def cache_active(self) -> bool:
        return self.cache_enabled and bool(self.redis_url)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{key}={raw!r} is not a boolean; use true/false, 1/0, yes/no, on/off")


def _int(env: Mapping[str, str], key: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{key}={raw!r} is not an integer; allowed {lo}..{hi}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{key}={value} is out of range; allowed {lo}..{hi}")
    return value


def _float(env: Mapping[str, str], key: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{key}={raw!r} is not a number; allowed {lo}..{hi}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{key}={value} is out of range; allowed {lo}..{hi}")
    return value


def _url(key: str, raw: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.hostname or _socket_dir(parts.query)):
        allowed = ", ".join(f"{s}://host..." for s in schemes)
        if set(schemes) & set(_PG):
            allowed += " or postgresql://user@/db?host=/run/postgresql (a Unix socket)"
        raise SettingsError(f"{key}={redact(raw)!r} is not a valid URL; allowed: {allowed}")
    return raw


def _socket_dir(query: str) -> str | None:
    """libpq's `?host=/dir` form: how a single box reaches its own PostgreSQL socket."""
    hosts = parse_qs(query).get("host", [])
    return hosts[0] if hosts and hosts[0].startswith("/") else None


def _networks(env: Mapping[str, str], key: str) -> tuple[IPNetwork, ...]:
    """Loopback plus the comma-separated CIDRs in `key` (host bits must be zero)."""
    found = list(LOOPBACK)
    for item in env.get(key, "").split(","):
        if not item.strip():
            continue
        try:
            network = ipaddress.ip_network(item.strip())
        except ValueError:
            raise SettingsError(
                f"{key}: {item.strip()!r} is not a network; "
                "allowed: comma-separated CIDRs such as 10.0.0.0/16 or fd00::/8"
            ) from None
        if network not in found:
            found.append(network)
    return tuple(found)


def redact(url: str) -> str:
    """The URL with any password replaced, safe for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


_PG = ("postgresql", "postgres")


def load_settings(env: Mapping[str, str] | None = None, *, need_db: bool = True) -> Settings:
    """Read and validate every MOVIES_* variable; raise SettingsError on the first bad one."""
    env = os.environ if env is None else env
    db_url = env.get("MOVIES_DATABASE_URL", "").strip()
    if need_db and not db_url:
        raise SettingsError(
            "MOVIES_DATABASE_URL is not set; expected postgresql://user:password@host:port/db"
        )
    if db_url:
        _url("MOVIES_DATABASE_URL", db_url, _PG)
    readers = tuple(
        _url("MOVIES_DATABASE_READER_URLS", u.strip(), _PG)
        for u in env.get("MOVIES_DATABASE_READER_URLS", "").split(",")
        if u.strip()
    )
    redis_url = env.get("MOVIES_REDIS_URL", "").strip()
    if redis_url:
        _url("MOVIES_REDIS_URL", redis_url, ("redis", "rediss"))
    cdn = env.get("MOVIES_CDN_BASE_URL", "").strip().rstrip("/")
    if cdn:
        _url("MOVIES_CDN_BASE_URL", cdn, ("https", "http"))
    s3_endpoint = env.get("MOVIES_S3_ENDPOINT_URL", "").strip()
    if s3_endpoint:
        _url("MOVIES_S3_ENDPOINT_URL", s3_endpoint, ("https", "http"))
    settings = Settings(
        database_url=db_url,
        reader_urls=readers,
        redis_url=redis_url,
        # The cache is on whenever a Redis URL is given, unless switched off explicitly.
        cache_enabled=_bool(env, "MOVIES_CACHE_ENABLED", bool(redis_url)),
        stampede_protection=_bool(env, "MOVIES_STAMPEDE_PROTECTION", True),
        cache_ttl_seconds=_int(env, "MOVIES_CACHE_TTL_SECONDS", 300, 1, 86400),
        cache_ttl_jitter=_float(env, "MOVIES_CACHE_TTL_JITTER", 0.1, 0.0, 0.5),
        cache_stale_seconds=_int(env, "MOVIES_CACHE_STALE_SECONDS", 60, 0, 3600),
        cache_negative_ttl_seconds=_int(env, "MOVIES_CACHE_NEGATIVE_TTL_SECONDS", 30, 1, 3600),
        search_ttl_seconds=_int(env, "MOVIES_SEARCH_TTL_SECONDS", 60, 1, 3600),
        search_invalidate_on_write=_bool(env, "MOVIES_SEARCH_INVALIDATE_ON_WRITE", False),
        cache_lock_ms=_int(env, "MOVIES_CACHE_LOCK_MS", 3000, 50, 60000),
        redis_timeout_seconds=_float(env, "MOVIES_REDIS_TIMEOUT_SECONDS", 0.25, 0.01, 10.0),
        redis_breaker_seconds=_float(env, "MOVIES_REDIS_BREAKER_SECONDS", 5.0, 0.0, 300.0),
        # A write made through another process is seen here after at most this long.
        hot_cache_ms=_int(env, "MOVIES_HOT_CACHE_MS", 0, 0, 10_000),
        hot_cache_size=_int(env, "MOVIES_HOT_CACHE_SIZE", 1000, 1, 1_000_000),
        redis_pipelined_get=_bool(env, "MOVIES_REDIS_PIPELINED_GET", True),
        replica_retry_seconds=_float(env, "MOVIES_REPLICA_RETRY_SECONDS", 10.0, 0.0, 600.0),
        write_fence_seconds=_int(env, "MOVIES_WRITE_FENCE_SECONDS", 3600, 2, 7 * 86400),
        replica_deadline_seconds=_float(env, "MOVIES_REPLICA_DEADLINE_SECONDS", 0.5, 0.01, 60.0),
        search_concurrency=_int(env, "MOVIES_SEARCH_CONCURRENCY", 0, 0, 1000),
        search_queue_seconds=_float(env, "MOVIES_SEARCH_QUEUE_SECONDS", 0.25, 0.0, 30.0),
        # Pools open connections lazily (min 0), so a database that is down at boot does
        # not stop the service from starting; this caps each pool.
        db_pool_max=_int(env, "MOVIES_DB_POOL_MAX", 10, 1, 200),
        db_pool_idle_seconds=_float(env, "MOVIES_DB_POOL_IDLE_SECONDS", 60.0, 0.0, 86400.0),
        db_pool_warm=_int(env, "MOVIES_DB_POOL_WARM", 0, 0, 200),
        db_connect_timeout_seconds=_float(env, "MOVIES_DB_CONNECT_TIMEOUT_SECONDS", 3.0, 0.1, 60),
        http_max_age=_int(env, "MOVIES_HTTP_MAX_AGE", 60, 0, 86400),
        http_stale_while_revalidate=_int(env, "MOVIES_HTTP_STALE_WHILE_REVALIDATE", 30, 0, 86400),
        # The ALB's idle timeout goes up to 4000 s; the keep-alive must be able to pass it.
        http_keepalive_seconds=_int(env, "MOVIES_HTTP_KEEPALIVE_S", 75, 1, 4100),
        http_header_timeout_seconds=_float(env, "MOVIES_HTTP_HEADER_TIMEOUT_S", 10.0, 0.1, 300.0),
        http_max_connections=_int(env, "MOVIES_HTTP_MAX_CONNECTIONS", 4096, 1, 1_000_000),
        page_size=_int(env, "MOVIES_PAGE_SIZE", 20, 1, 100),
        max_page=_int(env, "MOVIES_MAX_PAGE", 500, 1, 100000),
        media_bucket=env.get("MOVIES_MEDIA_BUCKET", "").strip(),
        s3_endpoint_url=s3_endpoint,
        cdn_base_url=cdn,
        presign_seconds=_int(env, "MOVIES_PRESIGN_SECONDS", 300, 10, 604800),
        token_secret=env.get("MOVIES_TOKEN_SECRET", ""),
        token_ttl_seconds=_int(env, "MOVIES_TOKEN_TTL_SECONDS", 3600, 60, 30 * 86400),
        stage=env.get("MOVIES_STAGE", "local").strip() or "local",
        db_secret_arn=env.get("MOVIES_DB_SECRET_ARN", "").strip(),
        redis_auth_secret_arn=env.get("MOVIES_REDIS_AUTH_SECRET_ARN", "").strip(),
        aws_region=(env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip(),
        metrics_allow_networks=_networks(env, "MOVIES_METRICS_ALLOW_CIDRS"),
    )
    if settings.search_concurrency > settings.db_pool_max:
        raise SettingsError(
            f"MOVIES_SEARCH_CONCURRENCY={settings.search_concurrency} is over "
            f"MOVIES_DB_POOL_MAX={settings.db_pool_max}; allowed 0 (half the pool) "
            f"..{settings.db_pool_max}"
        )
    if settings.db_pool_warm > settings.db_pool_max:
        raise SettingsError(
            f"MOVIES_DB_POOL_WARM={settings.db_pool_warm} is over "
            f"MOVIES_DB_POOL_MAX={settings.db_pool_max}; allowed 0..{settings.db_pool_max}"
        )
    return settings
