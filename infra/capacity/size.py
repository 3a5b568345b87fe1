"""The sizer: each tier's cheapest class and count that meets headroom and availability.

`size_stage(stage, inputs)` searches, per tier, every class the catalogue offers (a capacity
entry in the capacity file, a price row, and for RDS / ElastiCache a row in the kept list of
node classes) and every count, and keeps the cheapest option under which the capacity
model's own checks (CPU, scaling ceiling, hot set in memory, IOPS, storage, connections,
Redis ops) keep the required headroom at the target's peak, and the environment's
availability rules hold:

- prod: every tier in at least two AZs (an ASG's `min_size` >= 2, >= 2 read replicas,
  a Redis replica for failover), app tiers and replicas N+1 (with one AZ's instances or one
  replica lost the rest still keep the headroom at the target), no burstable classes;
- the stage's role: the single box and split-db's app server are one instance; no read
  replicas before the read-replicas stage; Redis adds a node only as a failover copy (the
  service sends every command to the primary, so a replica adds no capacity).

The load comes from the capacity model's `flow` at the target multiplier, the checks from
its `stage_checks`, prices from the cost model's price table and daily load profile. No
figure is baked in: the measured rates are an input, so re-running after a new measurement
re-derives the sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.capacity.checks import TierCheck, model_inputs, stage_checks
from infra.capacity.flow import Flow, flow
from infra.capacity.inputs import ModelError, Observed, Rates, Workload
from infra.catalog import ClassSize

# replace: dataclasses.replace that also copies the (pydantic) config models
from infra.config import MAX_CACHE_NODES, STAGES, EnvProfile, StageSpec, replace
from infra.guard import node_classes
from infra.pricing.prices import PriceTable, load_prices
from infra.pricing.usage import HOURS_PER_MONTH, hourly_profile, load_usage
from infra.program.refresh import refresh_room

MAX_ASG_INSTANCES = 500  # search bound; a fleet past this is a design question, not a size
MAX_READ_REPLICAS = 15  # RDS for PostgreSQL: up to 15 read replicas per source instance
REPLICAS_FROM = STAGES.index("read-replicas")


class SizingError(ValueError):
    """No option meets the target; the message is one line naming the tier and measure."""


@dataclass(frozen=True)
class Inputs:
    """Everything the sizer reads; tests build these from crafted figures."""

    workload: Workload
    rates: Rates
    observed: Observed
    prices: PriceTable
    profile: tuple[float, ...]  # 24 hourly load factors, mean 1 (the cost model's)
    env: EnvProfile


@dataclass(frozen=True)
class Rules:
    """What the environment and stage demand beyond headroom."""

    headroom: float
    azs: int
    multi_az: bool  # prod: Multi-AZ data tier, two AZs everywhere, N+1
    burstable: bool  # T classes allowed (dev)

    @property
    def min_spread(self) -> int:
        return 2 if self.multi_az else 1

    @property
    def target_utilisation(self) -> float:
        """The CPU share target tracking holds each instance at.

        1 - headroom keeps the margin at the peak. Where an AZ may be lost (prod), the
        survivors take its instances' share: holding (1 - 1/azs) of that line means losing
        one AZ of `azs` leaves the rest at the headroom line, not past it.
        """
        base = 1 - self.headroom
        return base * (1 - 1 / self.azs) if self.multi_az and self.azs > 1 else base


def rules_for(env: EnvProfile, rates: Rates) -> Rules:
    # Burstable (T) classes stay out of prod: the model credits them only their baseline,
    # a cold cache or a failover surge spends credits they may not have, and the RDS User
    # Guide ("DB instance class types") recommends T classes for development, test and
    # other non-production servers only.
    return Rules(
        headroom=rates.required_headroom,
        azs=env.az_count,
        multi_az=env.multi_az,
        burstable=not env.multi_az,
    )


@dataclass(frozen=True)
class Option:
    """One class and count for one tier, with what it costs and how it fares."""

    tier: str
    cls: str
    count: int
    fields: dict[str, Any]  # the spec keys this option sets
    monthly_usd: float
    cost_how: str
    checks: tuple[TierCheck, ...]
    required: float

    @property
    def failing(self) -> list[TierCheck]:
        return [c for c in self.checks if _short(c, self.required)]

    @property
    def feasible(self) -> bool:
        return not self.failing

    def tightest(self) -> TierCheck | None:
        fixed = [c for c in self.checks if c.capacity is not None]
        return min(fixed, key=lambda c: c.headroom("target") or 0.0) if fixed else None


def _short(check: TierCheck, required: float) -> bool:
    h = check.headroom("target")
    return h is not None and h < required


@dataclass(frozen=True)
class TierChoice:
    tier: str
    section: str  # the spec section it writes: single_box, web, search, database, cache
    chosen: Option
    runner_up: Option | None
    why_runner_up_lost: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageSizing:
    env: str
    stage: str
    multiplier: float
    peak_rps: float
    spec: StageSpec  # the stage with every tier at its chosen size
    tiers: tuple[TierChoice, ...]
    checks: tuple[TierCheck, ...] = field(default=())  # the model on `spec`, at the target

    @property
    def monthly_usd(self) -> float:
        return sum(t.chosen.monthly_usd for t in self.tiers)


# --- the catalogue --------------------------------------------------------------------


def price_row(family: str, cls: str, *, multi_az: bool = False) -> str:
    """The price table's row id for one class (an hour of one instance or node)."""
    if family == "rds":
        return f"rds.pg.{cls}.{'multi' if multi_az else 'single'}"
    if family == "elasticache":
        return f"ec.redis.{cls}"
    return f"ec2.{cls}"


