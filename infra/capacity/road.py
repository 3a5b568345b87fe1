"""The road past 5x: where prod/scale-5x runs out at 10x, 25x, 100x, and what it takes.

For each multiplier N the final stage, as specified, is run through the capacity model at
N x today's load. Every measure under the required headroom is a shortfall; the multiplier
at which it first falls under the line is found by bisection on the model (loads are not
linear in N: a search ranks more rows as the catalogue grows). The first tier to run out is
the shortfall with the lowest such multiplier.

Each short tier gets a remedy, priced from the price table:

- the sizer at N (bigger classes, more instances, more replicas), when a class in the
  catalogue meets every measure;
- Redis in cluster mode (sharded) when no single node holds the hot set or serves the ops
  (the service sends every command to one primary, and Redis runs commands on one thread);
- for the primary: 400 GiB of gp3 for its 12,000 baseline IOPS, a higher storage ceiling,
  then partitioning the write path by movie id (k primaries, each with 1/k of the movies,
  their writes and their hot set) when no class carries it;
- CloudFront: a quota increase (the quota is adjustable on request; no charge).

A multi-region read path answers distance to users, which this model has no input for: the
road says so rather than inventing a trigger.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from infra.capacity import size as sizing
from infra.capacity.checks import TierCheck
from infra.capacity.flow import flow
from infra.capacity.inputs import GB, GIB
from infra.capacity.size import Inputs, Option, SizingError

# replace: dataclasses.replace that also copies the (pydantic) config models
from infra.config import StageSpec, replace
from infra.pricing.usage import HOURS_PER_MONTH

FINAL_STAGE = "scale-5x"
GP3_IOPS_STEP_GB = 400  # RDS gp3: 12,000 baseline IOPS from 400 GiB allocated
RDS_MAX_STORAGE_GB = 65_536  # RDS for PostgreSQL gp3 storage limit (64 TiB)
MAX_SHARDS = 500  # ElastiCache cluster mode: node groups per cluster (Redis OSS 5.0.6+)


@dataclass(frozen=True)
class Shortfall:
    tier: str
    measure: str
    unit: str
    load: float
    capacity: float
    runs_out_at: float  # the multiplier at which the headroom falls under the required
    required: float

    @property
    def needs(self) -> float:
        """Times the present capacity this load needs, headroom included."""
        return self.load / (self.capacity * (1 - self.required))


@dataclass(frozen=True)
class Remedy:
    tier: str
    kind: str
    detail: str
    monthly_usd: float | None  # the tier's monthly cost with the remedy; None: not priced
    now_usd: float  # the tier as scale-5x specifies it, priced the same way


@dataclass(frozen=True)
class RoadStep:
    multiplier: float
    origin_rps: float
    shortfalls: tuple[Shortfall, ...]  # first to run out first
    remedies: tuple[Remedy, ...]

    @property
    def first(self) -> Shortfall | None:
        return self.shortfalls[0] if self.shortfalls else None


def _checks_at(spec: StageSpec, inputs: Inputs, mult: float) -> list[TierCheck]:
    return sizing.model_checks(spec, sizing.at_multiplier(inputs.workload, mult), inputs)


def _headroom_at(spec: StageSpec, inputs: Inputs, mult: float, key: tuple[str, str]) -> float:
    for c in _checks_at(spec, inputs, mult):
        if (c.tier, c.measure) == key:
            h = c.headroom("target")
            return 1.0 if h is None else h
    raise KeyError(key)


def runs_out_at(
    spec: StageSpec, inputs: Inputs, key: tuple[str, str], upper: float, required: float
) -> float:
    """The least multiplier in [1, upper] where `key`'s headroom is under `required`
    (to 0.1%), by bisection: every load in the model grows with the multiplier."""
    lo, hi = 1.0, upper
    if _headroom_at(spec, inputs, lo, key) < required:
        return lo
    while hi / lo > 1.001:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if _headroom_at(spec, inputs, mid, key) < required else (mid, hi)
    return hi


# --- pricing the tier as it stands ---------------------------------------------------------


def _now_cost(tier: str, spec: StageSpec, inputs: Inputs, mult: float) -> float:
    """The tier as specified, priced as the sizer prices an option (at N x for a fleet)."""
    rules = sizing.rules_for(inputs.env, inputs.rates)
    if tier in {"app", "search"}:
        section = spec.web if tier == "app" else spec.search
        assert section is not None
        fl = flow(sizing.at_multiplier(inputs.workload, mult), inputs.observed, spec, "target")
        peak = fl.web_rps if tier == "app" else fl.search_rps
        plan = sizing.AsgPlan(  # only the fields asg_monthly prices by
            instance_type=section.instance_type,
            per_instance_rps=0.0,
            scale_target_rps=section.scale_target_rps,
            min_size=section.min_size,
            max_size=section.max_size,
            peak_instances=0,
            survivors=0,
            surge_instances=0,
        )
        return sizing.asg_monthly(plan, peak, inputs, section.root_volume_gb)[0]
    db, cache = spec.database, spec.cache
    if tier == "redis" and cache is not None:
        return (
            cache.node_count
            * sizing.hourly_usd(inputs, "elasticache", cache.node_type)
            * HOURS_PER_MONTH
        )
    if tier == "db-primary" and db is not None:
        return (
            sizing.hourly_usd(inputs, "rds", db.instance_class, multi_az=rules.multi_az)
            * HOURS_PER_MONTH
        )
    if tier == "db-replicas" and db is not None and db.replica_instance_class:
        return (
            db.read_replicas
            * sizing.hourly_usd(inputs, "rds", db.replica_instance_class)
            * HOURS_PER_MONTH
        )
    return 0.0


# --- remedies --------------------------------------------------------------------------------


def _options(tier: str, spec: StageSpec, inputs: Inputs, mult: float) -> list[Option]:
    rules = sizing.rules_for(inputs.env, inputs.rates)
    w = sizing.at_multiplier(inputs.workload, mult)
    if tier == "app":
        return sizing.size_asg("app", "web", spec, w, inputs, rules)
    if tier == "search":
        return sizing.size_asg("search", "search", spec, w, inputs, rules)
    if tier == "redis":
        return sizing.size_cache(spec, w, inputs, rules)
    if tier == "db-primary":
        return sizing.size_primary(spec, w, inputs, rules)
    if tier == "db-replicas":
        return sizing.size_replicas(spec, w, inputs, rules)
    return []


def _resize(tier: str, spec: StageSpec, inputs: Inputs, mult: float) -> Remedy | None:
    """The sizer's answer for one tier at `mult`, if any class meets every measure."""
    try:
        choice = sizing.choose(tier, tier, _options(tier, spec, inputs, mult), FINAL_STAGE)
    except SizingError:
        return None
    o = choice.chosen
    now = _now_cost(tier, spec, inputs, mult)
    if tier in {"app", "search"}:
        kind = "more instances"
        detail = (
            f"{o.cls}, min {o.fields['min_size']} max {o.fields['max_size']}, target "
            f"{o.fields['scale_target_rps']} rps per instance"
        )
    elif tier == "db-replicas":
        kind = "more replicas / bigger class"
        detail = f"{o.count} x {o.cls}"
    else:
        kind = "bigger class"
        detail = f"{o.count} x {o.cls}"
    return Remedy(tier, kind, detail, o.monthly_usd, now)


