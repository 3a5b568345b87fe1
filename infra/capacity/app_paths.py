"""The API's CPU per request by path: with no cache in the path, a Redis hit, a Redis miss.

The lab bench measures the API processes' own CPU per request (their cgroup, at steady
state; the pinned bench assumptions/lab-bench.json `tier_cpu_ms_per_request.app`). Those
figures depend on the path a request takes: without Redis the service reads PostgreSQL and
serialises the row; on a Redis hit it returns the stored body as it is; on a miss it reads
the row, serialises it and stores it in Redis. The cost of each path is read from the bench
rows, never typed in:

- no cache: the mean over the rows whose stage has no Redis and a separate app tier;
- hit and miss: the straight line through the rows whose stage has Redis and no edge,
  each at its measured cache hit ratio (cost = miss + (hit - miss) x hit ratio). With two
  such rows the line is exact; with more it is the least-squares fit.

A stage with Redis then costs hit x h + miss x (1 - h) per request that reaches the app,
where h is the model's own share of cached lookups that hit (infra/capacity/lab_scale.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Hit ratios closer than this cannot separate the hit cost from the miss cost.
MIN_HIT_SPREAD = 0.05


@dataclass(frozen=True)
class AppPaths:
    """Milliseconds of the API processes' own CPU (one lab CPU) per request of the lab's
    mix, by path, and where each figure came from."""

    no_cache_ms: float
    hit_ms: float
    miss_ms: float
    source: str

    def cached_ms(self, hit_share: float) -> float:
        """Per request through Redis, at `hit_share` of lookups answered by Redis."""
        h = min(max(hit_share, 0.0), 1.0)
        return self.hit_ms * h + self.miss_ms * (1 - h)


def _app_ms(row: Mapping[str, Any]) -> float | None:
    value = (row.get("tier_cpu_ms_per_request") or {}).get("app")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _topology(row: Mapping[str, Any]) -> Mapping[str, Any]:
    t = row.get("topology")
    return t if isinstance(t, Mapping) else {}


def path_of(row: Mapping[str, Any]) -> str | None:
    """Which path's price a bench row sets: "plain" (the app's CPU, no Redis), "redis"
    (Redis, no edge, a measured hit ratio), else None (no app figure, or an edge in front)."""
    if _app_ms(row) is None:
        return None
    t = _topology(row)
    if not t.get("redis"):
        return "plain"
    ratio = row.get("cache_hit_ratio")
    measured = isinstance(ratio, int | float) and 0 <= ratio <= 1
    return "redis" if measured and not t.get("edge") else None


def app_paths(rows: Mapping[str, Mapping[str, Any]]) -> AppPaths | None:
    """The per-path costs from the bench's rows (stage -> row); None when the bench has no
    row without Redis or none with Redis (the model then charges one cost to every path)."""
    by_path = {stage: path_of(row) for stage, row in rows.items()}
    plain = {s: _app_ms(rows[s]) or 0.0 for s, p in by_path.items() if p == "plain"}
    cached = {
        s: (float(rows[s]["cache_hit_ratio"]), _app_ms(rows[s]) or 0.0)
        for s, p in by_path.items()
        if p == "redis"
    }
    if not plain or not cached:
        return None
    no_cache = sum(plain.values()) / len(plain)
    names = ", ".join(sorted(plain))
    source = f"no cache: mean of {names} ({no_cache:.3f} ms)"
    hs = [h for h, _ in cached.values()]
    if len(cached) < 2 or max(hs) - min(hs) < MIN_HIT_SPREAD:
        # One point (or points at one hit ratio): a hit and a miss cost the same.
        ms = sum(c for _, c in cached.values()) / len(cached)
        shown = ", ".join(sorted(cached))
        return AppPaths(no_cache, ms, ms, f"{source}; through Redis: {shown} ({ms:.3f} ms)")
    n = len(cached)
    mean_h = sum(hs) / n
    mean_c = sum(c for _, c in cached.values()) / n
    slope = sum((h - mean_h) * (c - mean_c) for h, c in cached.values()) / sum(
        (h - mean_h) ** 2 for h in hs
    )
    miss = mean_c - slope * mean_h  # at a hit ratio of 0
    hit = miss + slope  # at a hit ratio of 1
    points = ", ".join(f"{s} {c:.3f} ms at {h:.1%} hits" for s, (h, c) in sorted(cached.items()))
    if hit <= 0 or miss <= 0:
        # Noise can tilt a two-point line below zero at one end: no path is free.
        ms = mean_c
        return AppPaths(
            no_cache, ms, ms, f"{source}; through Redis: mean of {points} (line not usable)"
        )
    return AppPaths(
        no_cache,
        hit,
        miss,
        f"{source}; Redis hit {hit:.3f} ms, miss {miss:.3f} ms (line through {points})",
    )
