"""Statistics over load samples: percentiles, error rate, throughput, hit ratios and a
per-second timeline (the faults read recovery from it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

TRANSPORT_ERROR = 0  # status recorded when no HTTP response came back at all


@dataclass(frozen=True, slots=True)
class Sample:
    start: float  # seconds since the run began
    latency: float  # seconds
    status: int  # HTTP status, or TRANSPORT_ERROR
    kind: str  # movie | search | poster | media | write
    anonymous: bool
    edge: str | None = None  # the edge cache's X-Cache-Status, when there is an edge


def is_error(status: int) -> bool:
    """Errors are what a client cannot use: no response, or a 5xx."""
    return status == TRANSPORT_ERROR or status >= 500


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q={q}; allowed 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# nginx's $upstream_cache_status values that mean the edge answered without the origin.
EDGE_HITS = frozenset({"HIT", "STALE", "UPDATING", "REVALIDATED"})


@dataclass(frozen=True)
class Summary:
    requests: int
    seconds: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    error_rate: float
    client_errors: int  # 4xx: counted apart, a 4xx is an answer, not a failure
    edge_hit_ratio: float | None  # anonymous API requests answered by the edge cache
    media_edge_hit_ratio: float | None  # poster bytes (media) answered by the edge cache
    by_kind: dict[str, int]


def summarize(samples: Sequence[Sample], seconds: float) -> Summary:
    """Figures over the measured window (`seconds` long, warm-up already left out)."""
    if seconds <= 0:
        raise ValueError(f"seconds={seconds}; allowed > 0")
    latencies = [s.latency for s in samples if not is_error(s.status)]
    errors = sum(1 for s in samples if is_error(s.status))
    client_errors = sum(1 for s in samples if 400 <= s.status < 500)
    # API requests only: the poster bytes a redirect leads to (`media`) are not API
    # requests, and counting their hits would credit the edge with requests it never
    # took off the origin (the capacity model counts absorbed API requests).
    edge_seen = [s for s in samples if s.anonymous and s.edge is not None and s.kind != "media"]
    media = [s for s in samples if s.kind == "media" and s.edge is not None]
    by_kind: dict[str, int] = {}
    for s in samples:
        by_kind[s.kind] = by_kind.get(s.kind, 0) + 1
    return Summary(
        requests=len(samples),
        seconds=seconds,
        rps=len(samples) / seconds,
        p50_ms=percentile(latencies, 50) * 1000 if latencies else None,
        p99_ms=percentile(latencies, 99) * 1000 if latencies else None,
        errors=errors,
        error_rate=errors / len(samples) if samples else 0.0,
        client_errors=client_errors,
        edge_hit_ratio=(
            sum(1 for s in edge_seen if s.edge in EDGE_HITS) / len(edge_seen) if edge_seen else None
        ),
        media_edge_hit_ratio=(
            sum(1 for s in media if s.edge in EDGE_HITS) / len(media) if media else None
        ),
        by_kind=by_kind,
    )


@dataclass(frozen=True)
class Second:
    t: int  # whole seconds since the run began
    requests: int
    errors: int


def timeline(samples: Sequence[Sample], seconds: float) -> list[Second]:
    """Requests and errors per second of start time, every second present (0 if idle)."""
    width = max(1, math.ceil(seconds))
    reqs = [0] * width
    errs = [0] * width
    for s in samples:
        t = int(s.start)
        if 0 <= t < width:
            reqs[t] += 1
            errs[t] += is_error(s.status)
    return [Second(t, reqs[t], errs[t]) for t in range(width)]


def recovery_seconds(
    line: Sequence[Second],
    event_at: float,
    baseline_rps: float,
    good_share: float = 0.8,
    steady: int = 2,
) -> float | None:
    """Seconds from `event_at` until `steady` consecutive seconds run error-free at
    >= good_share of the baseline rate; None if that never happens in the timeline."""
    needed = baseline_rps * good_share
    run = 0
    for sec in line:
        if sec.t < math.floor(event_at):
            continue
        ok = sec.errors == 0 and sec.requests >= needed
        run = run + 1 if ok else 0
        if run >= steady:
            first_good = sec.t - steady + 1
            return round(max(0.0, first_good - event_at), 2)
    return None
