"""The capacity model on the real stage specs: scale-5x carries 5x, earlier stages fall short
where the next stage's reason says they do (each stage spec's bottleneck)."""

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


def test_split_db_fails_at_5x_and_its_app_tier_is_one_machine(prod) -> None:
    sc = prod["split-db"]
    # With the lab's quiet-machine figures (lab/results/bench.json) one m7g.xlarge carries
    # the 5x peak by CPU, with a thin margin, so split-db's shortfall at 5x is the primary;
    # the case for load-balanced is the single point of failure and a ceiling that only
    # max_size can lift. On a busier lab run the app CPU was short too: either way the
    # stage does not carry 5x.
    assert ("db-primary", "cpu (reads + writes)") in short(sc)
    assert headroom(sc, "app", "cpu") < headroom(prod["scale-5x"], "app", "cpu")
    # Behind the ALB the ceiling is the ASG's max_size, not one machine: load-balanced's
    # app capacity is a multiple of split-db's box (and grows with max_size, test_model).
    assert capacity_of(prod["load-balanced"], "app", "cpu") >= 2 * capacity_of(sc, "app", "cpu")


def test_load_balanced_fails_at_5x_on_db_reads_that_a_cache_absorbs(prod) -> None:
    assert ("db-primary", "cpu (reads + writes)") in short(prod["load-balanced"])
    # The cache answers the repeated key reads: the DB sees (1 - hit ratio) of them. Searches
    # are barely absorbed (a 60 s TTL over a long tail of distinct queries,
    # assumptions/workload.yaml requests.search_cache), so the primary stays short at cached,
    # which is the next test.
    w, _, obs = model_inputs()
    before = flow(w, obs, load_stack_config("prod", "load-balanced").stage, "target")
    after = flow(w, obs, load_stack_config("prod", "cached").stage, "target")
    hit = obs.cache_hit_ratio if obs.cache_hit_ratio is not None else w.app_cache_hit_ratio
    assert after.db_point_reads == pytest.approx(before.db_point_reads * (1 - hit))
    assert after.db_point_reads < 0.5 * before.db_point_reads


def test_cached_without_replicas_fails_at_5x_on_primary_reads(prod) -> None:
    assert ("db-primary", "cpu (reads + writes)") in short(prod["cached"])
    replicas = prod["read-replicas"]
    assert ("db-primary", "cpu (reads + writes)") not in short(replicas)
    assert headroom(replicas, "db-replicas", "cpu per replica") >= 0.30


def test_read_replicas_fails_at_5x_on_the_app_tier_that_the_edge_offloads(prod) -> None:
    sc = prod["read-replicas"]
    assert any(tier == "app" for tier, _ in short(sc))
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
