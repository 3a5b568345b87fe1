"""The capacity model: the load each tier of a stage sees, its capacity and its headroom.

For the report (and tests), `capacity_tables(env="prod", stages=None) -> list[StageCapacity]`
returns the same figures as data: each `StageCapacity` has `checks` (one `TierCheck` per
tier and measure, with `capacity`, `load_today`, `load_target`, `headroom(scale)` and a
`basis` string saying where the capacity comes from), `tier_headroom(scale)` (the tightest
check per tier) and `failing(scale)` (checks under the required headroom). `scale` is
"today" or "target" (5x). `model_sources()` lists where every per-unit figure came from.

Inputs: the workload (`assumptions/workload.yaml`), the per-unit capacities
(`assumptions/capacity.yaml`), the measured backend rates (`assumptions/measured.json`),
the pinned lab bench (`assumptions/lab-bench.json`, when present) and each stage's sizes
through `infra.config.load_stack_config`. Load is peak requests/s; headroom is 1 - load/capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from infra.capacity.flow import Flow, flow
from infra.capacity.inputs import (
    GB,
    GIB,
    SECONDS_PER_DAY,
    Observed,
    Rates,
    Scale,
    Workload,
    load_rates,
)
from infra.catalog import pg_default_max_connections
from infra.config import STAGES, StageSpec, load_stack_config


@dataclass(frozen=True)
class TierCheck:
    """One measure of one tier: its capacity and the load on it today and at target."""

    tier: str
    measure: str
    unit: str
    capacity: float | None  # None: elastic (no fixed ceiling)
    load_today: float
    load_target: float
    basis: str

    def load(self, scale: Scale) -> float:
        return self.load_target if scale == "target" else self.load_today

    def headroom(self, scale: Scale) -> float | None:
        if self.capacity is None:
            return None
        return 1 - self.load(scale) / self.capacity


@dataclass(frozen=True)
class StageCapacity:
    env: str
    stage: str
    checks: tuple[TierCheck, ...]
    required_headroom: float
    multiplier: float

    def failing(self, scale: Scale) -> list[TierCheck]:
        """Checks whose headroom is under the required margin (elastic tiers never fail)."""
        return [
            c
            for c in self.checks
            if (h := c.headroom(scale)) is not None and h < self.required_headroom
        ]

    def tier_headroom(self, scale: Scale) -> dict[str, float | None]:
        """The tightest headroom per tier (None when every measure of it is elastic)."""
        out: dict[str, float | None] = {}
        for c in self.checks:
            h = c.headroom(scale)
            prev = out.get(c.tier)
            out[c.tier] = h if prev is None else (prev if h is None else min(prev, h))
        return out


def _asg_checks(
    tier: str,
    spec: Any,
    rates: Rates,
    loads: tuple[float, float],
    search_share: tuple[float, float],
) -> list[TierCheck]:
    m = rates.machine(spec.instance_type)
    cost = 1 + (rates.search_app_cost - 1) * search_share[1]
    per_instance = m.sustained_vcpus * rates.app_rps_per_vcpu / cost
    burst = f" x {m.baseline:.0%} baseline" if m.baseline < 1 else ""
    return [
        TierCheck(
            tier,
            "cpu",
            "rps",
            spec.max_size * per_instance,
            *loads,
            f"max {spec.max_size} x {spec.instance_type} ({m.vcpus:g} vCPU{burst}) x "
            f"{rates.app_rps_per_vcpu:,.0f} rps/vCPU"
            + (f" / {cost:.2f} (search mix)" if cost > 1 else ""),
        ),
        TierCheck(
            tier,
            "scaling ceiling",
            "rps",
            float(spec.max_size * spec.scale_target_rps),
            *loads,
            f"max {spec.max_size} x target {spec.scale_target_rps} rps per instance",
        ),
    ]


def db_cpu_seconds(rates: Rates, fl: Flow, *, reads: float, replay: bool = False) -> float:
    """vCPU-seconds per second the DB spends on a `reads` share of the reads, plus writes."""
    read_s = (
        fl.db_point_reads * rates.db_point_read_s
        + fl.db_searches * rates.db_search_s(fl.db_search_matches)
    ) * reads
    write_s = fl.db_writes * rates.db_write_s * (rates.replay_cost_factor if replay else 1)
    return read_s + write_s


def stage_capacity(
    env: str,
    stage_name: str,
    w: Workload | None = None,
    rates: Rates | None = None,
    obs: Observed | None = None,
) -> StageCapacity:
    if w is None:
        w = Workload.load()
    if rates is None or obs is None:
        rates, obs = load_rates()
    stage = load_stack_config(env, stage_name).stage
    checks = stage_checks(stage, w, rates, obs)
    return StageCapacity(env, stage.name, tuple(checks), rates.required_headroom, w.multiplier)


def stage_checks(stage: StageSpec, w: Workload, rates: Rates, obs: Observed) -> list[TierCheck]:
    """Every tier's checks for a stage spec as given (the sizer passes candidate specs)."""
    today, target = flow(w, obs, stage, "today"), flow(w, obs, stage, "target")
    both = (today, target)

    def pair(attr: str) -> tuple[float, float]:
        return (getattr(today, attr), getattr(target, attr))

    checks: list[TierCheck] = []
    if stage.edge is not None:
        checks.append(
            TierCheck(
                "edge",
                "requests",
                "rps",
                rates.cloudfront_rps,
                *pair("cdn_rps"),
                rates.sources.get("cloudfront", ""),
            )
        )
    if stage.web is not None:
        checks.append(
            TierCheck(
                "alb", "requests", "rps", None, *pair("origin_rps"), rates.sources.get("alb", "")
            )
        )
        checks += _asg_checks("app", stage.web, rates, pair("web_rps"), pair("web_search_share"))
    if stage.search is not None:
        checks += _asg_checks("search", stage.search, rates, pair("search_rps"), (1.0, 1.0))
    if stage.single_box is not None:
        checks += _box_checks(stage, rates, both, w)
    if stage.cache is not None:
        checks += _redis_checks(stage, rates, both)
    if stage.database is not None:
        checks += _db_checks(stage, rates, both, w, obs)
        checks += connection_checks(stage, rates)
    return checks


