"""The capacity model on the real stage specs: scale-5x carries 5x; what runs out first at 5x
at each earlier stage, and what the next stage changes (which is not always a shortfall the
model scores: see the cached and read-replicas tests)."""

from __future__ import annotations

import pytest

from infra.capacity.checks import StageCapacity, capacity_tables, model_inputs, stage_capacity
from infra.capacity.flow import flow
from infra.config import STAGES, load_stack_config

ALL_TIERS_5X = {"edge", "alb", "app", "search", "redis", "db-primary", "db-replicas"}


@pytest.fixture(scope="module")
def prod() -> dict[str, StageCapacity]:
    return {sc.stage: sc for sc in capacity_tables("prod")}


def short(sc: StageCapacity) -> set[tuple[str, str]]:
    return {(c.tier, c.measure) for c in sc.failing("target")}


def headroom(sc: StageCapacity, tier: str, measure: str, scale: str = "target") -> float:
    (check,) = [c for c in sc.checks if (c.tier, c.measure) == (tier, measure)]
    value = check.headroom(scale)  # type: ignore[arg-type]
    assert value is not None
    return value


def capacity_of(sc: StageCapacity, tier: str, measure: str) -> float:
    (check,) = [c for c in sc.checks if (c.tier, c.measure) == (tier, measure)]
    assert check.capacity is not None
    return check.capacity


def test_scale_5x_prod_carries_5x_with_30_percent_headroom_on_every_tier(prod) -> None:
    sc = prod["scale-5x"]
    assert sc.multiplier == 5
    assert {c.tier for c in sc.checks} == ALL_TIERS_5X
    assert sc.failing("target") == [], [
        (c.tier, c.measure, c.headroom("target")) for c in sc.failing("target")
    ]
    # Every tier with a fixed ceiling has a number, not just "elastic".
    for tier, h in sc.tier_headroom("target").items():
        assert tier == "alb" or (h is not None and h >= 0.30), (tier, h)


def test_every_stage_is_modelled_in_stage_order(prod) -> None:
    assert list(prod) == list(STAGES)
    assert [sc.stage for sc in capacity_tables("dev")] == list(STAGES)


def test_single_box_fails_at_5x_because_api_and_db_share_one_machine(prod) -> None:
    sc = prod["single-box"]
    assert ("box", "cpu (API + DB)") in short(sc)
    # split-db moves PostgreSQL off the box: the same box type then runs the API alone, and
    # its DB is a separate tier with its own headroom.
    assert {c.tier for c in prod["split-db"].checks} >= {"app", "db-primary"}


# With the service's search shape (ORDER BY id LIMIT 21; assumptions/measured.json) a search
# costs the primary about half a millisecond whatever it matches, and the primary no longer
# runs out of CPU at 5x at any stage: what runs out first is memory (the hot set against the
# instance's cache memory), the app tier, and the app's scaling ceiling.
PRIMARY_CPU = ("db-primary", "cpu (reads + writes)")
PRIMARY_MEMORY = ("db-primary", "hot set in memory")


def test_split_db_fails_at_5x_on_its_one_app_machine_and_primary_memory(prod) -> None:
    sc = prod["split-db"]
    # One machine runs the API: its CPU is short at 5x, and it is a single point of
    # failure; load-balanced puts an ASG behind an ALB.
    assert ("app", "cpu") in short(sc)
    assert PRIMARY_MEMORY in short(sc)
    assert PRIMARY_CPU not in short(sc)
    assert headroom(sc, "app", "cpu") < headroom(prod["scale-5x"], "app", "cpu")
    # Behind the ALB the ceiling is the ASG's max_size, not one machine: load-balanced's
    # app capacity is a multiple of split-db's box (and grows with max_size, test_model).
    assert capacity_of(prod["load-balanced"], "app", "cpu") >= 2 * capacity_of(sc, "app", "cpu")
    assert ("app", "cpu") not in short(prod["load-balanced"])


