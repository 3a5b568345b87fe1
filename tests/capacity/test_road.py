"""The road past 5x: each multiplier's first failing tier is the one the model's figures
imply, and each remedy, applied, carries the load it was priced for."""

from __future__ import annotations

import math

import pytest

from infra.capacity import road
from infra.capacity import size as sizing
from infra.capacity.checks import TierCheck
from infra.capacity.cli import main as capacity_main
from infra.capacity.inputs import GB, GIB
from infra.config import load_stack_config, replace

MULTIPLIERS = [10.0, 25.0, 100.0]


@pytest.fixture(scope="module")
def inputs() -> sizing.Inputs:
    return sizing.load_inputs("prod")


@pytest.fixture(scope="module")
def spec():
    return load_stack_config("prod", road.FINAL_STAGE).stage


@pytest.fixture(scope="module")
def steps(inputs, spec) -> list[road.RoadStep]:
    return road.road(inputs, spec, MULTIPLIERS)


def _checks(spec, inputs, mult: float) -> dict[tuple[str, str], TierCheck]:
    w = sizing.at_multiplier(inputs.workload, mult)
    return {(c.tier, c.measure): c for c in sizing.model_checks(spec, w, inputs)}


def _first_by_scan(spec, inputs, upper: float) -> tuple[str, str, float]:
    """Walk the multiplier up in 0.5% steps until some measure drops under the headroom."""
    mult = 1.0
    while mult <= upper:
        short = [
            (key, c.headroom("target"))
            for key, c in _checks(spec, inputs, mult).items()
            if c.capacity is not None and c.headroom("target") < 0.30
        ]
        if short:
            key, _ = min(short, key=lambda kh: kh[1])
            return (*key, mult)
        mult *= 1.005
    raise AssertionError("nothing runs out")


def test_the_first_to_run_out_is_the_one_a_scan_of_the_model_finds(steps, inputs, spec) -> None:
    tier, measure, at = _first_by_scan(spec, inputs, max(MULTIPLIERS))
    for step in steps:
        first = step.first
        assert first is not None
        assert (first.tier, first.measure) == (tier, measure)
        assert first.runs_out_at == pytest.approx(at, rel=0.006)


def test_a_memory_measure_runs_out_where_capacity_over_the_load_per_x_says(steps, inputs, spec):
    # The DB hot set grows with the catalogue alone: it runs out at 0.7 x capacity / load(1x).
    one = _checks(spec, inputs, 1.0)[("db-primary", "hot set in memory")]
    implied = one.capacity * 0.7 / one.load_target
    (found,) = [
        s
        for s in steps[-1].shortfalls
        if (s.tier, s.measure) == ("db-primary", "hot set in memory")
    ]
    assert found.runs_out_at == pytest.approx(implied, rel=0.002)


def test_runs_out_at_brackets_the_line(steps, inputs, spec) -> None:
    # Shortfalls already short at 1x have no line to bracket; the rest must be checked, and
    # there must be some, or this test would pass on an empty road.
    bracketed = [s for s in steps[-1].shortfalls if s.runs_out_at > 1.0]
    assert bracketed, f"no shortfall runs out above 1x: {steps[-1].shortfalls}"
    for s in bracketed:
        at = _checks(spec, inputs, s.runs_out_at)[(s.tier, s.measure)].headroom("target")
        before = _checks(spec, inputs, s.runs_out_at / 1.002)[(s.tier, s.measure)]
        assert at < 0.30 <= before.headroom("target"), s


def test_every_shortfall_is_under_the_headroom_at_its_multiplier(steps, inputs, spec) -> None:
    for step in steps:
        checks = _checks(spec, inputs, step.multiplier)
        short = {
            k for k, c in checks.items() if c.capacity is not None and c.headroom("target") < 0.3
        }
        assert short == {(s.tier, s.measure) for s in step.shortfalls}
        assert [s.runs_out_at for s in step.shortfalls] == sorted(
            s.runs_out_at for s in step.shortfalls
        )


