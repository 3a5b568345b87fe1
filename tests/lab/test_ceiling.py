"""Ceiling mode (issue 23): fleets at the planned max_size, read from the plans; one scale
factor for every stage, derived when the largest stage would not fit; the lab's budgets,
process counts and the model's prediction all from the same fleet sizes."""

from __future__ import annotations

import copy

import pytest

from infra.capacity.checks import model_inputs
from infra.capacity.lab_scale import (
    FleetError,
    LabWorkload,
    fleet_instances,
    plan_group_sizes,
    predict,
)
from infra.config import load_stack_config
from lab.budgets import (
    MACHINE_SHARE,
    UNBUDGETED_MS_PER_REQUEST,
    StageLoad,
    budget_map,
    choose_scale,
    unbudgeted_ms,
)
from lab.topology import MAX_API_PROCESSES, fleet_processes, topology


def _group(role: str, lo: int, desired: int, hi: int) -> dict:
    return {
        "urn": f"urn:pulumi:prod::movies::aws:autoscaling/group:Group::{role}-asg",
        "type": "aws:autoscaling/group:Group",
        "name": f"{role}-asg",
        "inputs": {"minSize": lo, "desiredCapacity": desired, "maxSize": hi},
    }


# A hand-made plan for prod scale-5x whose groups can grow (as once `infra size` derives
# max_size from a surge factor): the lab must take these numbers, not the spec's.
SURGE_PLAN = {
    "env": "prod",
    "stage": "scale-5x",
    "resources": [_group("web", 2, 2, 5), _group("search", 2, 2, 3)],
}


def test_the_ceiling_is_each_groups_planned_max_size():
    assert plan_group_sizes(SURGE_PLAN) == {
        "web": {"min": 2, "desired": 2, "max": 5},
        "search": {"min": 2, "desired": 2, "max": 3},
    }
    assert fleet_instances("scale-5x", "prod", "ceiling", SURGE_PLAN) == {"web": 5, "search": 3}
    assert fleet_instances("scale-5x", "prod", "min", SURGE_PLAN) == {"web": 2, "search": 2}


def test_the_ceiling_of_the_built_plans_is_their_max_size():
    # The stacks' own plan files (built when missing or stale), as the bench reads them.
    from infra.plans.build import load_or_build

    for env, stage in (("prod", "cached"), ("dev", "scale-5x")):
        sizes = plan_group_sizes(load_or_build(f"{env}/{stage}"))
        got = fleet_instances(stage, env, "ceiling")
        assert got == {role: s["max"] for role, s in sizes.items()}
        assert set(got) == ({"web", "search"} if stage == "scale-5x" else {"web"})
    # dev's groups can grow (desired 1, max 2): ceiling and min differ there.
    assert (
        fleet_instances("cached", "dev", "ceiling")["web"]
        > fleet_instances("cached", "dev", "min")["web"]
    )
    assert fleet_instances("single-box", "prod", "ceiling") == {}


def test_a_bad_fleet_or_a_plan_that_does_not_match_the_spec_is_one_line():
    with pytest.raises(FleetError, match="fleet: unknown 'max'; allowed: ceiling, min"):
        fleet_instances("cached", "prod", "max", SURGE_PLAN)
    only_web = copy.deepcopy(SURGE_PLAN)
    only_web["resources"] = only_web["resources"][:1]
    with pytest.raises(FleetError, match=r"do not match the stage spec's fleets"):
        fleet_instances("scale-5x", "prod", "ceiling", only_web)
    odd = copy.deepcopy(SURGE_PLAN)
    odd["resources"][0]["name"] = "frontend"
    with pytest.raises(FleetError, match="not named ROLE-asg"):
        plan_group_sizes(odd)