def family_of(cls: str) -> str:
    if cls.startswith("db."):
        return "rds"
    if cls.startswith("cache."):
        return "elasticache"
    return "ec2"


def candidates(
    family: str, inputs: Inputs, rules: Rules, *, engine_version: str | None = None
) -> list[str]:
    """Classes of a family the sizer may pick: a capacity entry, a price row, offered."""
    found = []
    for cls, machine in inputs.rates.machines.items():
        if family_of(cls) != family or (machine.baseline < 1 and not rules.burstable):
            continue
        rows = [
            price_row(family, cls, multi_az=m)
            for m in ((False, True) if family == "rds" else (False,))
        ]
        if not all(r in inputs.prices.rows for r in rows):
            continue
        if family == "rds" and node_classes.problems("rds", cls, "postgres", engine_version):
            continue
        if family == "elasticache" and node_classes.problems(
            "elasticache", cls, "redis", engine_version
        ):
            continue
        found.append(cls)
    return sorted(found, key=lambda c: hourly_usd(inputs, family, c))


def hourly_usd(inputs: Inputs, family: str, cls: str, *, multi_az: bool = False) -> float:
    return float(inputs.prices.rows[price_row(family, cls, multi_az=multi_az)]["usd"])


# --- the model on a candidate spec ------------------------------------------------------


def at_multiplier(w: Workload, multiplier: float) -> Workload:
    """The workload whose "target" is `multiplier` x today (1 = today's peak)."""
    return replace(w, multiplier=float(multiplier))


def stage_target(stage: str, w: Workload) -> float:
    """A stage's default target: today's peak up to edge, the workload's multiplier at
    scale-5x (each earlier stage carries today's traffic with its own architecture)."""
    return w.multiplier if stage == STAGES[-1] else 1.0


def model_checks(spec: StageSpec, w: Workload, inputs: Inputs) -> list[TierCheck]:
    return stage_checks(spec, w, inputs.rates, inputs.observed)


def _target_flow(spec: StageSpec, w: Workload, inputs: Inputs) -> Flow:
    return flow(w, inputs.observed, spec, "target")


# --- app tiers (ASG) ----------------------------------------------------------------------


@dataclass(frozen=True)
class AsgPlan:
    """The derived settings of one autoscaling group for one class."""

    instance_type: str
    per_instance_rps: float  # at 100% CPU, this tier's request mix
    scale_target_rps: int
    min_size: int
    max_size: int
    peak_instances: int  # what target tracking runs at the target peak
    survivors: int  # of those, left when the biggest AZ share is lost
    surge_instances: int  # what a surge of surge_factor x the peak needs


