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
from lab.budgets import GENERATOR_CPUS, LAB_CPU_PER_VCPU, budget_map, choose_scale
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


def test_one_scale_factor_fits_the_largest_stage_and_the_generator():
    fits = choose_scale({"cached": 10, "scale-5x": 24}, cores=2)
    assert fits.factor == LAB_CPU_PER_VCPU and not fits.derived
    assert fits.largest_stage == "scale-5x"
    # A fleet grown by a surge: 40 vCPU x 0.05 = 2.0 CPU would not fit beside the generator.
    grown = choose_scale({"cached": 10, "scale-5x": 40}, cores=2)
    assert grown.derived
    assert grown.factor == pytest.approx((2 - GENERATOR_CPUS) / 40)
    assert grown.largest_budget + GENERATOR_CPUS == pytest.approx(2)
    assert "derived" in grown.describe() and "scale-5x 40 vCPU" in grown.describe()
    with pytest.raises(ValueError, match="allowed: one or more stages"):
        choose_scale({}, cores=2)


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
    assert choice.largest_vcpus == max(vcpus.values())
    assert choice.largest_budget + choice.generator_cpus <= choice.cores + 1e-9
    by_hand = resolve(BenchSettings(env="prod", scale=0.08))[1]
    assert by_hand.given and by_hand.factor == 0.08 and "--scale" in by_hand.describe()