def test_budgets_processes_and_the_model_follow_the_same_fleet():
    fleet = fleet_instances("scale-5x", "prod", "ceiling", SURGE_PLAN)
    spec = load_stack_config("prod", "scale-5x").stage
    rates = model_inputs()[1]
    web_vcpus = rates.machine(spec.web.instance_type).vcpus
    search_vcpus = rates.machine(spec.search.instance_type).vcpus
    budgets = budget_map("scale-5x", "prod", 0.05, replicas_run=2, fleet=fleet)
    assert budgets["app"] == pytest.approx(5 * web_vcpus * 0.05)
    assert budgets["search"] == pytest.approx(3 * search_vcpus * 0.05)
    # At desired capacity the app tier is smaller: the fleet really is what changed.
    assert budget_map("scale-5x", "prod", 0.05, replicas_run=2)["app"] < budgets["app"]
    # Processes stay sane for two cores: the fleet's CPU is its budget, not its count.
    topo = topology("scale-5x", "prod", pin=False, fleet=fleet)
    assert topo.api_processes == MAX_API_PROCESSES
    assert fleet_processes(1, 2, MAX_API_PROCESSES) == 2
    assert fleet_processes(0, 2, MAX_API_PROCESSES) == 1
    lab = LabWorkload(100_000, cache_hit_ratio=0.9, edge_hit_ratio=0.7, replica_read_share=1.0)
    model = predict("scale-5x", "prod", 0.05, lab, replicas_run=2, fleet=fleet)
    assert model["fleet"] == fleet
    assert model["tiers"]["app"]["budget_cpus"] == pytest.approx(budgets["app"])
    assert model["tiers"]["search"]["budget_cpus"] == pytest.approx(budgets["search"])
    at_min = predict("scale-5x", "prod", 0.05, lab, replicas_run=2)
    assert model["tiers"]["app"]["capacity_rps"] > at_min["tiers"]["app"]["capacity_rps"]


def test_one_scale_factor_fits_every_stage_at_its_ceiling_with_what_runs_outside_budgets():
    small = StageLoad(vcpus=10, rps_per_factor=4000, unbudgeted_ms=0.5)  # 12 per unit factor
    big = StageLoad(vcpus=24, rps_per_factor=10000, unbudgeted_ms=1.0)  # 34 per unit factor
    fits = choose_scale({"cached": small, "scale-5x": big}, cores=2, stated=0.05)
    # 0.05 x 34 = 1.7 cores <= 90% of 2: the stated factor stands.
    assert fits.factor == 0.05 and not fits.derived and fits.largest_stage == "scale-5x"
    assert fits.ceiling_rps == pytest.approx(500) and fits.unbudgeted_cpus == pytest.approx(0.5)
    # A stage whose edge makes every request cost more outside the budgets binds, though it
    # has fewer vCPUs than the largest: the factor is derived from it.
    edge = StageLoad(vcpus=16, rps_per_factor=26000, unbudgeted_ms=1.3)  # 49.8 per unit
    grown = choose_scale({"scale-5x": big, "edge": edge}, cores=2, stated=0.05)
    assert grown.derived and grown.largest_stage == "edge"
    assert grown.factor == pytest.approx(2 * MACHINE_SHARE / 49.8)
    assert edge.cpus(grown.factor) == pytest.approx(2 * MACHINE_SHARE)
    assert grown.largest_budget + grown.unbudgeted_cpus == pytest.approx(2 * MACHINE_SHARE)
    assert "derived" in grown.describe() and "edge" in grown.describe()
    with pytest.raises(ValueError, match="allowed: one or more stages"):
        choose_scale({}, cores=2)


def test_what_runs_outside_the_budgets_follows_the_stages_tiers():
    per = UNBUDGETED_MS_PER_REQUEST
    assert unbudgeted_ms({"box"}) == per["generator"]
    assert unbudgeted_ms({"app", "alb", "db-primary"}) == per["generator"] + per["alb"]
    assert unbudgeted_ms({"app", "alb", "edge"}) == pytest.approx(
        per["generator"] + per["alb"] + per["edge"]
    )


def test_the_bench_takes_one_factor_over_every_stages_ceiling_fleet():
    from infra.config import STAGES
    from lab.bench import BenchSettings, resolve
    from lab.budgets import total_vcpus

    bs, choice = resolve(BenchSettings(env="prod"))
    assert bs.scale == choice.factor and bs.fleet == "ceiling"
    vcpus = {
        s: total_vcpus(
            s,
            "prod",
            topology(s, "prod", pin=False).replicas,
            fleet_instances(s, "prod", "ceiling"),
        )
        for s in STAGES
    }
    assert choice.largest_vcpus in vcpus.values()
    # Every stage fits the machine at its ceiling, the binding one exactly (when derived).
    assert choice.largest_budget + choice.unbudgeted_cpus <= choice.cores * MACHINE_SHARE + 1e-9
    by_hand = resolve(BenchSettings(env="prod", scale=0.08))[1]
    assert by_hand.given and by_hand.factor == 0.08 and "--scale" in by_hand.describe()