def asg_plan(
    machine: ClassSize,
    cls: str,
    rates: Rates,
    rules: Rules,
    peak: float,
    search_share: float,
    min_size: int,
    surge_factor: float,
) -> AsgPlan:
    """Settings for `min_size` instances of `cls` carrying `peak` rps.

    The request target per instance is the rate at which an instance reaches its CPU
    target: requests per vCPU (measured) x vCPUs x the target utilisation. `max_size` is
    the largest of: the scaling ceiling at the peak (enough instances at that target to
    keep the headroom, the model's second app measure); the instances a short surge of
    `surge_factor` x the peak needs (workload.yaml traffic.surge_factor), so target
    tracking can grow past the steady peak; and the room an instance refresh launches
    into before it terminates (refresh_room: ceil(desired x max healthy %), desired =
    min_size here). The cost is priced by the daily profile (`asg_monthly`), which never
    reaches past the peak's count: a higher max costs nothing at rest.
    """
    cost = 1 + (rates.search_app_cost - 1) * search_share
    per_instance = machine.sustained_vcpus * rates.app_rps_per_vcpu / cost
    target = max(1, math.floor(per_instance * rules.target_utilisation))
    at_peak = max(min_size, math.ceil(peak / target))
    ceiling = math.ceil(peak / (target * (1 - rules.headroom))) if peak > 0 else 1
    surge = math.ceil(at_peak * surge_factor)
    max_size = max(min_size, ceiling, at_peak, surge, refresh_room(min_size))
    lost = math.ceil(at_peak / rules.azs) if rules.multi_az else 0
    return AsgPlan(cls, per_instance, target, min_size, max_size, at_peak, at_peak - lost, surge)


def asg_monthly(plan: AsgPlan, peak: float, inputs: Inputs, root_gb: int) -> tuple[float, str]:
    """Instance-hours over the cost model's daily profile: each hour target tracking runs
    ceil(rps / target), clamped to [min, max] (as `python -m infra cost` prices a fleet)."""
    mean = peak / max(inputs.profile)
    counts = [
        min(plan.max_size, max(plan.min_size, math.ceil(mean * f / plan.scale_target_rps)))
        for f in inputs.profile
    ]
    avg = sum(counts) / len(counts)
    hourly = hourly_usd(inputs, "ec2", plan.instance_type)
    ebs = (
        float(inputs.prices.rows["ebs.gp3.gb"]["usd"])
        if "ebs.gp3.gb" in inputs.prices.rows
        else 0.0
    )
    usd = avg * HOURS_PER_MONTH * hourly + avg * root_gb * ebs
    return usd, (
        f"avg {avg:.2f} x {plan.instance_type} (${hourly:g}/h) x {HOURS_PER_MONTH:g} h"
        + (f" + {avg:.2f} x {root_gb} GB gp3" if ebs else "")
    )


def _n_plus_one(tier: str, plan: AsgPlan, rules: Rules, flows: tuple[float, float]) -> TierCheck:
    return TierCheck(
        tier,
        "cpu with one AZ lost",
        "rps",
        plan.survivors * plan.per_instance_rps,
        *flows,
        f"{plan.peak_instances} at the peak over {rules.azs} AZs, "
        f"{plan.peak_instances - plan.survivors} lost with one AZ: {plan.survivors} x "
        f"{plan.per_instance_rps:,.0f} rps",
    )


def size_asg(
    tier: str, section: str, spec: StageSpec, w: Workload, inputs: Inputs, rules: Rules
) -> list[Option]:
    current = getattr(spec, section)
    fl, today = _target_flow(spec, w, inputs), flow(w, inputs.observed, spec, "today")
    if section == "search":
        peak, share, loads = fl.search_rps, 1.0, (today.search_rps, fl.search_rps)
    else:
        peak, share, loads = fl.web_rps, fl.web_search_share, (today.web_rps, fl.web_rps)
    options = []
    for cls in candidates("ec2", inputs, rules):
        machine = inputs.rates.machine(cls)
        best: Option | None = None
        for min_size in range(rules.min_spread, MAX_ASG_INSTANCES + 1):
            plan = asg_plan(
                machine, cls, inputs.rates, rules, peak, share, min_size, w.surge_factor
            )
            fields = {
                "instance_type": cls,
                "min_size": plan.min_size,
                "max_size": plan.max_size,
                "desired_capacity": plan.min_size,
                "scale_target_rps": plan.scale_target_rps,
            }
            trial = replace(spec, **{section: replace(current, **fields)})
            checks = [c for c in model_checks(trial, w, inputs) if c.tier == tier]
            if rules.multi_az:
                checks.append(_n_plus_one(tier, plan, rules, loads))
            usd, how = asg_monthly(plan, peak, inputs, current.root_volume_gb)
            best = Option(tier, cls, min_size, fields, usd, how, tuple(checks), rules.headroom)
            if best.feasible or not _count_helps(best):
                break
        if best is not None:
            options.append(best)
    return options


