"""Each tier's CPU budget in the lab: the vCPUs that tier has in the stage spec (through
`infra.config.load_stack_config`, the Pulumi program's own loader) times ONE scale factor
for the whole lab, so every stage keeps AWS's proportions between its tiers.

The scale factor, stated once: 1 AWS vCPU = `LAB_CPU_PER_VCPU` lab CPU (one lab CPU is one
core of this machine for one second per second).

Assumption relating the two: one Graviton vCPU (c7g/m7g/r7g: a whole Neoverse-V1 core,
no SMT) does the work of one core of this machine (AMD EPYC, KVM guest) on this service's
code. No speed-up is credited for the move, as in assumptions/capacity.yaml's
`lab.aws_vcpu_per_lab_vcpu: 1.0`; at the stated 0.05 the lab models a stage at 1/20 of its
size, at a derived factor smaller (`choose_scale`).

Tiers without a fixed CPU in AWS (the ALB, CloudFront + S3) get an unlimited group: their
CPU is measured, not budgeted. The load generator runs outside every group."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# The one scale factor: 0.05 lab CPU per AWS vCPU when every stage fits the machine at
# its ceiling with it; when one does not, `choose_scale` derives the largest factor that
# fits, and the bench prints it with every figure.
LAB_CPU_PER_VCPU = 0.05
# CPU spent outside every budget per request the generator sends, by what spends it: the
# load generator (its own process), the ALB stand-in (haproxy) where the stage has an
# ALB, the CDN and S3 stand-ins (nginx, moto) where it has an edge. Measured at each
# stage's highest passing rate in the 2026-12-06 ceiling bench (lab/results/ceiling-repeat2,
# `at_best`: generator_cpu and the alb/edge groups' CPUs over the rate): generator 0.26-0.45
# ms, ALB 0.11-0.22 ms, CDN + S3 0.44-0.79 ms; the upper half of each range, since a stage
# at its ceiling must still fit. These grow with the rate, so at its ceiling a stage with
# an edge spends more of this machine outside its budgets than in them.
UNBUDGETED_MS_PER_REQUEST = {"generator": 0.4, "alb": 0.2, "edge": 0.7}
# The share of the machine's cores a stage at its ceiling may use (budgets + unbudgeted):
# the rest is left to the kernel, PostgreSQL's and Redis's background work and the bench.
MACHINE_SHARE = 0.9
# Tiers measured but not budgeted: elastic in AWS.
UNBUDGETED = ("alb", "edge")


@dataclass(frozen=True)
class TierBudget:
    tier: str
    vcpus: float | None  # the AWS vCPUs behind it; None: elastic, not budgeted
    basis: str  # where the vCPUs come from

    def cpus(self, scale: float = LAB_CPU_PER_VCPU) -> float | None:
        return None if self.vcpus is None else self.vcpus * scale


def stage_budgets(
    stage: str,
    env: str = "prod",
    replicas_run: int | None = None,
    fleet: Mapping[str, int] | None = None,
) -> list[TierBudget]:
    """The tiers the lab runs for `stage`, each with its vCPUs in the `env` spec: the
    capacity model's own list (infra/capacity/lab_scale.py), so lab and model budget alike.

    `replicas_run`: how many replicas the lab starts (it may cap the spec's count); each
    gets the spec's replica class. `fleet`: instances per auto-scaled fleet
    (`infra.capacity.lab_scale.fleet_instances`); default the spec's desired capacity."""
    from infra.capacity.checks import model_inputs
    from infra.capacity.lab_scale import tier_vcpus

    rates = model_inputs()[1]
    return [
        TierBudget(t.tier, t.vcpus, t.basis)
        for t in tier_vcpus(stage, env, rates, replicas_run, fleet)
    ]


def budget_map(
    stage: str,
    env: str = "prod",
    scale: float = LAB_CPU_PER_VCPU,
    replicas_run: int | None = None,
    fleet: Mapping[str, int] | None = None,
) -> dict[str, float | None]:
    """tier -> lab CPUs (None: unlimited, measured only)."""
    return {b.tier: b.cpus(scale) for b in stage_budgets(stage, env, replicas_run, fleet)}


def total_vcpus(
    stage: str,
    env: str = "prod",
    replicas_run: int | None = None,
    fleet: Mapping[str, int] | None = None,
) -> float:
    """The AWS vCPUs behind a stage's budgeted tiers."""
    return sum(b.vcpus or 0 for b in stage_budgets(stage, env, replicas_run, fleet))


def total_budget(
    stage: str,
    env: str = "prod",
    scale: float = LAB_CPU_PER_VCPU,
    fleet: Mapping[str, int] | None = None,
) -> float:
    return sum(c for c in budget_map(stage, env, scale, fleet=fleet).values() if c is not None)


def machine_cores() -> int:
    """The cores this process may run on (the load generator and every tier share them)."""
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class StageLoad:
    """What a stage asks of this machine at its ceiling, per unit of the scale factor."""

    vcpus: float  # the AWS vCPUs behind its budgeted tiers
    # The model's ceiling (API requests/s) at 1 lab CPU per vCPU: it grows in proportion
    # to the factor, since every budget does (infra/capacity/lab_scale.py `predict`).
    rps_per_factor: float
    unbudgeted_ms: float  # CPU ms outside every budget per request (UNBUDGETED_MS_PER_REQUEST)

    def cpus(self, factor: float) -> float:
        """Cores the stage uses at its ceiling: its budgets + what runs outside them."""
        return factor * (self.vcpus + self.rps_per_factor * self.unbudgeted_ms / 1000)


def unbudgeted_ms(tiers: set[str], per: Mapping[str, float] = UNBUDGETED_MS_PER_REQUEST) -> float:
    """CPU ms outside the budgets per request at a stage with these tiers."""
    return per["generator"] + sum(v for k, v in per.items() if k != "generator" and k in tiers)


@dataclass(frozen=True)
class ScaleChoice:
    """The one scale factor of a bench and why: `factor` lab CPU per AWS vCPU."""

    factor: float
    largest_stage: str  # the stage that binds: the most of the machine at its ceiling
    largest_vcpus: float
    cores: int
    unbudgeted_cpus: float  # that stage's CPU outside the budgets at its ceiling, at factor
    ceiling_rps: float  # the model's ceiling of that stage at factor
    derived: bool  # True: LAB_CPU_PER_VCPU would not fit, the factor was derived
    given: bool = False  # True: set by hand (--scale), whether it fits or not

    @property
    def largest_budget(self) -> float:
        return self.largest_vcpus * self.factor

    def describe(self) -> str:
        if self.given:
            how = "given with --scale"
        elif self.derived:
            how = f"derived: {LAB_CPU_PER_VCPU:g} would not fit"
        else:
            how = "stated in lab/budgets.py"
        return (
            f"{self.factor:.4g} lab CPU per AWS vCPU ({how}); binding stage "
            f"{self.largest_stage} at its ceiling (~{self.ceiling_rps:,.0f} rps): "
            f"{self.largest_vcpus:g} vCPU = {self.largest_budget:.2f} CPU budgeted + "
            f"{self.unbudgeted_cpus:.2f} outside the budgets (generator, ALB, CDN) <= "
            f"{MACHINE_SHARE:.0%} of {self.cores} cores"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "lab_cpu_per_vcpu": self.factor,
            "stated": LAB_CPU_PER_VCPU,
            "derived": self.derived,
            "given": self.given,
            "largest_stage": self.largest_stage,
            "largest_vcpus": self.largest_vcpus,
            "largest_budget_cpus": round(self.largest_budget, 4),
            "unbudgeted_cpus": round(self.unbudgeted_cpus, 4),
            "unbudgeted_ms_per_request": dict(UNBUDGETED_MS_PER_REQUEST),
            "ceiling_rps": round(self.ceiling_rps, 1),
            "machine_share": MACHINE_SHARE,
            "cores": self.cores,
        }


def choose_scale(
    loads: Mapping[str, StageLoad],
    cores: int,
    stated: float = LAB_CPU_PER_VCPU,
    share: float = MACHINE_SHARE,
) -> ScaleChoice:
    """One factor for every stage: `stated` when every stage at its ceiling (its budgets +
    the CPU outside them at the model's ceiling rate) fits `share` of the cores, else the
    largest factor at which the hungriest one does. `loads`: stage -> `StageLoad`."""
    if not loads:
        raise ValueError("choose_scale: no stage given; allowed: one or more stages")
    if cores <= 0 or not 0 < share <= 1:
        raise ValueError(
            f"choose_scale: cores={cores}, share={share}; allowed: cores > 0, 0 < share <= 1"
        )
    room = cores * share
    binding = max(loads, key=lambda s: loads[s].cpus(1.0))
    load = loads[binding]
    fits = load.cpus(stated) <= room + 1e-9
    factor = stated if fits else room / load.cpus(1.0)
    return ScaleChoice(
        factor,
        binding,
        load.vcpus,
        cores,
        unbudgeted_cpus=factor * load.rps_per_factor * load.unbudgeted_ms / 1000,
        ceiling_rps=factor * load.rps_per_factor,
        derived=not fits,
    )


def bench_scale(
    env: str, fleets: Mapping[str, Mapping[str, int]], cores: int | None = None
) -> ScaleChoice:
    """The bench's factor for `env` with each stage's fleets (stage -> `fleet_instances`),
    over every stage given, so a bench of some stages budgets as the whole one would. Each
    stage's ceiling rate is the model's (the committed bench's hit ratios)."""
    return choose_scale(
        {stage: stage_load(stage, env, fleet) for stage, fleet in fleets.items()},
        cores or machine_cores(),
    )


def stage_load(stage: str, env: str, fleet: Mapping[str, int]) -> StageLoad:
    """A stage's `StageLoad` with its fleets at `fleet`."""
    from infra.capacity.checks import model_inputs
    from infra.capacity.lab_scale import LabWorkload, predict
    from lab.topology import topology

    replicas = topology(stage, env, pin=False).replicas
    budgets = stage_budgets(stage, env, replicas, fleet)
    obs = model_inputs()[2]
    lab = LabWorkload(
        movies=100_000,
        cache_hit_ratio=obs.cache_hit_ratio,
        search_cache_hit_ratio=obs.search_cache_hit_ratio,
        edge_hit_ratio=obs.edge_hit_ratio,
        replica_read_share=obs.replica_read_share,
    )
    ceiling = predict(stage, env, 1.0, lab, replicas_run=replicas, fleet=fleet)["rps"] or 0.0
    return StageLoad(
        vcpus=sum(b.vcpus or 0 for b in budgets),
        rps_per_factor=float(ceiling),
        unbudgeted_ms=unbudgeted_ms({b.tier for b in budgets}),
    )