def _redis_cluster(spec: StageSpec, inputs: Inputs, mult: float, shorts: list[Shortfall]) -> Remedy:
    """Cluster mode: shards enough for the hot set (memory) and the ops (one thread each)."""
    rules = sizing.rules_for(inputs.env, inputs.rates)
    rates = inputs.rates
    by = {s.measure: s for s in shorts}
    checks = {c.measure: c for c in _checks_at(spec, inputs, mult) if c.tier == "redis"}
    hot_gb, ops = checks["hot set in memory"].load_target, checks["ops"].load_target
    per_shard = rules.min_spread  # a primary and, in prod, a replica in another AZ
    best: tuple[float, int, str] | None = None
    for cls in sizing.candidates("elasticache", inputs, rules):
        m = rates.machine(cls)
        usable = m.memory_gib * GIB * rates.redis_usable_share / GB
        thread = rates.redis_ops_per_node * m.baseline
        shards = max(
            math.ceil(hot_gb / (usable * (1 - rules.headroom))),
            math.ceil(ops / (thread * (1 - rules.headroom))),
            1,
        )
        usd = shards * per_shard * sizing.hourly_usd(inputs, "elasticache", cls) * HOURS_PER_MONTH
        if shards <= MAX_SHARDS and (best is None or usd < best[0]):
            best = (usd, shards, cls)
    now = _now_cost("redis", spec, inputs, mult)
    why = " and ".join(sorted(by))
    if best is None:
        return Remedy(
            "redis", "Redis cluster mode", f"more than {MAX_SHARDS} shards ({why})", None, now
        )
    usd, shards, cls = best
    return Remedy(
        "redis",
        "Redis cluster mode (sharded)",
        f"{shards} shards x {per_shard} x {cls} for {hot_gb:,.0f} GB hot set and "
        f"{ops:,.0f} ops/s ({why}); the service needs a cluster client",
        usd,
        now,
    )