def test_a_resize_remedy_applied_passes_its_tier(steps, inputs, spec) -> None:
    rules = sizing.rules_for(inputs.env, inputs.rates)
    applied: list[tuple[float, str]] = []
    for step in steps:
        w = sizing.at_multiplier(inputs.workload, step.multiplier)
        for tier in sorted({s.tier for s in step.shortfalls}):
            options = road._options(tier, spec, inputs, step.multiplier)
            try:
                choice = sizing.choose(tier, tier, options, "test")
            except sizing.SizingError:
                continue  # no single class fits (a cluster or storage remedy instead)
            applied.append((step.multiplier, tier))
            section = {"app": "web", "search": "search", "redis": "cache"}.get(tier, "database")
            fixed = replace(
                spec, **{section: replace(getattr(spec, section), **choice.chosen.fields)}
            )
            after = [c for c in sizing.model_checks(fixed, w, inputs) if c.tier == tier]
            assert after, f"no model check of {tier} at {step.multiplier}x"
            assert all(
                c.headroom("target") is None or c.headroom("target") >= rules.headroom
                for c in after
            )
    # At 10x every short tier still fits one bigger class (redis, db-primary, db-replicas);
    # a road on which no resize applies at all would leave this test checking nothing.
    assert {tier for mult, tier in applied if mult == MULTIPLIERS[0]} >= {
        "redis",
        "db-primary",
        "db-replicas",
    }, applied


def test_the_cluster_remedy_holds_the_hot_set_and_the_ops(inputs, spec) -> None:
    mult = 100.0
    checks = _checks(spec, inputs, mult)
    remedy = road._redis_cluster(spec, inputs, mult, [])
    assert remedy.monthly_usd is not None
    words = remedy.detail.split()  # "17 shards x 2 x cache.r7g.xlarge for ..."
    shards, cls = int(words[0]), words[5]
    m = inputs.rates.machine(cls)
    usable = m.memory_gib * GIB * inputs.rates.redis_usable_share / GB
    assert shards * usable * 0.7 >= checks[("redis", "hot set in memory")].load_target
    assert shards * inputs.rates.redis_ops_per_node * 0.7 >= checks[("redis", "ops")].load_target
    hourly = float(inputs.prices.rows[f"ec.redis.{cls}"]["usd"])
    assert remedy.monthly_usd == pytest.approx(shards * 2 * hourly * 730)


def test_zipf_top_share_matches_the_exact_sum() -> None:
    for n, s in ((50_000, 1.0), (20_000, 0.8), (5_000, 1.2)):
        exact = 1 / sum(k**-s for k in range(1, n + 1))
        assert road.zipf_top_share(n, s) == pytest.approx(exact, rel=1e-6)


def test_thresholds_are_where_the_tier_stops_fitting_one_class(inputs, spec) -> None:
    marks = {m.what.split(" (")[0]: m for m in road.thresholds(inputs, spec, 1.0)}
    cluster = marks["Redis cluster mode"].multiplier
    assert cluster is not None
    below = road._options("redis", spec, inputs, cluster / 1.01)
    above = road._options("redis", spec, inputs, cluster * 1.01)
    assert any(o.feasible for o in below) and not any(o.feasible for o in above)
    hot = marks["a hot key outgrowing one Redis thread"].multiplier
    assert hot is None or hot > cluster  # sharding cannot split one key: it binds later here


def test_capacity_scale_25_names_the_first_tier_and_its_remedy(capsys) -> None:
    assert capacity_main(["--scale", "25", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "**25x (" in out and "first to run out is " in out
    assert "| bottleneck | necessary from | why |" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--scale", "lots"], "--scale 'lots': allowed: a multiplier"),
        (["--scale", "10", "--env", "dev"], "the road is a prod question"),
    ],
)
def test_bad_scale_is_a_one_line_error(capsys, argv, needle) -> None:
    assert capacity_main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1, err


def test_remedy_costs_are_priced_from_the_table(steps, inputs) -> None:
    # None means "not priced" (road.Remedy); every remedy of this road has a price table row,
    # so each step must offer remedies and price every one of them.
    for step in steps:
        assert step.remedies, f"no remedy at {step.multiplier}x"
        for r in step.remedies:
            assert r.monthly_usd is not None, r
            assert r.monthly_usd > 0 and math.isfinite(r.monthly_usd), r
