"""The capacity model at the lab's scale: tier budgets from the spec, per-request costs
from the model's flow, the bottleneck as the tier with the lowest capacity."""

from __future__ import annotations

import pytest

from infra.capacity.checks import model_inputs
from infra.capacity.lab_scale import LabWorkload, predict, tier_vcpus
from infra.config import load_stack_config

LAB = LabWorkload(movies=100_000, cache_hit_ratio=0.7, search_cache_hit_ratio=0.95)


def test_tiers_and_vcpus_come_from_the_stage_spec():
    rates = model_inputs()[1]
    tiers = {t.tier: t.vcpus for t in tier_vcpus("read-replicas", "prod", rates)}
    # prod: 2 x c7g.large, db.r7g.large primary and 2 replicas, cache.r7g.large
    assert tiers == {
        "app": 4,
        "alb": None,
        "db-primary": 2,
        "db-replica1": 2,
        "db-replica2": 2,
        "redis": 2,
    }
    box = {t.tier: t.vcpus for t in tier_vcpus("single-box", "prod", rates)}
    single = load_stack_config("prod", "single-box").stage.single_box
    assert box == {"box": rates.machine(single.instance_type).vcpus}  # the spec's box


def test_the_bottleneck_is_the_tier_with_the_lowest_capacity():
    got = predict("cached", "prod", 0.05, LAB)
    capacities = {t: d["capacity_rps"] for t, d in got["tiers"].items()}
    assert got["bottleneck"] == min(capacities, key=capacities.get)
    assert got["rps"] == min(capacities.values())
    # Beside it, the same bottleneck at the model's required 30% headroom.
    assert got["at_required_headroom_rps"] == pytest.approx(0.7 * got["rps"], abs=0.1)
    for tier, d in got["tiers"].items():
        assert d["capacity_rps"] == pytest.approx(
            d["budget_cpus"] / (d["cpu_ms_per_request"] / 1000), rel=1e-2
        ), tier


def test_the_scale_factor_scales_every_capacity_alike():
    small, big = predict("cached", "prod", 0.05, LAB), predict("cached", "prod", 0.10, LAB)
    assert big["bottleneck"] == small["bottleneck"]
    assert big["rps"] == pytest.approx(2 * small["rps"], rel=1e-3)


def test_the_single_box_tier_pays_for_the_api_and_the_database():
    box = predict("single-box", "prod", 0.05, LAB)["tiers"]["box"]
    split = predict("split-db", "prod", 0.05, LAB)["tiers"]
    assert box["cpu_ms_per_request"] == pytest.approx(
        split["app"]["cpu_ms_per_request"] + split["db-primary"]["cpu_ms_per_request"], rel=1e-3
    )


def test_a_warmer_cache_costs_the_primary_less():
    cold = predict("cached", "prod", 0.05, LabWorkload(100_000, cache_hit_ratio=0.5))
    warm = predict("cached", "prod", 0.05, LabWorkload(100_000, cache_hit_ratio=0.9))
    assert (
        warm["tiers"]["db-primary"]["cpu_ms_per_request"]
        < cold["tiers"]["db-primary"]["cpu_ms_per_request"]
    )


def test_replicas_take_the_reads_the_lab_sends_them():
    got = predict("read-replicas", "prod", 0.05, LabWorkload(100_000, 0.7, replica_read_share=1.0))[
        "tiers"
    ]
    # Every read on the replicas: the primary keeps only the writes.
    assert got["db-primary"]["cpu_ms_per_request"] < got["db-replica1"]["cpu_ms_per_request"]


def test_scale_5x_budgets_its_search_tier_apart():
    got = predict("scale-5x", "prod", 0.05, LAB)["tiers"]
    assert {"app", "search", "db-primary", "redis"} <= set(got)
    assert got["search"]["cpu_ms_per_request"] > 0


def test_the_edges_share_comes_from_what_reached_the_origin_where_measured():
    from infra.capacity.inputs import Workload
    from infra.capacity.lab_scale import edge_absorbed

    w = Workload.load()
    by_status = LabWorkload(100_000, 0.9, edge_hit_ratio=0.9)
    assert edge_absorbed(by_status, w) == 0.9
    # 50% of requests reached the API: the CDN took 0.5 / cacheable_share of the cacheable.
    counted = LabWorkload(100_000, 0.9, edge_hit_ratio=0.9, origin_share=0.5)
    assert edge_absorbed(counted, w) == pytest.approx(0.5 / w.cacheable_share)
    assert edge_absorbed(LabWorkload(100_000, 0.9, edge_hit_ratio=0.9, origin_share=1.2), w) == 0
    # More reached the origin than the answers' status says (refreshes of stale entries):
    # the app carries more per request sent, and the ceiling is lower.
    hi = predict("edge", "prod", 0.05, by_status, replicas_run=2)
    lo = predict("edge", "prod", 0.05, counted, replicas_run=2)
    assert lo["tiers"]["app"]["cpu_ms_per_request"] > hi["tiers"]["app"]["cpu_ms_per_request"]
    assert lo["rps"] < hi["rps"]