def _primary(spec: StageSpec, inputs: Inputs, mult: float, shorts: list[Shortfall]) -> Remedy:
    """Storage for IOPS and room, then partitioning the write path by movie id."""
    db = spec.database
    assert db is not None
    now = _now_cost("db-primary", spec, inputs, mult)
    rules = sizing.rules_for(inputs.env, inputs.rates)
    row = inputs.prices.rows.get(f"rds.gp3.gb.{'multi' if rules.multi_az else 'single'}")
    gb_usd = float(row["usd"]) if row else 0.0
    data_gb = next(
        c.load_target
        for c in _checks_at(spec, inputs, mult)
        if (c.tier, c.measure) == ("db-primary", "storage")
    )
    ceiling = min(
        RDS_MAX_STORAGE_GB,
        max(db.max_allocated_storage_gb, math.ceil(data_gb / (1 - rules.headroom) * GB / GIB)),
    )
    allocated = max(db.allocated_storage_gb, GP3_IOPS_STEP_GB)
    grown = replace(
        spec, database=replace(db, allocated_storage_gb=allocated, max_allocated_storage_gb=ceiling)
    )
    storage_usd = (allocated - db.allocated_storage_gb) * gb_usd
    step = _resize("db-primary", grown, inputs, mult)
    if step is not None and step.monthly_usd is not None:
        return Remedy(
            "db-primary",
            "storage for IOPS, then a bigger class"
            if step.detail != f"1 x {db.instance_class}"
            else "storage for IOPS",
            f"{step.detail}, {allocated} GiB gp3 (12,000 baseline IOPS), "
            f"autoscaling to {ceiling} GiB",
            step.monthly_usd + storage_usd,
            now,
        )
    # Partition by movie id: k primaries each carry 1/k of the movies, writes and hot set,
    # which is the model's load at mult / k (searches stay on the replicas).
    for k in range(2, 1025):
        try:
            part = sizing.choose(
                "db-primary",
                "database",
                _options("db-primary", grown, inputs, mult / k),
                FINAL_STAGE,
            )
        except SizingError:
            continue
        o = part.chosen
        return Remedy(
            "db-primary",
            "partition the write path by movie id",
            f"{k} primaries x {o.cls} Multi-AZ, {allocated} GiB gp3 each; every partition "
            "needs its own replicas and the service a router by movie id",
            k * (o.monthly_usd + allocated * gb_usd),
            now,
        )
    return Remedy(
        "db-primary",
        "partition the write path by movie id",
        "more than 1,024 partitions",
        None,
        now,
    )