def max_connections(rates: Rates, db_class: str) -> float:
    """RDS's default max_connections for the class (infra.catalog has the formula)."""
    return float(pg_default_max_connections(rates.machine(db_class).memory_gib))


def fleet_connections(stage: StageSpec, rates: Rates) -> tuple[float, str]:
    """The most connections the app fleet may open to one DB endpoint: each instance runs
    one worker per vCPU (the boot script sets MOVIES_WORKERS to nproc), each with a pool of
    up to `db_pool_per_worker` connections per endpoint; ASGs count at max_size."""
    pool = rates.db_pool_per_worker
    total, parts = 0.0, []
    for name, tier in (("web", stage.web), ("search", stage.search)):
        if tier is not None:
            vcpus = rates.machine(tier.instance_type).vcpus
            total += tier.max_size * vcpus * pool
            parts.append(f"{name} max {tier.max_size} x {vcpus:g} workers")
    if stage.single_box is not None:
        vcpus = rates.machine(stage.single_box.instance_type).vcpus
        total += vcpus * pool
        parts.append(f"box {vcpus:g} workers")
    return total, f"{' + '.join(parts)} x {pool:g} pooled connections"


def connection_checks(stage: StageSpec, rates: Rates) -> list[TierCheck]:
    db = stage.database
    if db is None:
        return []
    fleet, how = fleet_connections(stage, rates)
    checks = [
        TierCheck(
            "db-primary",
            "connections",
            "conns",
            max_connections(rates, db.instance_class),
            fleet,
            fleet,
            f"max_connections default of {db.instance_class}; {how}",
        )
    ]
    if db.read_replicas and db.replica_instance_class:
        # One reader name over every replica: DNS may hand every pool the same replica.
        checks.append(
            TierCheck(
                "db-replicas",
                "connections",
                "conns",
                max_connections(rates, db.replica_instance_class),
                fleet,
                fleet,
                f"max_connections default of {db.replica_instance_class}; {how}, all of "
                "which may resolve to one replica",
            )
        )
    return checks


