"""The lab's shared results code: where results go, the machine they were measured on,
and one stage's figures from a run's samples and the servers' counters. The commands
(`bench`, `saturate`, `load`, `fault`, `limit`) import it; none imports another command."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from lab import observe
from lab.state import REPO, Registry
from lab.stats import summarize

RESULTS = REPO / "lab" / "results"


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        # Other work on the machine competes with the lab; the 1-minute load says how much.
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
    }


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def stage_row(stage: str, reg: Registry, result, delta: observe.Snapshot) -> dict[str, Any]:
    """One table row from a run's samples and what the servers counted meanwhile."""
    summary = summarize(result.samples, result.measured_seconds)
    # Per request that the client sent to the entry point (poster bytes fetched from the
    # edge are not API requests and are left out of the denominator).
    api_requests = sum(1 for s in result.samples if s.kind != "media")
    svc = delta.service
    hits = observe.total(svc, "movies_cache_hits_total")
    misses = observe.total(svc, "movies_cache_misses_total")
    db_reads = delta.primary_reads + delta.replica_reads
    # What reached the API processes (their own request counters, health checks and
    # scrapes left out): at an edge stage also the CDN's background refreshes of stale
    # entries, which the client's answers count as edge hits.
    origin: float | None = (
        observe.total(svc, "movies_requests_total")
        - observe.total(svc, "movies_requests_total", route="/healthz")
        - observe.total(svc, "movies_requests_total", route="/metrics")
    )
    if reg.endpoints["topology"].get("api_workers", 1) > 1:
        # /metrics answers from one uvicorn worker's registry: the sum would miss the rest.
        origin = None
    return {
        "stage": stage,
        "topology": reg.endpoints["topology"],
        "requests": summary.requests,
        "api_requests": api_requests,
        "seconds": round(summary.seconds, 2),
        "rps": round(summary.rps, 1),
        "p50_ms": round_or_none(summary.p50_ms, 2),
        "p99_ms": round_or_none(summary.p99_ms, 2),
        "errors": summary.errors,
        "error_rate": round(summary.error_rate, 5),
        "client_errors": summary.client_errors,
        "by_kind": summary.by_kind,
        "db_queries_per_request": {
            "primary": round_or_none(
                ratio(delta.primary_reads + delta.primary_writes, api_requests), 4
            ),
            "replica": round_or_none(ratio(delta.replica_reads, api_requests), 4),
        },
        "db_reads_per_request": round_or_none(ratio(db_reads, api_requests), 4),
        "replica_read_share": round_or_none(ratio(delta.replica_reads, db_reads), 4),
        "cache_hit_ratio": round_or_none(ratio(hits, hits + misses), 4),
        "cache_hit_ratio_by_kind": hit_ratio_by_kind(svc),
        "edge_hit_ratio": round_or_none(summary.edge_hit_ratio, 4),
        "origin_requests": origin,
        "origin_share": None if origin is None else round_or_none(ratio(origin, api_requests), 4),
        "media_edge_hit_ratio": round_or_none(summary.media_edge_hit_ratio, 4),
        "pg_stat_statements": {
            "primary_reads": delta.primary_reads,
            "primary_writes": delta.primary_writes,
            "replica_reads": delta.replica_reads,
            "pool_resets": delta.pool_resets,
        },
        "service_db_queries": {
            "primary": observe.total(svc, "movies_db_queries_total", role="primary"),
            "replica": observe.total(svc, "movies_db_queries_total", role="replica"),
        },
        "primary_top_statements": delta.top_primary_statements(),
    }


def round_or_none(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def hit_ratio_by_kind(counters: dict[str, float]) -> dict[str, float | None]:
    """Cache hit ratio per `kind` label of the service's counters (movie, search, ...)."""
    kinds = sorted(
        {
            k.split('kind="', 1)[1].split('"', 1)[0]
            for k in counters
            if k.startswith("movies_cache_") and 'kind="' in k
        }
    )
    out: dict[str, float | None] = {}
    for kind in kinds:
        hits = observe.total(counters, "movies_cache_hits_total", kind=kind)
        misses = observe.total(counters, "movies_cache_misses_total", kind=kind)
        out[kind] = round_or_none(ratio(hits, hits + misses), 4)
    return out