def _remedy(
    tier: str, spec: StageSpec, inputs: Inputs, mult: float, shorts: list[Shortfall]
) -> Remedy:
    if tier == "edge":
        return Remedy(
            "edge",
            "CloudFront quota increase",
            "the requests/s quota per distribution is adjustable on request",
            0.0,
            0.0,
        )
    found = _resize(tier, spec, inputs, mult)
    if found is not None:
        return found
    if tier == "redis":
        return _redis_cluster(spec, inputs, mult, shorts)
    if tier == "db-primary":
        return _primary(spec, inputs, mult, shorts)
    now = _now_cost(tier, spec, inputs, mult)
    measures = ", ".join(sorted({s.measure for s in shorts}))
    if tier == "db-replicas":
        return Remedy(
            tier,
            "reads off PostgreSQL",
            f"{measures}: {sizing.MAX_READ_REPLICAS} replicas of the largest class fall short; "
            "searches rank rows in proportion to rate x catalogue, so partitions would each "
            "still see every search: a search service is the remedy (not in the price table)",
            None,
            now,
        )
    return Remedy(tier, "redesign", f"{measures}: no class or count in the catalogue", None, now)


def road(inputs: Inputs, spec: StageSpec, multipliers: list[float]) -> list[RoadStep]:
    steps = []
    required = inputs.rates.required_headroom
    for mult in multipliers:
        checks = _checks_at(spec, inputs, mult)
        shorts = []
        for c in checks:
            h = c.headroom("target")
            if h is None or h >= required or c.capacity is None:
                continue
            at = runs_out_at(spec, inputs, (c.tier, c.measure), mult, required)
            shorts.append(
                Shortfall(c.tier, c.measure, c.unit, c.load_target, c.capacity, at, required)
            )
        shorts.sort(key=lambda s: (s.runs_out_at, -s.needs))
        tiers = list(dict.fromkeys(s.tier for s in shorts))
        remedies = [
            _remedy(t, spec, inputs, mult, [s for s in shorts if s.tier == t]) for t in tiers
        ]
        fl = flow(sizing.at_multiplier(inputs.workload, mult), inputs.observed, spec, "target")
        steps.append(RoadStep(mult, fl.origin_rps, tuple(shorts), tuple(remedies)))
    return steps


# --- the seeds' points, as multipliers ---------------------------------------------------------


def zipf_top_share(n: float, s: float) -> float:
    """The most popular of n keys' share of requests under Zipf(s): 1 / H(n, s).

    H by Euler-Maclaurin past an exact head (error far under 1e-6 for n >= 1,000)."""
    n = int(n)
    head = min(n, 1000)
    h = sum(k**-s for k in range(1, head + 1))
    if n > head:
        a, b = head, n
        integral = math.log(b / a) if s == 1 else (b ** (1 - s) - a ** (1 - s)) / (1 - s)
        h += integral + (b**-s - a**-s) / 2 - s * (b ** (-s - 1) - a ** (-s - 1)) / 12
    return 1 / h


@dataclass(frozen=True)
class Threshold:
    what: str
    multiplier: float | None  # None: not reached below the search bound
    detail: str


def _least(test, upper: float = 10_000.0) -> float | None:
    """The least multiplier in [1, upper] where `test` (monotone) turns true, to 0.1%."""
    if not test(upper):
        return None
    lo, hi = 1.0, upper
    if test(lo):
        return lo
    while hi / lo > 1.001:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if test(mid) else (mid, hi)
    return hi