def _box_checks(
    stage: StageSpec, rates: Rates, both: tuple[Flow, Flow], w: Workload
) -> list[TierCheck]:
    box = stage.single_box
    assert box is not None
    m = rates.machine(box.instance_type)
    name = f"{box.instance_type} ({m.vcpus:g} vCPU)"

    def app_s(fl: Flow) -> float:
        cost = 1 + (rates.search_app_cost - 1) * fl.web_search_share
        return fl.web_rps * cost / rates.app_rps_per_vcpu

    if stage.database is not None:  # split-db: the box runs the API only
        cost = 1 + (rates.search_app_cost - 1) * both[1].web_search_share
        return [
            TierCheck(
                "app",
                "cpu",
                "rps",
                m.sustained_vcpus * rates.app_rps_per_vcpu / cost,
                both[0].web_rps,
                both[1].web_rps,
                f"1 x {name}, API only, {rates.app_rps_per_vcpu:,.0f} rps/vCPU"
                + (f" / {cost:.2f} (search mix)" if cost > 1 else ""),
            )
        ]

    # single-box: the API and PostgreSQL share the box's vCPUs, memory and volume.
    def cpu(fl: Flow) -> float:
        return app_s(fl) + db_cpu_seconds(rates, fl, reads=1.0)

    cache_bytes = m.memory_gib * GIB * rates.db_cache_memory_share
    return [
        TierCheck(
            "box",
            "cpu (API + DB)",
            "vCPU",
            m.sustained_vcpus,
            cpu(both[0]),
            cpu(both[1]),
            f"1 x {name}; API {rates.app_rps_per_vcpu:,.0f} rps/vCPU + DB per query",
        ),
        TierCheck(
            "box",
            "DB hot set in memory",
            "GB",
            cache_bytes / GB,
            both[0].db_hot_bytes / GB,
            both[1].db_hot_bytes / GB,
            f"{rates.db_cache_memory_share:.0%} of {m.memory_gib:g} GiB",
        ),
        TierCheck(
            "box",
            "storage",
            "GB",
            float(box.root_volume_gb) * GIB / GB,
            both[0].db_data_bytes / GB,
            both[1].db_data_bytes / GB,
            f"root gp3 volume {box.root_volume_gb} GiB",
        ),
        TierCheck(
            "box",
            "write IOPS",
            "IOPS",
            rates.gp3_iops,
            both[0].db_writes * rates.iops_per_write,
            both[1].db_writes * rates.iops_per_write,
            f"gp3 baseline; {rates.iops_per_write:g} I/Os per write",
        ),
    ]


def _redis_checks(stage: StageSpec, rates: Rates, both: tuple[Flow, Flow]) -> list[TierCheck]:
    cache_spec = stage.cache
    assert cache_spec is not None
    m = rates.machine(cache_spec.node_type)
    ops = rates.redis_ops_per_node * m.baseline * rates.redis_nodes_serving
    usable = m.memory_gib * GIB * rates.redis_usable_share / GB
    burst = f" x {m.baseline:.0%} baseline" if m.baseline < 1 else ""
    return [
        TierCheck(
            "redis",
            "ops",
            "ops/s",
            ops,
            both[0].redis_ops,
            both[1].redis_ops,
            f"primary {cache_spec.node_type}{burst} at the measured one-thread "
            "GET rate (redis source)",
        ),
        TierCheck(
            "redis",
            "hot set in memory",
            "GB",
            usable,
            both[0].redis_hot_bytes / GB,
            both[1].redis_hot_bytes / GB,
            f"{cache_spec.node_type} {m.memory_gib:g} GiB x "
            f"{rates.redis_usable_share:.0%} (reserved-memory-percent); hot movies + "
            "search pages alive",
        ),
    ]