def _count_helps(option: Option) -> bool:
    """Whether more instances could fix what fails (CPU and ceilings scale with count)."""
    return all(
        c.measure
        in {
            "cpu",
            "scaling ceiling",
            "cpu with one AZ lost",
            "cpu per replica",
            "cpu per replica, one lost",
        }
        for c in option.failing
    )


# --- single box -------------------------------------------------------------------------


def size_box(spec: StageSpec, w: Workload, inputs: Inputs, rules: Rules) -> list[Option]:
    box = spec.single_box
    assert box is not None
    tier = "box" if spec.database is None else "app"
    options = []
    # The box is the stage's role: one instance, so no AZ spread and no N+1 to meet; a
    # burstable class stays out in prod all the same.
    for cls in candidates("ec2", inputs, rules):
        trial = replace(spec, single_box=replace(box, instance_type=cls))
        checks = tuple(c for c in model_checks(trial, w, inputs) if c.tier == tier)
        hourly = hourly_usd(inputs, "ec2", cls)
        usd = hourly * HOURS_PER_MONTH
        how = f"1 x {cls} (${hourly:g}/h) x {HOURS_PER_MONTH:g} h"
        options.append(
            Option(tier, cls, 1, {"instance_type": cls}, usd, how, checks, rules.headroom)
        )
    return options


# --- data tiers ---------------------------------------------------------------------------


def size_primary(spec: StageSpec, w: Workload, inputs: Inputs, rules: Rules) -> list[Option]:
    db = spec.database
    assert db is not None
    options = []
    for cls in candidates("rds", inputs, rules, engine_version=db.engine_version):
        trial = replace(spec, database=replace(db, instance_class=cls))
        checks = tuple(c for c in model_checks(trial, w, inputs) if c.tier == "db-primary")
        hourly = hourly_usd(inputs, "rds", cls, multi_az=rules.multi_az)
        az = "Multi-AZ" if rules.multi_az else "Single-AZ"
        usd = hourly * HOURS_PER_MONTH
        how = f"1 x {cls} {az} (${hourly:g}/h) x {HOURS_PER_MONTH:g} h; storage as the spec"
        options.append(
            Option("db-primary", cls, 1, {"instance_class": cls}, usd, how, checks, rules.headroom)
        )
    return options


def _replica_n_plus_one(trial: StageSpec, w: Workload, inputs: Inputs, count: int) -> TierCheck:
    """The per-replica CPU check with one replica (one AZ) lost: the others take its reads."""
    db = trial.database
    assert db is not None
    fewer = replace(trial, database=replace(db, read_replicas=count - 1))
    (cpu,) = [
        c
        for c in model_checks(fewer, w, inputs)
        if (c.tier, c.measure) == ("db-replicas", "cpu per replica")
    ]
    return replace(
        cpu,
        measure="cpu per replica, one lost",
        basis=f"{count - 1} of {count} replicas carry the reads: " + cpu.basis,
    )


def size_replicas(spec: StageSpec, w: Workload, inputs: Inputs, rules: Rules) -> list[Option]:
    db = spec.database
    assert db is not None
    options = []
    least = rules.min_spread
    for cls in candidates("rds", inputs, rules, engine_version=db.engine_version):
        best: Option | None = None
        for count in range(least, MAX_READ_REPLICAS + 1):
            fields = {"read_replicas": count, "replica_instance_class": cls}
            trial = replace(spec, database=replace(db, **fields))
            checks = [c for c in model_checks(trial, w, inputs) if c.tier == "db-replicas"]
            if rules.multi_az and count >= 2:
                checks.append(_replica_n_plus_one(trial, w, inputs, count))
            hourly = hourly_usd(inputs, "rds", cls)
            usd = count * hourly * HOURS_PER_MONTH
            how = f"{count} x {cls} Single-AZ (${hourly:g}/h) x {HOURS_PER_MONTH:g} h"
            best = Option(
                "db-replicas", cls, count, fields, usd, how, tuple(checks), rules.headroom
            )
            if best.feasible or not _count_helps(best):
                break
        if best is not None:
            options.append(best)
    return options


