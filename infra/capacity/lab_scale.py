"""The capacity model at the lab's scale: each stage's saturation rate and bottleneck tier
when every tier has `lab_cpu_per_vcpu` x its spec vCPUs of CPU (the lab's budgets).

Each tier's CPU-seconds per API request come from the model's own flow (infra/capacity/flow.py
`flow`: what share of requests reach the app, the DB, Redis) and per-unit rates (the app's
requests per vCPU, pgbench's per-query costs, redis-benchmark's GET rate), with the lab's
workload shape put in: its catalogue size, and the hit ratios the lab measured at steady
state (how many requests miss a cache is the workload's, not a capacity). A tier's CPU runs out
at budget / cost per request; the stage saturates at the lowest of its tiers (its
bottleneck). That ceiling is the prediction: the lab's saturation (p99 <= 100 ms, errors
<= 0.1%) sits at or under it, and the bottleneck's busy share at the lab's failing rate
says how far under (lab/results/saturation.json `bottleneck_busy`).

The lab's own tier CPU per request (cgroup CPU time / requests) is not an input: it is
what the prediction is checked against (lab/results/saturation.json)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.capacity.checks import db_cpu_seconds, model_inputs
from infra.capacity.flow import Flow, flow
from infra.capacity.inputs import SECONDS_PER_DAY, Observed, Rates, Workload
from infra.config import load_stack_config
from infra.tokens import ResourceType

# Tiers with no fixed CPU in AWS: the lab measures them but gives them no budget.
ELASTIC = ("alb", "edge")

# How big the lab runs each auto-scaled fleet (web, search): "ceiling", the group's
# max_size as planned (where target tracking stops scaling out: the stage's ceiling, issue
# 23), or "min", its desired capacity at rest (the lab's mode before issue 23).
FLEETS = ("ceiling", "min")
ASG_TYPE = ResourceType.AUTOSCALING_GROUP
ASG_SUFFIX = "-asg"  # infra/program/components/web_tier.py names each group f"{role}-asg"


class FleetError(ValueError):
    """A fleet mode or a plan the lab cannot size fleets from; the message is one line."""


def plan_group_sizes(plan: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """role ("web", "search") -> {"min", "desired", "max"} of each planned auto-scaling
    group: the plan's `minSize`, `desiredCapacity`, `maxSize` inputs (what `pulumi up`
    would send; infra/plans/build.py writes them)."""
    out: dict[str, dict[str, int]] = {}
    for r in plan.get("resources", []):
        if r.get("type") != ASG_TYPE:
            continue
        name = str(r.get("name", ""))
        if not name.endswith(ASG_SUFFIX):
            raise FleetError(
                f"plan {plan.get('env')}/{plan.get('stage')}: auto-scaling group {name!r} is "
                f"not named ROLE{ASG_SUFFIX}; allowed: web{ASG_SUFFIX}, search{ASG_SUFFIX}"
            )
        inputs = r.get("inputs") or {}
        out[name.removesuffix(ASG_SUFFIX)] = {
            "min": int(inputs["minSize"]),
            "desired": int(inputs.get("desiredCapacity") or inputs["minSize"]),
            "max": int(inputs["maxSize"]),
        }
    return out


@functools.lru_cache(maxsize=64)
def _planned_sizes(env: str, stage: str) -> tuple[tuple[str, int, int, int], ...]:
    # Imported here: planning a stale stack runs the program under the mocks (seconds).
    from infra.plans.build import load_or_build

    sizes = plan_group_sizes(load_or_build(f"{env}/{stage}"))
    return tuple((role, s["min"], s["desired"], s["max"]) for role, s in sorted(sizes.items()))


def fleet_instances(
    stage: str, env: str, fleet: str, plan: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """Instances per auto-scaled fleet ("web", "search") the lab and the model run for
    `stage`: at "ceiling" the group's planned max_size, at "min" its desired capacity.
    Read from `plan` (a plan dict) or the stack's plan file (built when missing or stale),
    never from a copy of the numbers: the sizer owns max_size. Stages without a group
    (single-box, split-db) have none."""
    if fleet not in FLEETS:
        raise FleetError(f"fleet: unknown {fleet!r}; allowed: {', '.join(FLEETS)}")
    spec = load_stack_config(env, stage).stage
    roles = {r for r, t in (("web", spec.web), ("search", spec.search)) if t is not None}
    if plan is not None:
        sizes = plan_group_sizes(plan)
    elif roles:
        sizes = {r: {"min": a, "desired": d, "max": m} for r, a, d, m in _planned_sizes(env, stage)}
    else:
        sizes = {}  # no auto-scaled fleet: nothing to plan for
    if set(sizes) != roles:
        raise FleetError(
            f"plan {env}/{stage}: auto-scaling groups {sorted(sizes)} do not match the stage "
            f"spec's fleets {sorted(roles)}; run `python -m infra plan --env {env} --stage {stage}`"
        )
    return {role: s["max" if fleet == "ceiling" else "desired"] for role, s in sizes.items()}


@dataclass(frozen=True)
class TierVcpus:
    tier: str
    vcpus: float | None  # None: elastic
    basis: str


def tier_vcpus(
    stage: str,
    env: str,
    rates: Rates,
    replicas_run: int | None = None,
    fleet: Mapping[str, int] | None = None,
) -> list[TierVcpus]:
    """The tiers of a stage with the vCPUs the spec gives each (the lab budgets these).

    `fleet`: instances per auto-scaled fleet (`fleet_instances`); without it, the spec's
    desired capacity."""
    spec = load_stack_config(env, stage).stage
    fleet = fleet or {}
    out: list[TierVcpus] = []
    if spec.single_box is not None:
        kind = spec.single_box.instance_type
        n = rates.machine(kind).vcpus
        if spec.database is None:
            out.append(TierVcpus("box", n, f"1 x {kind} ({n:g} vCPU), API + PostgreSQL"))
        else:
            out.append(TierVcpus("app", n, f"1 x {kind} ({n:g} vCPU), API only"))
    if spec.web is not None:
        n = rates.machine(spec.web.instance_type).vcpus
        c, how = _count(fleet, "web", spec.web.desired_capacity)
        out.append(TierVcpus("app", c * n, f"{how} {c} x {spec.web.instance_type} ({n:g} vCPU)"))
        out.append(TierVcpus("alb", None, "ALB: elastic, not budgeted"))
    if spec.search is not None:
        n = rates.machine(spec.search.instance_type).vcpus
        c, how = _count(fleet, "search", spec.search.desired_capacity)
        out.append(
            TierVcpus("search", c * n, f"{how} {c} x {spec.search.instance_type} ({n:g} vCPU)")
        )
    if spec.database is not None:
        db = spec.database
        n = rates.machine(db.instance_class).vcpus
        out.append(TierVcpus("db-primary", n, f"{db.instance_class} ({n:g} vCPU)"))
        count = db.read_replicas if replicas_run is None else replicas_run
        if count and db.replica_instance_class:
            r = rates.machine(db.replica_instance_class).vcpus
            for i in range(1, count + 1):
                out.append(
                    TierVcpus(f"db-replica{i}", r, f"{db.replica_instance_class} ({r:g} vCPU)")
                )
    if spec.cache is not None:
        n = rates.machine(spec.cache.node_type).vcpus
        # The service sends every command to the primary node; replicas stand by.
        out.append(TierVcpus("redis", n, f"primary {spec.cache.node_type} ({n:g} vCPU)"))
    if spec.edge is not None:
        out.append(TierVcpus("edge", None, "CloudFront + S3: elastic, not budgeted"))
    return out


def _count(fleet: Mapping[str, int], role: str, desired: int) -> tuple[int, str]:
    if role in fleet:
        return fleet[role], "fleet"
    return desired, "desired"


@dataclass(frozen=True)
class LabWorkload:
    """What the lab's load looks like where it differs from the AWS workload."""

    movies: int
    # measured at steady state, key reads, by the service (behind the edge where one is)
    cache_hit_ratio: float | None = None
    search_cache_hit_ratio: float | None = None  # measured at steady state, searches
    edge_hit_ratio: float | None = None  # measured at steady state, anonymous requests
    replica_read_share: float | None = None
    search_matches: float | None = None  # rows a lab search matches, on average
    # API requests that reached the API processes per request sent (their own counters):
    # at an edge stage it also counts the CDN's refreshes of stale entries, which the
    # answers' cache status counts as hits. Where measured, the share of requests the edge
    # took off the origin comes from it (`edge_absorbed`), not from edge_hit_ratio.
    origin_share: float | None = None


