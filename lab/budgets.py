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

from dataclasses import dataclass

# The one scale factor: 0.05 lab CPU per AWS vCPU. At it the largest stage the bench runs
# (read-replicas / edge in prod: 4 + 2 + 2 x 2 + 2 = 12 vCPU) is budgeted 0.6 of this
# machine's 2 cores, which leaves room for the load generator, the unbudgeted proxies and
# the other engineers on the machine; scale-5x (56 vCPU in prod) would need 2.8 cores.
LAB_CPU_PER_VCPU = 0.05
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
    stage: str, env: str = "prod", replicas_run: int | None = None
) -> list[TierBudget]:
    """The tiers the lab runs for `stage`, each with its vCPUs in the `env` spec: the
    capacity model's own list (infra/capacity/lab_scale.py), so lab and model budget alike.

    `replicas_run`: how many replicas the lab starts (it may cap the spec's count); each
    gets the spec's replica class."""
    from infra.capacity.checks import model_inputs
    from infra.capacity.lab_scale import tier_vcpus

    rates = model_inputs()[1]
    return [
        TierBudget(t.tier, t.vcpus, t.basis) for t in tier_vcpus(stage, env, rates, replicas_run)
    ]


def budget_map(
    stage: str, env: str = "prod", scale: float = LAB_CPU_PER_VCPU, replicas_run: int | None = None
) -> dict[str, float | None]:
    """tier -> lab CPUs (None: unlimited, measured only)."""
    return {b.tier: b.cpus(scale) for b in stage_budgets(stage, env, replicas_run)}


def total_budget(stage: str, env: str = "prod", scale: float = LAB_CPU_PER_VCPU) -> float:
    return sum(c for c in budget_map(stage, env, scale).values() if c is not None)