def size_cache(spec: StageSpec, w: Workload, inputs: Inputs, rules: Rules) -> list[Option]:
    cache = spec.cache
    assert cache is not None
    # The service sends every command to the primary: more nodes add no capacity, only a
    # failover copy, which Multi-AZ needs (the config refuses one node with multi_az).
    nodes = min(rules.min_spread, MAX_CACHE_NODES)
    options = []
    for cls in candidates("elasticache", inputs, rules, engine_version=cache.engine_version):
        fields = {"node_type": cls, "node_count": nodes}
        trial = replace(spec, cache=replace(cache, **fields))
        checks = tuple(c for c in model_checks(trial, w, inputs) if c.tier == "redis")
        hourly = hourly_usd(inputs, "elasticache", cls)
        usd = nodes * hourly * HOURS_PER_MONTH
        how = f"{nodes} x {cls} (${hourly:g}/h) x {HOURS_PER_MONTH:g} h"
        options.append(Option("redis", cls, nodes, fields, usd, how, checks, rules.headroom))
    return options


# --- choosing -----------------------------------------------------------------------------


def choose(tier: str, section: str, options: Iterable[Option], where: str) -> TierChoice:
    """The cheapest feasible option, and the runner-up: the best option of another class
    (cheaper but short on a measure, or feasible but dearer)."""
    options = list(options)
    if not options:
        raise SizingError(f"{where}: {tier}: no class in the catalogue to size it with")
    feasible = sorted((o for o in options if o.feasible), key=lambda o: (o.monthly_usd, o.cls))
    if not feasible:
        raise SizingError(_infeasible(tier, options, where))
    best = feasible[0]
    others = [o for o in options if o.cls != best.cls]
    cheaper_short = sorted(
        (o for o in others if not o.feasible and o.monthly_usd <= best.monthly_usd),
        key=lambda o: -o.monthly_usd,
    )
    dearer = sorted((o for o in others if o.feasible), key=lambda o: o.monthly_usd)
    runner: Option | None = None
    why = "no other class in the catalogue"
    if cheaper_short:
        runner = cheaper_short[0]
        short = ", ".join(
            f"{c.measure} {_pct(c.headroom('target'))}"
            for c in sorted(runner.failing, key=lambda c: c.headroom("target") or 0.0)
        )
        why = f"short at the target (needs {runner.required:.0%} headroom): {short}"
    elif dearer:
        runner = dearer[0]
        why = f"costs ${runner.monthly_usd - best.monthly_usd:,.0f} a month more"
    return TierChoice(tier, section, best, runner, why)


def _infeasible(tier: str, options: list[Option], where: str) -> str:
    """One line: the measure(s) no class meets, with the best any class does on the first."""
    by_measure: dict[str, list[tuple[Option, TierCheck]]] = {}
    for o in options:
        for c in o.failing:
            by_measure.setdefault(c.measure, []).append((o, c))
    # The measures that fail under every class are the ones to name; else the commonest.
    everywhere = [m for m, hits in by_measure.items() if len(hits) == len(options)]
    names = everywhere or [max(by_measure, key=lambda m: len(by_measure[m]))]
    option, check = max(by_measure[names[0]], key=lambda oc: oc[1].headroom("target") or -1e9)
    need = check.load_target / (1 - option.required)
    return (
        f"{where}: {tier}: no class in the catalogue meets "
        + " or ".join(f"'{m}'" for m in names)
        + f": '{names[0]}' needs {amount_text(need, check.unit)} of capacity for "
        f"{option.required:.0%} headroom; the best, {option.count} x {option.cls}, gives "
        f"{amount_text(check.capacity or 0.0, check.unit)}"
    )


def amount_text(value: float, unit: str) -> str:
    if unit == "GB":
        return f"{value:,.1f} GB"
    if unit == "vCPU":
        return f"{value:,.2f} vCPU"
    return f"{value:,.0f} {unit}"


def _pct(value: float | None) -> str:
    return "elastic" if value is None else f"{value:.0%}"