def edge_absorbed(lab: LabWorkload, w: Workload) -> float | None:
    """The edge hit ratio flow() takes (of cacheable requests, `w.cacheable_share` of
    all): from the origin's own request count where the lab measured it, flow()'s
    origin = 1 - cacheable x hit solved for the hit; else the answers' cache status."""
    if lab.origin_share is None or lab.edge_hit_ratio is None:
        return lab.edge_hit_ratio
    return min(1.0, max(0.0, (1 - lab.origin_share) / w.cacheable_share))


def before_edge_hit_ratio(at_service: float, w: Workload, edge_hit: float) -> float:
    """The key-read hit ratio flow() takes (of all reads, before the edge) from the one the
    lab measures at a stage with an edge (of the lookups that reach the service).

    flow() counts Redis misses on the traffic before the edge, because what the edge answers
    are hot objects Redis would have answered too. The lab's ratio is the service's: of the
    reads the edge let through. The misses are the same; only the denominator differs. Read
    as a before-the-edge ratio it would count the misses once per read the edge absorbed too
    (edge at 73%: twice the misses, and twice the app's dear miss path)."""
    reaching = max(0.0, 1 - w.cacheable_share * edge_hit / w.read_share)  # as flow() counts
    return 1 - (1 - at_service) * reaching