def _tier_needs_more_than_a_class(
    tier: str, spec: StageSpec, inputs: Inputs
) -> Callable[[float], bool]:
    def test(mult: float) -> bool:
        try:
            sizing.choose(tier, tier, _options(tier, spec, inputs, mult), FINAL_STAGE)
        except SizingError:
            return True
        return False

    return test


def thresholds(inputs: Inputs, spec: StageSpec, key_zipf_s: float) -> list[Threshold]:
    """At what multiplier each of the seeds' bottlenecks past the cache becomes necessary."""
    rates, w = inputs.rates, inputs.workload
    required = rates.required_headroom
    found = []
    at = _least(_tier_needs_more_than_a_class("redis", spec, inputs))
    found.append(
        Threshold(
            "Redis cluster mode (sharding the cache)",
            at,
            "no single node in the catalogue holds the hot set or serves the ops with "
            f"{required:.0%} headroom",
        )
    )
    db = spec.database
    assert db is not None
    grown = replace(
        spec,
        database=replace(
            db,
            allocated_storage_gb=max(db.allocated_storage_gb, GP3_IOPS_STEP_GB),
            max_allocated_storage_gb=RDS_MAX_STORAGE_GB,
        ),
    )
    at = _least(_tier_needs_more_than_a_class("db-primary", grown, inputs))
    found.append(
        Threshold(
            "partitioning writes by movie id (sharding the primary)",
            at,
            "no RDS class in the catalogue carries the primary's writes, IOPS (at 400 GiB gp3) "
            "and hot set with the headroom, storage autoscaling to 64 TiB",
        )
    )

    def hot_key_ops(mult: float) -> float:
        wm = sizing.at_multiplier(w, mult)
        fl = flow(wm, inputs.observed, spec, "target")
        writes = fl.db_writes / max(w.db_statements_per_write, 1e-9)
        key_reads = max(fl.web_rps - writes, 0.0)
        return zipf_top_share(w.movies * mult, key_zipf_s) * key_reads

    thread = rates.redis_ops_per_node * (1 - required)
    at = _least(lambda m: hot_key_ops(m) >= thread, upper=100_000.0)
    share5 = zipf_top_share(w.movies * w.multiplier, key_zipf_s)
    found.append(
        Threshold(
            "a hot key outgrowing one Redis thread",
            at,
            f"the most popular movie takes {share5:.1%} of key reads at {w.multiplier:g}x "
            f"(Zipf s={key_zipf_s:g} over the catalogue); one thread serves "
            f"{rates.redis_ops_per_node:,.0f} GET/s and sharding cannot split one key",
        )
    )
    return found


# --- output ------------------------------------------------------------------------------------


def amount_text(value: float, unit: str) -> str:
    return sizing.amount_text(value, unit)


def _usd(value: float | None) -> str:
    return "not priced" if value is None else f"${value:,.0f}"


def headline(step: RoadStep) -> str:
    first = step.first
    if first is None:
        return f"{step.multiplier:g}x: every tier keeps its headroom"
    return (
        f"{step.multiplier:g}x ({step.origin_rps:,.0f} rps at the origin): first to run out is "
        f"{first.tier} {first.measure}, at {first.runs_out_at:.1f}x; at {step.multiplier:g}x it "
        f"needs {first.needs:.2f}x its capacity"
    )


def rows(step: RoadStep) -> list[list[str]]:
    """One row per shortfall, first to run out first; a tier's remedy on its first row."""
    remedies = {r.tier: r for r in step.remedies}
    out, seen = [], set()
    for s in step.shortfalls:
        r = remedies.get(s.tier) if s.tier not in seen else None
        seen.add(s.tier)
        out.append(
            [
                s.tier,
                s.measure,
                f"{s.runs_out_at:.1f}x",
                f"{amount_text(s.load, s.unit)} / {amount_text(s.capacity, s.unit)}",
                f"{s.needs:.2f}x",
                "" if r is None else f"{r.kind}: {r.detail}",
                "" if r is None else f"{_usd(r.monthly_usd)} (now {_usd(r.now_usd)})",
            ]
        )
    return out