def size_stage(spec: StageSpec, inputs: Inputs, multiplier: float | None = None) -> StageSizing:
    """Every tier of `spec` at its cheapest feasible size for `multiplier` x today's peak
    (default: the stage's target). Raises SizingError naming the tier and measure."""
    rules = rules_for(inputs.env, inputs.rates)
    mult = stage_target(spec.name, inputs.workload) if multiplier is None else multiplier
    w = at_multiplier(inputs.workload, mult)
    where = f"{inputs.env.name}/{spec.name} at {mult:g}x"
    choices: list[TierChoice] = []
    sized = spec

    def take(
        tier: str, section: str, options: list[Option], apply: Callable[[Option], StageSpec]
    ) -> None:
        nonlocal sized
        choice = choose(tier, section, options, where)
        choices.append(choice)
        sized = apply(choice.chosen)

    def set_section(section: str) -> Callable[[Option], StageSpec]:
        return lambda o: replace(sized, **{section: replace(getattr(sized, section), **o.fields)})

    # App tiers first: the DB's connection check counts their fleets' connections.
    if spec.single_box is not None:
        tier = "box" if spec.database is None else "app"
        take(tier, "single_box", size_box(sized, w, inputs, rules), set_section("single_box"))
    if spec.web is not None:
        take("app", "web", size_asg("app", "web", sized, w, inputs, rules), set_section("web"))
    if spec.search is not None:
        take(
            "search",
            "search",
            size_asg("search", "search", sized, w, inputs, rules),
            set_section("search"),
        )
    if spec.cache is not None:
        take("redis", "cache", size_cache(sized, w, inputs, rules), set_section("cache"))
    if spec.database is not None:
        db = spec.database
        if spec.index - 1 >= REPLICAS_FROM:
            take(
                "db-replicas",
                "database",
                size_replicas(sized, w, inputs, rules),
                set_section("database"),
            )
        elif db.read_replicas:
            sized = replace(
                sized, database=replace(db, read_replicas=0, replica_instance_class=None)
            )
        take(
            "db-primary",
            "database",
            size_primary(sized, w, inputs, rules),
            set_section("database"),
        )
    fl = _target_flow(sized, w, inputs)
    return StageSizing(
        env=inputs.env.name,
        stage=spec.name,
        multiplier=mult,
        peak_rps=fl.origin_rps,
        spec=sized,
        tiers=tuple(choices),
        checks=tuple(model_checks(sized, w, inputs)),
    )


def load_inputs(env: str, stacks: Path | None = None) -> Inputs:
    """The repo's inputs: the capacity model's (workload, rates, lab figures), the cost
    model's price table and daily profile, the environment profile. In dev the workload is
    the cost model's dev traffic (a small fixed test load), never the production peak."""
    from infra.config import load_env_profile

    w, rates, obs = model_inputs()
    usage = load_usage()
    # The daily curve of the workload file's peak (the cost model's), also in dev.
    daily = hourly_profile(w.peak_factor, float(usage["trough_factor"]))
    profile = load_env_profile(env) if stacks is None else load_env_profile(env, stacks)
    if env == "dev":
        w = replace(
            w,
            hits_per_day=float(usage["dev_hits_per_day"]),
            movies=float(usage["dev_movies"]),
            multiplier=1.0,
        )
    return Inputs(
        workload=w,
        rates=rates,
        observed=obs,
        prices=load_prices(),
        profile=tuple(daily),
        env=profile,
    )


# --- command line -------------------------------------------------------------------------


def derived_fields(sizing: StageSizing) -> dict[str, dict[str, Any]]:
    """Per spec section, the keys the sizer sets (what --check compares, --write writes)."""
    out: dict[str, dict[str, Any]] = {}
    for t in sizing.tiers:
        out.setdefault(t.section, {}).update(t.chosen.fields)
    spec = sizing.spec
    if spec.database is not None and spec.index - 1 < REPLICAS_FROM:
        # The stage's role: no replicas before read-replicas.
        out.setdefault("database", {})["read_replicas"] = 0
    return out


def parse_target(text: str) -> float:
    """`5x`, `5` or `2.5x` -> 5.0 / 2.5; anything else is an error naming what is allowed."""
    raw = text.strip().lower().removesuffix("x")
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0 or value > 10_000:
        raise SizingError(
            f"--target {text!r}: allowed: a multiplier of today's peak such as 1x, 5x or 25"
        )
    return value


def _tightest_text(option: Option) -> str:
    c = option.tightest()
    if c is None:
        return "-"
    return f"{c.measure} {_pct(c.headroom('target'))}"