def origin_hit_share(w: Workload, fl: Flow, rps: float) -> float:
    """Share of the reads reaching the app that Redis answers, in the model's flow: what the
    edge absorbs are hits Redis would have served too (flow() counts misses before the
    edge), so behind an edge fewer of the remaining reads hit."""
    reads = fl.origin_rps - rps * (1 - w.read_share)
    if reads <= 0:
        return 0.0
    return max(0.0, 1 - (fl.db_point_reads + fl.db_searches) / reads)


def _plain_request_s(rates: Rates, w: Workload, fl: Flow, rps: float, *, cached: bool) -> float:
    """CPU-seconds of the API per plain (non-search) request that reaches it, by the path
    requests take (infra/capacity/app_paths.py); one cost for every path while the bench
    has no per-path figures."""
    paths = rates.app_paths
    if paths is None:
        return 1 / rates.app_rps_per_vcpu
    ms = paths.cached_ms(origin_hit_share(w, fl, rps)) if cached else paths.no_cache_ms
    # The bench's figures are per request of the lab's mix, `search_share` of them searches
    # at `search_app_cost` each.
    return ms / 1000 / (1 + (rates.search_app_cost - 1) * w.search_share)


def tier_costs(
    stage: str,
    env: str,
    lab: LabWorkload,
    w: Workload,
    rates: Rates,
    obs: Observed,
    replicas: int,
) -> dict[str, float]:
    """CPU-seconds (of one lab CPU = one vCPU) each budgeted tier spends per API request."""
    spec = load_stack_config(env, stage).stage
    lab_w = w.model_copy(update={"movies": float(lab.movies)})
    key_hit = lab.cache_hit_ratio
    edge_hit = edge_absorbed(lab, w) if spec.edge is not None else lab.edge_hit_ratio
    if spec.edge is not None and key_hit is not None and edge_hit is not None:
        key_hit = before_edge_hit_ratio(key_hit, w, edge_hit)
    lab_obs = dataclasses.replace(
        obs,
        cache_hit_ratio=key_hit,
        search_cache_hit_ratio=None,
        edge_hit_ratio=edge_hit,
        replica_read_share=lab.replica_read_share,
    )
    fl = flow(lab_w, lab_obs, spec, "today")
    rps = w.hits_per_day / SECONDS_PER_DAY * w.peak_factor  # flow's request rate, "today"
    if lab.search_matches is not None:
        fl = dataclasses.replace(fl, db_search_matches=lab.search_matches)
    if spec.cache is not None and lab.search_cache_hit_ratio is not None:
        # flow() lets a lab figure only lower its derived search hit ratio (the lab draws
        # from 42 terms); at the lab's own scale the lab's ratio is the workload's.
        all_reads, all_searches = rps * w.read_share, rps * w.search_share
        absorbed = rps * w.cacheable_share * (edge_hit or 0.0) if spec.edge is not None else 0.0
        searches = all_searches * (all_reads - absorbed) / all_reads  # as flow() counts them
        fl = dataclasses.replace(
            fl, db_searches=min(all_searches * (1 - lab.search_cache_hit_ratio), searches)
        )
    cost = 1 + (rates.search_app_cost - 1) * fl.web_search_share
    plain_s = _plain_request_s(rates, w, fl, rps, cached=spec.cache is not None)
    app = fl.web_rps * cost * plain_s / rps
    out: dict[str, float] = {}
    db_share = 1.0
    if spec.database is not None and replicas:
        share = lab.replica_read_share
        if share is None:
            share = (
                obs.replica_read_share
                if obs.replica_read_share is not None
                else w.replica_read_share
            )
        db_share = 1 - share
        for i in range(1, replicas + 1):
            out[f"db-replica{i}"] = (
                db_cpu_seconds(rates, fl, reads=share / replicas, replay=True) / rps
            )
    db = db_cpu_seconds(rates, fl, reads=db_share) / rps
    if spec.search is not None:
        # scale-5x: the ALB sends searches to their own ASG; flow() counts them apart.
        out["search"] = fl.search_rps * rates.search_app_cost * plain_s / rps
    if spec.single_box is not None and spec.database is None:
        out["box"] = app + db
    else:
        out["app"] = app
        out["db-primary"] = db
    if spec.cache is not None:
        out["redis"] = fl.redis_ops / rates.redis_ops_per_node / rps
    return out


