"""The sizer on crafted inputs: cheapest feasible choice, the one-line refusal, N+1, roles."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.capacity import checks as cap_checks
from infra.capacity import size as sizing
from infra.capacity.flow import Flow, flow
from infra.capacity.inputs import Observed, Workload
from infra.catalog import ClassSize as Machine
from infra.config import load_env_profile, load_stack_config, replace
from infra.pricing.prices import PriceTable
from infra.program.refresh import refresh_room

OBS = Observed(cache_hit_ratio=0.9, edge_hit_ratio=0.8, replica_read_share=0.95)

# A small catalogue: names must be real RDS / ElastiCache sizes (the kept list of node
# classes is consulted); the figures are crafted.
MACHINES = {
    "c9.small": Machine(vcpus=2, memory_gib=4, baseline=1.0),
    "c9.big": Machine(vcpus=8, memory_gib=16, baseline=1.0),
    "t9.small": Machine(vcpus=2, memory_gib=2, baseline=0.2),
    "db.r7g.large": Machine(vcpus=2, memory_gib=16, baseline=1.0),
    "db.r7g.xlarge": Machine(vcpus=4, memory_gib=32, baseline=1.0),
    "db.r7g.2xlarge": Machine(vcpus=8, memory_gib=64, baseline=1.0),
    "cache.r7g.large": Machine(vcpus=2, memory_gib=13, baseline=1.0),
    "cache.r7g.xlarge": Machine(vcpus=4, memory_gib=26, baseline=1.0),
    "cache.r7g.2xlarge": Machine(vcpus=8, memory_gib=52, baseline=1.0),
}
HOURLY = {
    "ec2.c9.small": 0.10,
    "ec2.c9.big": 0.40,
    "ec2.t9.small": 0.02,
    "ebs.gp3.gb": 0.08,
    "rds.pg.db.r7g.large.single": 0.25,
    "rds.pg.db.r7g.large.multi": 0.50,
    "rds.pg.db.r7g.xlarge.single": 0.50,
    "rds.pg.db.r7g.xlarge.multi": 1.00,
    "rds.pg.db.r7g.2xlarge.single": 1.00,
    "rds.pg.db.r7g.2xlarge.multi": 2.00,
    "ec.redis.cache.r7g.large": 0.20,
    "ec.redis.cache.r7g.xlarge": 0.40,
    "ec.redis.cache.r7g.2xlarge": 0.80,
}


def crafted(
    *,
    env: str = "prod",
    azs: int = 3,
    app_rate: float = 1000.0,
    hits_per_day: float = 15e6,
    movies: float = 5e6,
    machines: dict[str, Machine] | None = None,
    hourly: dict[str, float] | None = None,
) -> sizing.Inputs:
    w, rates, _ = cap_checks.model_inputs()
    w = replace(w, hits_per_day=hits_per_day, movies=movies, multiplier=1.0)
    # The real catalogue stays (the specs' own classes must resolve) but only the crafted
    # classes have prices, so only they are candidates.
    machines = {**rates.machines, **(machines or MACHINES)}
    rates = replace(rates, machines=machines, app_rps_per_vcpu=app_rate)
    rows = {k: {"usd": v, "unit": "hour"} for k, v in (hourly or HOURLY).items()}
    profile = load_env_profile(env)
    profile = replace(profile, az_count=azs, multi_az=profile.multi_az and azs > 1)
    return sizing.Inputs(
        workload=w,
        rates=rates,
        observed=OBS,
        prices=PriceTable(rows=rows, free={}),
        profile=(1.0,) * 24,  # flat: the mean is the peak, so a fleet's cost is its peak
        env=profile,
    )


def stage(name: str, env: str = "prod"):
    return load_stack_config(env, name).stage


def tier(result: sizing.StageSizing, name: str) -> sizing.TierChoice:
    (found,) = [t for t in result.tiers if t.tier == name]
    return found


def target_flow(inputs: sizing.Inputs, spec, mult: float = 1.0) -> Flow:
    return flow(sizing.at_multiplier(inputs.workload, mult), OBS, spec, "target")


# --- cheapest feasible ------------------------------------------------------------------


def test_picks_the_cheapest_class_that_holds_the_hot_set_and_says_why_the_cheaper_lost() -> None:
    inputs = crafted()
    spec = stage("cached")
    need = target_flow(inputs, spec).redis_hot_bytes / 0.7  # bytes for 30% headroom
    usable = {
        "cache.r7g.large": need * 0.9,  # short
        "cache.r7g.xlarge": need * 1.2,  # enough
        "cache.r7g.2xlarge": need * 4.0,  # enough, dearer
    }
    machines = dict(MACHINES)
    for cls, b in usable.items():
        machines[cls] = Machine(vcpus=2, memory_gib=b / 0.75 / 2**30, baseline=1.0)
    result = sizing.size_stage(spec, crafted(machines=machines))
    redis = tier(result, "redis")
    assert redis.chosen.cls == "cache.r7g.xlarge"
    assert redis.chosen.count == 2  # prod: a failover replica in a second AZ
    assert redis.chosen.monthly_usd == pytest.approx(2 * 0.40 * 730)
    assert redis.runner_up is not None and redis.runner_up.cls == "cache.r7g.large"
    assert redis.why_runner_up_lost.startswith("short at the target (needs 30% headroom): ")
    assert "hot set in memory" in redis.why_runner_up_lost


def test_of_two_feasible_classes_the_cheaper_wins_and_the_dearer_loses_on_cost() -> None:
    result = sizing.size_stage(stage("load-balanced"), crafted())
    primary = tier(result, "db-primary")
    assert primary.chosen.cls == "db.r7g.large"
    assert primary.chosen.monthly_usd == pytest.approx(0.50 * 730)  # Multi-AZ row in prod
    assert primary.runner_up is not None and primary.runner_up.cls == "db.r7g.xlarge"
    assert primary.why_runner_up_lost == f"costs ${0.50 * 730:,.0f} a month more"


def test_every_option_cheaper_than_the_choice_fails_a_measure() -> None:
    inputs = crafted(hits_per_day=15e6 * 8)
    spec = stage("read-replicas")
    result = sizing.size_stage(spec, inputs)
    rules = sizing.rules_for(inputs.env, inputs.rates)
    w = sizing.at_multiplier(inputs.workload, 1.0)
    options = sizing.size_primary(result.spec, w, inputs, rules)
    chosen = tier(result, "db-primary").chosen
    assert all(not o.feasible for o in options if o.monthly_usd < chosen.monthly_usd)
    assert chosen.feasible


def test_no_class_holds_the_hot_set_is_one_line_naming_tier_and_measure() -> None:
    inputs = crafted(movies=5e6 * 40)  # 40x the catalogue: no crafted node holds its hot set
    with pytest.raises(sizing.SizingError) as err:
        sizing.size_stage(stage("cached"), inputs)
    text = str(err.value)
    assert "\n" not in text
    assert "redis: no class in the catalogue meets 'hot set in memory'" in text
    assert "cache.r7g.2xlarge" in text  # the best the catalogue has, named


# --- app tiers: derived targets, N+1 ---------------------------------------------------


def _per_instance(inputs: sizing.Inputs, cls: str, search_share: float) -> float:
    m = inputs.rates.machine(cls)
    cost = 1 + (inputs.rates.search_app_cost - 1) * search_share
    return m.sustained_vcpus * inputs.rates.app_rps_per_vcpu / cost


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    azs=st.sampled_from([2, 3, 4]),
    load=st.floats(min_value=0.2, max_value=20.0),
    app_rate=st.floats(min_value=300.0, max_value=3000.0),  # a fleet under RDS connections
)
def test_losing_the_biggest_az_share_still_leaves_the_headroom(azs, load, app_rate) -> None:
    inputs = crafted(azs=azs, app_rate=app_rate, hits_per_day=15e6 * load)
    spec = stage("load-balanced")
    result = sizing.size_stage(spec, inputs)
    web = tier(result, "app").chosen
    fl = target_flow(inputs, result.spec)
    target = web.fields["scale_target_rps"]
    running = max(web.fields["min_size"], math.ceil(fl.web_rps / target))
    survivors = running - math.ceil(running / azs)  # the ASG balances over the AZs
    per = _per_instance(inputs, web.cls, fl.web_search_share)
    assert survivors * per * 0.7 >= fl.web_rps * (1 - 1e-9)
    assert web.fields["min_size"] >= 2  # two AZs at least
    # The scaling ceiling keeps the headroom too, and max_size is exactly the largest of
    # that ceiling, the surge over the peak's count and the refresh room.
    assert web.fields["max_size"] * target * 0.7 >= fl.web_rps * (1 - 1e-9)
    ceiling = math.ceil(fl.web_rps / (target * 0.7))
    surge = math.ceil(running * inputs.workload.surge_factor)
    room = refresh_room(web.fields["desired_capacity"])
    assert web.fields["max_size"] == max(web.fields["min_size"], ceiling, surge, room)
    # The smallest floor that works: one instance fewer loses N+1 (or the two-AZ rule).
    if web.fields["min_size"] > 2:
        fewer = web.fields["min_size"] - 1
        running = max(fewer, math.ceil(fl.web_rps / target))
        assert (running - math.ceil(running / azs)) * per * 0.7 < fl.web_rps


def test_request_target_is_measured_rate_times_vcpus_times_utilisation() -> None:
    for env, util in (("prod", 0.7 * (1 - 1 / 3)), ("dev", 0.7)):
        inputs = crafted(env=env, azs=3 if env == "prod" else 2, app_rate=1234.0)
        result = sizing.size_stage(stage("scale-5x", env), inputs)
        search = tier(result, "search").chosen
        m = inputs.rates.machine(search.cls)
        per = m.sustained_vcpus * 1234.0 / inputs.rates.search_app_cost
        assert search.fields["scale_target_rps"] == math.floor(per * util)


def test_prod_never_picks_a_burstable_class_dev_may() -> None:
    prod = sizing.size_stage(stage("load-balanced"), crafted())
    assert tier(prod, "app").chosen.cls != "t9.small"
    dev = sizing.size_stage(stage("load-balanced", "dev"), crafted(env="dev", hits_per_day=5e4))
    assert tier(dev, "app").chosen.cls == "t9.small"
    assert tier(dev, "app").chosen.fields["min_size"] == 1  # no AZ rule in dev


# --- the stage's role -------------------------------------------------------------------


def test_split_db_keeps_one_app_instance_however_high_the_load() -> None:
    inputs = crafted(hits_per_day=15e6 * 2)
    result = sizing.size_stage(stage("split-db"), inputs)
    app = tier(result, "app")
    assert app.chosen.count == 1 and set(app.chosen.fields) == {"instance_type"}
    # Past what the biggest box carries, the refusal names the box's CPU.
    with pytest.raises(sizing.SizingError, match=r"app: no class in the catalogue meets 'cpu'"):
        sizing.size_stage(stage("split-db"), crafted(hits_per_day=15e6 * 50))


def test_no_replicas_before_the_read_replicas_stage() -> None:
    result = sizing.size_stage(stage("cached"), crafted())
    assert "db-replicas" not in {t.tier for t in result.tiers}
    assert sizing.derived_fields(result)["database"]["read_replicas"] == 0
    later = sizing.size_stage(stage("read-replicas"), crafted())
    assert tier(later, "db-replicas").chosen.count >= 2  # prod: two AZs


def test_replicas_are_n_plus_one_losing_one_leaves_the_headroom() -> None:
    # Heavy DB reads (catalogue and traffic up): replicas' CPU binds, not their memory.
    inputs = crafted(hits_per_day=15e6 * 20, movies=5e6 * 2)
    spec = stage("read-replicas")
    result = sizing.size_stage(spec, inputs)
    replicas = tier(result, "db-replicas").chosen
    n = replicas.count
    w = sizing.at_multiplier(inputs.workload, 1.0)
    db = result.spec.database
    fewer = replace(result.spec, database=replace(db, read_replicas=n - 1))
    (cpu,) = [
        c
        for c in sizing.model_checks(fewer, w, inputs)
        if (c.tier, c.measure) == ("db-replicas", "cpu per replica")
    ]
    assert cpu.headroom("target") >= 0.3
    # And n - 1 replicas would not have been N+1 themselves (the count is the least).
    if n - 1 >= 2:
        fewest = replace(result.spec, database=replace(db, read_replicas=n - 2))
        (short,) = [
            c
            for c in sizing.model_checks(fewest, w, inputs)
            if (c.tier, c.measure) == ("db-replicas", "cpu per replica")
        ]
        assert short.headroom("target") < 0.3


def test_db_connections_count_every_worker_pool_of_the_fleet_at_max_size() -> None:
    inputs = crafted()
    spec = stage("scale-5x")
    checks = cap_checks.connection_checks(spec, inputs.rates)
    primary = next(c for c in checks if c.tier == "db-primary")
    web, search = spec.web, spec.search
    vcpus = {t: inputs.rates.machine(t.instance_type).vcpus for t in (web, search)}
    expected = (web.max_size * vcpus[web] + search.max_size * vcpus[search]) * 10
    assert primary.load_target == expected
    memory = inputs.rates.machine(spec.database.instance_class).memory_gib * 2**30
    assert primary.capacity == min(memory // 9_531_392, 5000)


# --- targets and input errors -------------------------------------------------------------


@pytest.mark.parametrize("text,value", [("5x", 5.0), ("5", 5.0), ("2.5X", 2.5), (" 25x ", 25.0)])
def test_target_parses_a_multiplier(text, value) -> None:
    assert sizing.parse_target(text) == value


@pytest.mark.parametrize("text", ["", "x", "-1x", "0", "nan", "inf", "5y", "1e9"])
def test_bad_target_is_a_one_line_error(text) -> None:
    with pytest.raises(sizing.SizingError, match=r"^--target .*allowed: a multiplier"):
        sizing.parse_target(text)


def test_default_target_is_today_up_to_edge_and_the_multiplier_at_scale_5x() -> None:
    w = Workload.load()
    assert sizing.stage_target("edge", w) == 1.0
    assert sizing.stage_target("scale-5x", w) == w.multiplier