def render(sizing: StageSizing, console: Any, diffs: list[Any] | None = None) -> None:
    from rich.table import Table

    title = (
        f"{sizing.env}/{sizing.stage} at {sizing.multiplier:g}x today's peak "
        f"({sizing.peak_rps:,.0f} rps at the origin): ${sizing.monthly_usd:,.0f} a month "
        "for the sized tiers"
    )
    table = Table(title=title, title_justify="left")
    for col in ("tier", "choice", "a month", "tightest headroom", "runner-up", "why it lost"):
        table.add_column(col, overflow="fold")
    for t in sizing.tiers:
        o = t.chosen
        extra = ""
        if "scale_target_rps" in o.fields:
            extra = (
                f", min {o.fields['min_size']} max {o.fields['max_size']}, "
                f"target {o.fields['scale_target_rps']} rps/instance"
            )
        runner = "-" if t.runner_up is None else f"{t.runner_up.count} x {t.runner_up.cls}"
        table.add_row(
            t.tier,
            f"{o.count} x {o.cls}{extra}",
            f"${o.monthly_usd:,.0f}",
            _tightest_text(o),
            runner,
            t.why_runner_up_lost,
        )
    console.print(table)
    for d in diffs or []:
        if d.reason is None:
            console.print(f"  [red]differs[/] {d.path}: spec {d.spec!r}, derived {d.derived!r}")
        else:
            console.print(
                f"  [yellow]override[/] {d.path}: spec {d.spec!r}, "
                f"derived {d.derived!r}: {d.reason}"
            )


def main(argv: list[str]) -> int:
    import argparse
    import sys
    from pathlib import Path

    from infra.capacity import spec_edit
    from infra.config import ENVIRONMENTS, STACKS_DIR, ConfigError, choice_error, load_stack_config

    parser = argparse.ArgumentParser(
        prog="python -m infra size",
        description=(
            "Each tier's cheapest class and count that keeps the required headroom at the "
            "stage's target and meets the environment's availability rules."
        ),
    )
    parser.add_argument("--env", default="prod", help=f"one of {', '.join(ENVIRONMENTS)}")
    parser.add_argument("--stage", action="append", help="a stage (repeatable); default all")
    parser.add_argument(
        "--target", help="multiplier of today's peak, e.g. 5x (default: 1x, 5x at scale-5x)"
    )
    parser.add_argument(
        "--stacks", type=Path, default=STACKS_DIR, help="the stage specs' folder (default: stacks/)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the derived sizes into the specs")
    mode.add_argument(
        "--check", action="store_true", help="exit 1 if a spec differs without an override"
    )
    args = parser.parse_args(argv)
    if (bad := choice_error(args.env, args.stage or [])) is not None:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    from rich.console import Console

    console = Console(width=max(Console().width, 160))
    stages = args.stage or list(STAGES)
    try:
        target = None if args.target is None else parse_target(args.target)
        inputs = load_inputs(args.env, args.stacks)
        # Every stage is sized before anything is written: an error leaves every spec as it was.
        results = []
        for stage in stages:
            spec = load_stack_config(args.env, stage, args.stacks).stage
            sized = size_stage(spec, inputs, target)
            derived = derived_fields(sized)
            diffs = spec_edit.differences(spec, derived)
            results.append((stage, sized, diffs, spec_edit.stale_overrides(spec, derived)))
        for _, sized, diffs, stale in results:
            render(sized, console, diffs)
            for key in stale:
                console.print(
                    f"  [yellow]stale override[/] {key}: the spec equals the derived value"
                )
        if args.write:
            for stage, _, diffs, _ in results:
                written = spec_edit.write(stage, diffs, args.env, args.stacks)
                if written is not None:
                    console.print(f"wrote {written}")
    except (SizingError, spec_edit.SpecEditError, ConfigError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = [
        f"{args.env}/{st} {d.path}"
        for st, _, diffs, _ in results
        for d in diffs
        if d.reason is None
    ]
    overridden = sum(1 for _, _, diffs, _ in results for d in diffs if d.reason is not None)
    if args.check:
        if failed:
            print(
                f"size --check: {len(failed)} value(s) differ from the derived sizes without an "
                f"override: {', '.join(failed)}",
                file=sys.stderr,
            )
            return 1
        console.print(
            f"size --check: {len(stages)} {args.env} stage(s) match the derived sizes "
            f"({overridden} value(s) kept by an override)"
        )
    return 0