def _db_checks(
    stage: StageSpec, rates: Rates, both: tuple[Flow, Flow], w: Workload, obs: Observed
) -> list[TierCheck]:
    db = stage.database
    assert db is not None
    m = rates.machine(db.instance_class)
    replicas = db.read_replicas
    share = obs.replica_read_share if obs.replica_read_share is not None else w.replica_read_share
    to_replicas = share if replicas else 0.0
    cache_gb = m.memory_gib * GIB * rates.db_cache_memory_share / GB
    iops = rates.gp3_iops_large if db.allocated_storage_gb >= 400 else rates.gp3_iops
    name = f"{db.instance_class} ({m.vcpus:g} vCPU)"

    def primary_cpu(fl: Flow) -> float:
        return db_cpu_seconds(rates, fl, reads=1 - to_replicas)

    checks = [
        TierCheck(
            "db-primary",
            "cpu (reads + writes)",
            "vCPU",
            m.sustained_vcpus,
            primary_cpu(both[0]),
            primary_cpu(both[1]),
            f"{name}; {1 - to_replicas:.0%} of DB reads + writes at measured "
            "per-query costs (db_* sources)",
        ),
        TierCheck(
            "db-primary",
            "hot set in memory",
            "GB",
            cache_gb,
            both[0].db_hot_bytes / GB,
            both[1].db_hot_bytes / GB,
            f"{rates.db_cache_memory_share:.0%} of {m.memory_gib:g} GiB "
            "(effective_cache_size default)",
        ),
        TierCheck(
            "db-primary",
            "write IOPS",
            "IOPS",
            iops,
            both[0].db_writes * rates.iops_per_write,
            both[1].db_writes * rates.iops_per_write,
            f"gp3 baseline at {db.allocated_storage_gb} GiB; "
            f"{rates.iops_per_write:g} I/Os per write",
        ),
        TierCheck(
            "db-primary",
            "storage",
            "GB",
            db.max_allocated_storage_gb * GIB / GB,
            both[0].db_data_bytes / GB,
            both[1].db_data_bytes / GB,
            f"storage autoscaling up to {db.max_allocated_storage_gb} GiB",
        ),
    ]
    if replicas and db.replica_instance_class:
        r = rates.machine(db.replica_instance_class)

        def replica_cpu(fl: Flow) -> float:
            return db_cpu_seconds(rates, fl, reads=to_replicas / replicas, replay=True)

        checks += [
            TierCheck(
                "db-replicas",
                "cpu per replica",
                "vCPU",
                r.sustained_vcpus,
                replica_cpu(both[0]),
                replica_cpu(both[1]),
                f"{replicas} x {db.replica_instance_class} ({r.vcpus:g} vCPU), "
                f"{to_replicas:.0%} of DB reads + WAL replay",
            ),
            TierCheck(
                "db-replicas",
                "hot set in memory",
                "GB",
                r.memory_gib * GIB * rates.db_cache_memory_share / GB,
                both[0].db_hot_bytes / GB,
                both[1].db_hot_bytes / GB,
                f"{rates.db_cache_memory_share:.0%} of {r.memory_gib:g} GiB per replica",
            ),
        ]
    return checks


@cache
def model_inputs() -> tuple[Workload, Rates, Observed]:
    """The workload, the per-unit rates and the lab's observed ratios (read once)."""
    rates, obs = load_rates()
    return Workload.load(), rates, obs


def capacity_tables(env: str = "prod", stages: list[str] | None = None) -> list[StageCapacity]:
    """Every stage's (or the given stages') capacity in `env`, in stage order."""
    w, rates, obs = model_inputs()
    return [stage_capacity(env, s, w, rates, obs) for s in (stages or list(STAGES))]


@dataclass(frozen=True)
class CrossCheck:
    stage: str
    model: float  # DB reads per API request the model predicts (the bench's denominator)
    measured: float  # what the lab bench counted


def cross_checks() -> list[CrossCheck]:
    """The model's DB reads per API request next to the bench's, per benched stage (today)."""
    w, _, obs = model_inputs()
    checks = []
    for stage, measured in obs.db_reads_per_request.items():
        if stage not in STAGES:
            continue
        fl = flow(w, obs, load_stack_config("prod", stage).stage, "today")
        rps = w.hits_per_day / SECONDS_PER_DAY * w.peak_factor
        model = (fl.db_point_reads + fl.db_searches) / rps
        checks.append(CrossCheck(stage, model, measured))
    return checks


def model_sources() -> dict[str, str]:
    """Where each per-unit figure came from (measured file, AWS doc or assumption)."""
    _, rates, _ = model_inputs()
    return dict(rates.sources)