def test_load_balanced_fails_at_5x_on_memory_not_primary_cpu_nor_its_ceiling(
    prod,
) -> None:
    sc = prod["load-balanced"]
    assert PRIMARY_MEMORY in short(sc)
    assert PRIMARY_CPU not in short(sc)
    # Since max_size carries the surge (issue 21: the steady peak x traffic.surge_factor,
    # and room for a refresh to launch before it terminates), the web fleet's ceiling is
    # no longer what runs out at 5x: it is above desired on every prod stage.
    assert ("app", "scaling ceiling") not in short(sc)
    assert headroom(sc, "app", "scaling ceiling") >= 0.30
    # The case for the cache is the DB's work, not a shortfall at 5x: it answers the
    # repeated key reads, so the DB sees (1 - hit ratio) of them (the lab: DB reads per
    # request 1.02 at load-balanced, 0.26 at cached; the bench of 2026-11-29).
    w, _, obs = model_inputs()
    before = flow(w, obs, load_stack_config("prod", "load-balanced").stage, "target")
    after = flow(w, obs, load_stack_config("prod", "cached").stage, "target")
    hit = obs.cache_hit_ratio if obs.cache_hit_ratio is not None else w.app_cache_hit_ratio
    assert after.db_point_reads == pytest.approx(before.db_point_reads * (1 - hit))
    assert after.db_point_reads < 0.5 * before.db_point_reads
    assert headroom(prod["cached"], *PRIMARY_CPU) > headroom(sc, *PRIMARY_CPU)


def test_cached_fails_at_5x_on_memory_not_on_primary_reads(prod) -> None:
    sc = prod["cached"]
    assert {("redis", "hot set in memory"), PRIMARY_MEMORY} <= short(sc)
    assert PRIMARY_CPU not in short(sc)
    # read-replicas takes the reads off the primary (it keeps the writes); at this workload
    # that is not needed for CPU at 5x: the stage's case is read capacity beyond the model's
    # workload and serving reads from a second machine, which the model does not score.
    replicas = prod["read-replicas"]
    assert headroom(replicas, *PRIMARY_CPU) > headroom(sc, *PRIMARY_CPU)
    assert headroom(replicas, "db-replicas", "cpu per replica") >= 0.30
    # Every replica holds the same hot set as the primary: replicas do not fix the memory.
    assert PRIMARY_MEMORY in short(replicas)


def test_read_replicas_at_5x_leaves_the_edge_app_room_to_offload(prod) -> None:
    sc = prod["read-replicas"]
    # At 5x the app tier's surge ceiling holds (max_size carries the surge); what the
    # edge buys is the origin's load: less reaches the ALB and the app has more room.
    assert short(sc), "read-replicas is sized for today, not for 5x"
    rr_alb = next(c for c in sc.checks if c.tier == "alb")
    edge_alb = next(c for c in prod["edge"].checks if c.tier == "alb")
    # CloudFront answers cacheable anonymous requests: less reaches the origin and the same
    # app tier has more room (by how much depends on the measured edge hit ratio).
    assert edge_alb.load_target < 0.75 * rr_alb.load_target
    edge_app = prod["edge"].tier_headroom("target")["app"]
    rr_app = sc.tier_headroom("target")["app"]
    assert edge_app is not None and rr_app is not None and edge_app > rr_app + 0.2


def test_edge_fails_at_5x_and_scale_5x_fixes_every_shortfall(prod) -> None:
    edge_short = short(prod["edge"])
    assert edge_short, "edge is sized for today, not for 5x"
    assert prod["edge"].failing("today") == []
    assert not short(prod["scale-5x"]) & edge_short


def test_later_stages_carry_todays_peak(prod) -> None:
    for stage in ("load-balanced", "cached", "read-replicas", "edge", "scale-5x"):
        assert prod[stage].failing("today") == [], stage


def test_dev_scale_5x_is_not_sized_for_5x() -> None:
    # dev is small on purpose; the model must say so rather than pass it.
    assert stage_capacity("dev", "scale-5x").failing("target")
