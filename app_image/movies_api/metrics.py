"""Prometheus metrics, one registry per app so tests can build many apps in one process,
and who may read them."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "client_allowed"]

# The *_created series double the output and no dashboard here reads them.
disable_created_metrics()


def client_allowed(
    host: str | None, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    """Whether a request from `host` may read /metrics; no address (a unix socket) may not.

    `host` is the ASGI client: the TCP peer, or what X-Forwarded-For said when uvicorn
    trusts the peer as a proxy (`movies_api serve` trusts only these same networks).
    """
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "movies_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "movies_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.cache_hits = Counter(
            "movies_cache_hits", "Cache reads answered from Redis", ["kind"], registry=r
        )
        self.cache_misses = Counter(
            "movies_cache_misses", "Cache reads that went to the database", ["kind"], registry=r
        )
        self.cache_stale = Counter(
            "movies_cache_stale_served",
            "Stale entries served while one caller refreshes them",
            ["kind"],
            registry=r,
        )
        self.cache_local_hits = Counter(
            "movies_cache_local_hits",
            "Cache hits answered by the in-process hot-key cache (also counted as hits)",
            ["kind"],
            registry=r,
        )
        self.cache_errors = Counter(
            "movies_cache_errors", "Redis errors (each opens the breaker)", registry=r
        )
        self.cache_bypassed = Counter(
            "movies_cache_bypassed",
            "Cache reads skipped because the Redis circuit breaker is open",
            registry=r,
        )
        self.cache_lock_waits = Counter(
            "movies_cache_lock_waits",
            "Misses that waited for another caller's fill instead of querying",
            registry=r,
        )
        self.cache_coalesced = Counter(
            "movies_cache_coalesced",
            "Reads that joined a fill already in flight in this process",
            registry=r,
        )
        self.db_queries = Counter(
            "movies_db_queries",
            "Database queries by the role that served them",
            ["role"],
            registry=r,
        )
        self.db_fallbacks = Counter(
            "movies_db_replica_fallbacks",
            "Reads sent to the primary because a replica failed",
            registry=r,
        )
        self.cache_fenced = Counter(
            "movies_cache_fenced",
            "Fills from a replica refused by a write fence (older than a recent write) and "
            "read again from the primary",
            registry=r,
        )
        self.db_replica_lagging = Counter(
            "movies_db_replica_lagging",
            "Times a replica was taken out of reads for lagging past the write fence",
            registry=r,
        )
        self.db_replica_deadlines = Counter(
            "movies_db_replica_deadlines",
            "Replica reads that passed their per-query deadline (the replica is marked down)",
            registry=r,
        )
        self.search_shed = Counter(
            "movies_search_shed",
            "Searches refused with 503 because the search concurrency cap was full",
            registry=r,
        )
        self.redis_breaker_open = Gauge(
            "movies_redis_breaker_open", "1 while the Redis circuit breaker is open", registry=r
        )
        for role in ("primary", "replica"):
            self.db_queries.labels(role=role)
        for kind in ("movie", "search"):
            self.cache_hits.labels(kind=kind)
            self.cache_misses.labels(kind=kind)
            self.cache_stale.labels(kind=kind)
            self.cache_local_hits.labels(kind=kind)

    def render(self) -> bytes:
        return generate_latest(self.registry)