HEADER = [
    "tier",
    "measure",
    "runs out at",
    "load / capacity",
    "needs",
    "remedy",
    "a month for the tier",
]


def markdown(steps: list[RoadStep], marks: list[Threshold]) -> str:
    lines = []
    for step in steps:
        lines += [f"**{headline(step)}**", ""]
        if step.shortfalls:
            lines += ["| " + " | ".join(HEADER) + " |", "|---" * len(HEADER) + "|"]
            lines += ["| " + " | ".join(r) + " |" for r in rows(step)]
            lines.append("")
    lines += ["| bottleneck | necessary from | why |", "|---|---|---|"]
    for m in marks:
        at = "beyond 10,000x" if m.multiplier is None else f"{m.multiplier:.0f}x"
        lines.append(f"| {m.what} | {at} | {m.detail} |")
    return "\n".join(lines)


def render(steps: list[RoadStep], marks: list[Threshold], console: object) -> None:
    from rich.table import Table

    for step in steps:
        table = Table(title=headline(step), title_justify="left")
        for col in HEADER:
            table.add_column(col, overflow="fold")
        for r in rows(step):
            table.add_row(*r)
        console.print(table)  # type: ignore[attr-defined]
    console.print("When the seeds' bottlenecks past the cache become necessary:")  # type: ignore[attr-defined]
    for m in marks:
        at = "beyond 10,000x" if m.multiplier is None else f"from {m.multiplier:.0f}x"
        console.print(f"  {m.what}: {at} ({m.detail})")  # type: ignore[attr-defined]
    console.print(  # type: ignore[attr-defined]
        "  a multi-region read path: not triggered by any figure here; the model has no input "
        "for distance to users (latency), only for load"
    )


def as_json(steps: list[RoadStep], marks: list[Threshold]) -> dict[str, object]:
    return {
        "steps": [
            {
                "multiplier": s.multiplier,
                "origin_rps": s.origin_rps,
                "shortfalls": [
                    {
                        "tier": f.tier,
                        "measure": f.measure,
                        "unit": f.unit,
                        "load": f.load,
                        "capacity": f.capacity,
                        "runs_out_at": f.runs_out_at,
                        "needs": f.needs,
                    }
                    for f in s.shortfalls
                ],
                "remedies": [
                    {
                        "tier": r.tier,
                        "kind": r.kind,
                        "detail": r.detail,
                        "monthly_usd": r.monthly_usd,
                        "now_usd": r.now_usd,
                    }
                    for r in s.remedies
                ],
            }
            for s in steps
        ],
        "thresholds": [
            {"what": m.what, "multiplier": m.multiplier, "detail": m.detail} for m in marks
        ],
    }


def main_scale(env: str, scales: list[str], out: str) -> int:
    """`python -m infra capacity --scale N [--scale M ...]`: the road for `env`'s last stage."""
    import json
    import sys

    from infra.capacity.inputs import ModelError
    from infra.config import ConfigError, load_stack_config

    try:
        mults = [sizing.parse_target(s) for s in scales]
        inputs = sizing.load_inputs(env)
        if env == "dev":
            raise SizingError("--scale: the road is a prod question; allowed: --env prod")
        spec = load_stack_config(env, FINAL_STAGE).stage
        steps = road(inputs, spec, mults)
        marks = thresholds(inputs, spec, inputs.workload.popularity_zipf_s)
    except (SizingError, ModelError, ConfigError) as exc:
        text = str(exc).replace("--target", "--scale", 1)
        print(f"error: {text}", file=sys.stderr)
        return 2
    if out == "json":
        print(json.dumps(as_json(steps, marks), indent=2))
    elif out == "markdown":
        print(markdown(steps, marks))
    else:
        from rich.console import Console

        render(steps, marks, Console(width=max(Console().width, 160)))
    return 0
