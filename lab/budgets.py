"""Each tier's CPU budget in the lab: the vCPUs that tier has in the stage spec (through
`infra.config.load_stack_config`, the Pulumi program's own loader) times ONE scale factor
for the whole lab, so every stage keeps AWS's proportions between its tiers.

The scale factor, stated once: 1 AWS vCPU = `LAB_CPU_PER_VCPU` lab CPU (one lab CPU is one
core of this machine for one second per second).

Assumption relating the two: one Graviton vCPU (c7g/m7g/r7g: a whole Neoverse-V1 core,
no SMT) does the work of one core of this machine (AMD EPYC, KVM guest) on this service's
code. No speed-up is credited for the move, as in assumptions/capacity.yaml's
`lab.aws_vcpu_per_lab_vcpu: 1.0`; the lab then models a stage at 1/20 of its size.

Tiers without a fixed CPU in AWS (the ALB, CloudFront + S3) get an unlimited group: their
CPU is measured, not budgeted. The load generator runs outside every group."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# The one scale factor: 0.05 lab CPU per AWS vCPU. At it the largest stage the bench runs,
# scale-5x in prod with its fleets at the ceiling (max_size as planned: today 2 web and 2
# search instances, 2 x 2 + 2 x 2 + 4 primary + 2 x 4 replicas + 4 Redis = 24 vCPU), is
# budgeted 1.2 of this machine's 2 cores, which leaves GENERATOR_CPUS for the load
# generator and the unbudgeted stand-ins. When the sizer plans bigger fleets (a surge
# factor on max_size), `choose_scale` derives a smaller factor so the largest stage still
# fits, and the bench prints it with every figure.
LAB_CPU_PER_VCPU = 0.05
# CPU the bench needs outside every budget at the largest stage's saturation: the load
# generator and the unbudgeted ALB and CDN stand-ins (nginx, moto). Measured in the
# 2026-11-29 bench at scale-5x's saturation (519 rps): generator 0.17 + edge 0.31 + ALB
# 0.03 = 0.51 cores (lab/results/bench.json, at_best); rounded up to 0.6 because a stage at
# its ceiling carries more requests than that one did.
GENERATOR_CPUS = 0.6
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
class ScaleChoice:
    """The one scale factor of a bench and why: `factor` lab CPU per AWS vCPU."""

    factor: float
    largest_stage: str
    largest_vcpus: float
    cores: int
    generator_cpus: float
    derived: bool  # True: LAB_CPU_PER_VCPU would not fit, the factor was derived
    given: bool = False  # True: set by hand (--scale), whether it fits or not

    @property
    def largest_budget(self) -> float:
        return self.largest_vcpus * self.factor

    def describe(self) -> str:
        stated_budget = self.largest_vcpus * LAB_CPU_PER_VCPU
        if self.given:
            how = "given with --scale"
        elif self.derived:
            how = f"derived: {LAB_CPU_PER_VCPU:g} would budget {stated_budget:.2f}"
        else:
            how = "stated in lab/budgets.py"
        return (
            f"{self.factor:.4g} lab CPU per AWS vCPU ({how}); largest stage {self.largest_stage} "
            f"{self.largest_vcpus:g} vCPU = {self.largest_budget:.2f} CPU + generator "
            f"{self.generator_cpus:g} <= {self.cores} cores"
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
            "generator_cpus": self.generator_cpus,
            "cores": self.cores,
        }


def choose_scale(
    vcpus_by_stage: Mapping[str, float],
    cores: int,
    generator_cpus: float = GENERATOR_CPUS,
    stated: float = LAB_CPU_PER_VCPU,
) -> ScaleChoice:
    """One factor for every stage: `stated` when the largest stage's budgets plus the
    generator's share fit the machine's cores, else the largest factor that fits
    ((cores - generator) / the largest stage's vCPUs). `vcpus_by_stage`: each stage's
    budgeted vCPUs with its fleets as the bench runs them (`total_vcpus`)."""
    if not vcpus_by_stage:
        raise ValueError("choose_scale: no stage given; allowed: one or more stages")
    room = cores - generator_cpus
    if room <= 0:
        raise ValueError(
            f"choose_scale: {cores} cores leave nothing beside the generator's "
            f"{generator_cpus:g}; allowed: more cores than that"
        )
    largest = max(vcpus_by_stage, key=lambda s: vcpus_by_stage[s])
    vcpus = vcpus_by_stage[largest]
    fits = vcpus * stated <= room + 1e-9
    factor = stated if fits else room / vcpus
    return ScaleChoice(factor, largest, vcpus, cores, generator_cpus, derived=not fits)


def bench_scale(
    env: str, fleets: Mapping[str, Mapping[str, int]], cores: int | None = None
) -> ScaleChoice:
    """The bench's factor for `env` with each stage's fleets (stage -> `fleet_instances`),
    over every stage given, so a bench of some stages budgets as the whole one would."""
    from lab.topology import topology

    vcpus = {
        stage: total_vcpus(stage, env, topology(stage, env, pin=False).replicas, fleet)
        for stage, fleet in fleets.items()
    }
    return choose_scale(vcpus, cores or machine_cores())
