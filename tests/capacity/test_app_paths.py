"""The API's CPU per request by path (infra/capacity/app_paths.py), read from crafted bench
rows, and how the lab-scale model weights the paths."""

from __future__ import annotations

import dataclasses

import pytest

from infra.capacity.app_paths import AppPaths, app_paths
from infra.capacity.checks import model_inputs
from infra.capacity.lab_scale import LabWorkload, before_edge_hit_ratio, predict


def row(app_ms: float, *, redis: bool, edge: bool = False, hit: float | None = None) -> dict:
    return {
        "topology": {"redis": redis, "edge": edge},
        "cache_hit_ratio": hit,
        "tier_cpu_ms_per_request": {"app": app_ms},
    }


def test_hit_and_miss_costs_are_the_line_through_the_cached_rows():
    # Crafted: a hit costs 0.5 ms, a miss 2.0 ms; rows at 60% and 90% hits lie on that line.
    rows = {
        "split-db": row(0.6, redis=False),
        "load-balanced": row(0.8, redis=False),
        "cached": row(0.5 * 0.6 + 2.0 * 0.4, redis=True, hit=0.6),
        "read-replicas": row(0.5 * 0.9 + 2.0 * 0.1, redis=True, hit=0.9),
        # An edge row is not read: the edge changes which requests reach the app.
        "edge": row(9.0, redis=True, edge=True, hit=0.5),
        "single-box": {"topology": {"redis": False}, "tier_cpu_ms_per_request": {"box": 3.0}},
    }
    got = app_paths(rows)
    assert got is not None
    assert got.no_cache_ms == pytest.approx(0.7)
    assert got.hit_ms == pytest.approx(0.5)
    assert got.miss_ms == pytest.approx(2.0)
    assert got.cached_ms(0.75) == pytest.approx(0.5 * 0.75 + 2.0 * 0.25)
    assert "split-db" in got.source and "read-replicas" in got.source


def test_one_cached_row_gives_one_cost_through_redis():
    got = app_paths({"split-db": row(0.6, redis=False), "cached": row(1.0, redis=True, hit=0.7)})
    assert got == AppPaths(0.6, 1.0, 1.0, got.source)


def test_rows_at_one_hit_ratio_cannot_separate_hit_from_miss():
    got = app_paths(
        {
            "split-db": row(0.6, redis=False),
            "cached": row(1.0, redis=True, hit=0.80),
            "read-replicas": row(1.2, redis=True, hit=0.82),
        }
    )
    assert got is not None
    assert got.hit_ms == got.miss_ms == pytest.approx(1.1)


def test_a_line_below_zero_falls_back_to_the_mean():
    # A warmer cache measured dearer: the line would give a negative hit cost.
    got = app_paths(
        {
            "split-db": row(0.6, redis=False),
            "cached": row(0.2, redis=True, hit=0.1),
            "read-replicas": row(2.0, redis=True, hit=0.9),
        }
    )
    assert got is not None
    assert got.hit_ms == got.miss_ms == pytest.approx(1.1)
    assert "not usable" in got.source


def test_no_rows_without_or_with_redis_gives_none():
    assert app_paths({"cached": row(1.0, redis=True, hit=0.7)}) is None
    assert app_paths({"split-db": row(0.6, redis=False)}) is None
    assert app_paths({}) is None


def _inputs(paths: AppPaths):
    w, rates, obs = model_inputs()
    return w, dataclasses.replace(rates, app_paths=paths), obs


PATHS = AppPaths(no_cache_ms=0.6, hit_ms=0.5, miss_ms=2.0, source="crafted")


def _app_ms(stage: str, lab: LabWorkload, paths: AppPaths = PATHS) -> float:
    got = predict(stage, "prod", 0.05, lab, inputs=_inputs(paths))
    return got["tiers"]["app"]["cpu_ms_per_request"]


def test_a_stage_without_redis_pays_the_no_cache_path():
    lab = LabWorkload(100_000)
    cheap = _app_ms("split-db", lab, dataclasses.replace(PATHS, no_cache_ms=0.3))
    assert _app_ms("split-db", lab) == pytest.approx(0.6, rel=1e-3)  # the lab mix, as measured
    assert cheap == pytest.approx(0.3, rel=1e-3)
    # The Redis paths do not enter a stage without Redis.
    assert _app_ms("split-db", lab, dataclasses.replace(PATHS, miss_ms=9.0)) == pytest.approx(
        0.6, rel=1e-3
    )


def test_a_stage_with_redis_weights_hit_and_miss_by_the_hit_ratio():
    # All reads are searches or movie reads; searches all hit here, movie reads at `h`.
    cold = _app_ms("cached", LabWorkload(100_000, cache_hit_ratio=0.5, search_cache_hit_ratio=1.0))
    warm = _app_ms("cached", LabWorkload(100_000, cache_hit_ratio=0.9, search_cache_hit_ratio=1.0))
    assert warm < cold
    assert 0.5 < warm < cold < 2.0
    # Equal hit and miss costs: the hit ratio no longer matters.
    flat = dataclasses.replace(PATHS, hit_ms=1.0, miss_ms=1.0)
    assert _app_ms("cached", LabWorkload(100_000, 0.5, 1.0), flat) == pytest.approx(1.0, rel=1e-3)
    assert _app_ms("cached", LabWorkload(100_000, 0.9, 1.0), flat) == pytest.approx(1.0, rel=1e-3)


def test_the_hit_ratio_the_service_sees_behind_an_edge_counts_the_same_misses():
    w = model_inputs()[0]
    reaching = 1 - w.cacheable_share * 0.7 / w.read_share
    # 30% of the reads that reach the service miss: that is 30% x `reaching` of all reads.
    assert before_edge_hit_ratio(0.7, w, 0.7) == pytest.approx(1 - 0.3 * reaching)
    assert before_edge_hit_ratio(0.7, w, 0.0) == pytest.approx(0.7)  # nothing absorbed
    assert before_edge_hit_ratio(1.0, w, 0.7) == pytest.approx(1.0)


def test_behind_an_edge_the_app_sees_fewer_but_dearer_requests():
    w = model_inputs()[0]
    lab = LabWorkload(100_000, cache_hit_ratio=0.7, search_cache_hit_ratio=1.0)
    # The same misses behind an edge that answers 70% of anonymous reads: the service sees
    # a lower hit ratio, on fewer reads.
    reaching = 1 - w.cacheable_share * 0.7 / w.read_share
    behind = dataclasses.replace(lab, cache_hit_ratio=1 - 0.3 / reaching, edge_hit_ratio=0.7)
    flat = dataclasses.replace(PATHS, hit_ms=1.0, miss_ms=1.0)
    ratio_flat = _app_ms("edge", behind, flat) / _app_ms("read-replicas", lab, flat)
    ratio = _app_ms("edge", behind) / _app_ms("read-replicas", lab)
    # With one cost per path the app's cost falls by the share the edge absorbs (0.7 of
    # the 70% anonymous requests); with misses dearer than hits it falls by less, because
    # what the edge absorbs are hits Redis would have served.
    assert ratio_flat == pytest.approx(1 - w.cacheable_share * 0.7, rel=0.02)
    assert ratio_flat < ratio < 1