def predict(
    stage: str,
    env: str,
    lab_cpu_per_vcpu: float,
    lab: LabWorkload,
    replicas_run: int | None = None,
    inputs: tuple[Workload, Rates, Observed] | None = None,
    fleet: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The model's saturation rate (API requests/s) and bottleneck tier at the lab's budgets,
    with the auto-scaled fleets at `fleet` instances (`fleet_instances`: the same sizes the
    lab runs; default the spec's desired capacity)."""
    w, rates, obs = inputs or model_inputs()
    tiers = tier_vcpus(stage, env, rates, replicas_run, fleet)
    replicas = sum(1 for t in tiers if t.tier.startswith("db-replica"))
    costs = tier_costs(stage, env, lab, w, rates, obs, replicas)
    detail: dict[str, Mapping[str, float | str | None]] = {}
    for t in tiers:
        if t.vcpus is None or t.tier not in costs:
            continue
        budget = t.vcpus * lab_cpu_per_vcpu
        per_request = costs[t.tier]
        detail[t.tier] = {
            "budget_cpus": round(budget, 4),
            "cpu_ms_per_request": round(per_request * 1000, 4),
            "capacity_rps": round(budget / per_request, 1) if per_request > 0 else None,
        }
    limited = {k: v["capacity_rps"] for k, v in detail.items() if v["capacity_rps"]}
    bottleneck = min(limited, key=lambda k: limited[k]) if limited else None
    ceiling = limited[bottleneck] if bottleneck else None
    return {
        "rps": ceiling,
        # At the capacity model's required 30% headroom (how it plans AWS tiers).
        "at_required_headroom_rps": (
            round(ceiling * (1 - rates.required_headroom), 1) if ceiling else None
        ),
        "bottleneck": bottleneck,
        "fleet": dict(fleet or {}),
        "tiers": detail,
        "basis": {
            "app_rps_per_vcpu": round(rates.app_rps_per_vcpu, 1),
            "app_source": rates.app_paths.source
            if rates.app_paths is not None
            else rates.sources.get("app"),
            "db_point_read_ms": round(rates.db_point_read_s * 1000, 4),
            "db_write_ms": round(rates.db_write_s * 1000, 4),
            "redis_ops_per_cpu_s": round(rates.redis_ops_per_node),
            "lab_workload": dataclasses.asdict(lab),
        },
    }
