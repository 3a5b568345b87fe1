"""`python -m infra cost [ENV/STAGE ...]`: monthly cost per stack from the price table.

Sizes (instance types, node types, counts, storage) are read from the planned resources'
inputs; prices from ``assumptions/prices.yaml`` (each with source and date); traffic from
``assumptions/workload.yaml`` and the cost-only assumptions in ``assumptions/usage.yaml``.
Every cost line names the price row it uses. A resource type that is neither priced here
nor listed as free in the price table is an error naming the type.

Scenarios: prod is priced at today's traffic (15M hits a day) and at the target (5x);
dev at a small fixed test load (``dev_hits_per_day``), the same in both columns.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import ASSUMPTIONS_DIR
from infra.capacity.inputs import WORKLOAD_FILE, ModelError, Workload
from infra.config import ENVIRONMENTS as ENVS
from infra.config import STAGES
from infra.plans.build import load_or_build
from infra.plans.index import PlanIndex, inp
from infra.plans.load import PlanRefError
from infra.plans.preview import SECRET, UNKNOWN
from infra.yamlfile import YamlError, load_yaml

PRICES = ASSUMPTIONS_DIR / "prices.yaml"
USAGE = ASSUMPTIONS_DIR / "usage.yaml"
GB = 1e9


class CostError(ValueError):
    """A plan the cost model cannot price; the message is one line naming what is missing."""


# ------------------------------------------------- values a real preview does not know yet


class UnpricedValue(Exception):
    """A pricer read a value the engine does not know yet, or a secret."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


def _check(value: Any, path: str) -> Any:
    if value == UNKNOWN:
        raise UnpricedValue(path, "known only after apply")
    if value == SECRET:
        raise UnpricedValue(path, "a secret")
    if isinstance(value, dict):
        return _Guarded(value, path)
    if isinstance(value, list):
        return _GuardedList(value, path)
    return value


class _Guarded(Mapping[str, Any]):
    """Read-only view of a resource's inputs or outputs that raises ``UnpricedValue`` when
    a pricer touches an unknown or secret value, so nothing is priced as if it were known
    (plan files hold no unknowns, and no pricer reads a secret: they price as before)."""

    def __init__(self, target: dict[str, Any], path: str) -> None:
        self._target, self._path = target, path

    def __getitem__(self, key: str) -> Any:
        return _check(self._target[key], f"{self._path}.{key}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._target)

    def __len__(self) -> int:
        return len(self._target)

    def raw(self, key: str) -> Any:
        return self._target.get(key)


class _GuardedList(Sequence[Any]):
    def __init__(self, target: list[Any], path: str) -> None:
        self._target, self._path = target, path

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._target)))]
        return _check(self._target[index], f"{self._path}[{index}]")

    def __len__(self) -> int:
        return len(self._target)


def _guarded(r: dict) -> dict:
    return {
        **r,
        "inputs": _Guarded(r.get("inputs") or {}, f"{r['name']}.inputs"),
        "outputs": _Guarded(r.get("outputs") or {}, f"{r['name']}.outputs"),
    }


def _known(mapping: Any, key: str) -> Any:
    """A value for matching only: None when unknown or secret (it names nothing yet)."""
    value = mapping.raw(key) if isinstance(mapping, _Guarded) else (mapping or {}).get(key)
    return None if value in (UNKNOWN, SECRET) else value


def _depends_on(r: dict, other: dict) -> bool:
    """The engine's dependency edge: a fact even when the linking value is unknown."""
    return other["urn"] in (r.get("dependencies") or [])


# ------------------------------------------------------------------------ price table


@dataclass(frozen=True)
class PriceTable:
    rows: dict[str, dict[str, Any]]
    free: dict[str, str]

    def row(self, row_id: str, why: str) -> dict[str, Any]:
        if row_id not in self.rows:
            raise CostError(f"no price row {row_id!r} in {PRICES.name} (needed for {why})")
        return self.rows[row_id]

    def charge(self, row_id: str, quantity: float, why: str) -> tuple[float, str]:
        """Monthly USD for ``quantity`` units of a row, and the arithmetic as text."""
        row = self.row(row_id, why)
        if "tiers" not in row:
            return quantity * row["usd"], f"{_num(quantity)} {row['unit']} x {usd_text(row['usd'])}"
        total, done, parts = 0.0, 0.0, []
        for tier in row["tiers"]:
            cap = math.inf if tier["upto_gb"] is None else tier["upto_gb"]
            take = max(0.0, min(quantity, cap) - done)
            if take > 0:
                total += take * tier["usd"]
                parts.append(f"{_num(take)} GB x {usd_text(tier['usd'])}")
            done = max(done, min(quantity, cap))
        return total, " + ".join(parts) or f"0 {row['unit']}"


def _yaml(path: Path, what: str) -> Any:
    try:
        return load_yaml(path, what)
    except YamlError as exc:
        raise CostError(str(exc)) from None


def load_prices(path: Path = PRICES) -> PriceTable:
    doc = _yaml(path, "price table")
    for row_id, row in doc["prices"].items():
        for key in ("unit", "what", "source", "date"):
            if key not in row:
                raise CostError(f"price row {row_id!r} lacks {key!r}")
        if "usd" not in row and "tiers" not in row:
            raise CostError(f"price row {row_id!r} has neither 'usd' nor 'tiers'")
    return PriceTable(rows=doc["prices"], free=doc.get("free") or {})


def usd_text(x: float) -> str:
    """A unit price without scientific notation: 0.000001 -> '$0.000001'."""
    return "$" + (f"{x:.7f}".rstrip("0").rstrip(".") if x < 1 else f"{x:g}")


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}"


# ---------------------------------------------------------------------- usage and traffic


@dataclass(frozen=True)
class Scenario:
    label: str
    hits_per_day: float
    movies: float


@dataclass(frozen=True)
class Assumptions:
    workload: Workload  # the capacity model's reading of assumptions/workload.yaml
    usage: dict[str, Any]

    @property
    def hours(self) -> float:
        return float(self.usage["hours_per_month"])

    @property
    def days(self) -> float:
        return float(self.usage["days_per_month"])

    def scenarios(self, env: str) -> tuple[Scenario, Scenario]:
        mult = self.workload.multiplier
        if env == "dev":
            hits, movies = float(self.usage["dev_hits_per_day"]), float(self.usage["dev_movies"])
            return Scenario("today", hits, movies), Scenario(f"{mult:g}x", hits, movies)
        hits, movies = self.workload.hits_per_day, self.workload.movies
        return Scenario("today", hits, movies), Scenario(f"{mult:g}x", hits * mult, movies * mult)

    def hourly_profile(self) -> list[float]:
        """24 hourly load factors: mean 1, peak ``traffic.peak_factor``, trough ``trough_factor``.

        f(h) = trough + (1 - trough) * g(h), where g is a raised cosine (trough at 08:00,
        peak at 20:00 UTC) to the power k, normalised to mean 1; k is solved so that the
        peak of f equals the workload's peak factor.
        """
        peak = self.workload.peak_factor
        trough = float(self.usage["trough_factor"])
        want = (peak - trough) / (1 - trough)  # the peak/mean ratio g needs
        base = [1 + math.cos(2 * math.pi * (h - 20) / 24) for h in range(24)]

        def g(k: float) -> list[float]:
            vals = [b**k for b in base]
            mean = sum(vals) / 24
            return [v / mean for v in vals]

        lo, hi = 0.0, 20.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if max(g(mid)) < want else (lo, mid)
        return [trough + (1 - trough) * v for v in g(lo)]


def load_assumptions(workload: Path = WORKLOAD_FILE, usage: Path = USAGE) -> Assumptions:
    return Assumptions(Workload.load(workload), _yaml(usage, "usage assumptions"))


@dataclass(frozen=True)
class Traffic:
    """Monthly request and byte totals per tier, for one plan's shape and one scenario."""

    hits: float
    total_gb: float
    server_requests: float
    alb_requests: float
    alb_gb: float
    internet_gb: float
    cf_requests: float
    cf_gb: float
    s3_gets: float
    notes: tuple[str, ...]
    search_requests: float = 0.0  # searches among server_requests (a rule may route them)


def traffic_for(plan: dict, scenario: Scenario, a: Assumptions) -> Traffic:
    w, overhead = a.workload, float(a.usage["response_overhead_bytes"])
    hits = scenario.hits_per_day * a.days
    poster, search = w.poster_share, w.search_share
    api_share = 1 - poster
    poster_b = w.poster_bytes + overhead
    api_b = (
        search * w.search_page_bytes + (api_share - search) * w.movie_json_bytes
    ) / api_share + overhead
    total_gb = hits * (poster * poster_b + api_share * api_b) / GB
    types = {r["type"] for r in plan["resources"]}
    has_cf = "aws:cloudfront/distribution:Distribution" in types
    has_alb = "aws:lb/loadBalancer:LoadBalancer" in types
    has_bucket = bool(types & {"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
    notes: list[str] = [
        f"{scenario.hits_per_day:,.0f} hits/day x {a.days:g} days = {hits:,.0f} hits/month",
        f"bytes/hit: poster {poster_b:,.0f} B ({poster:.0%}), API {api_b:,.0f} B ({api_share:.0%})",
    ]
    if has_cf:
        edge_api = w.cacheable_share * w.edge_cache_hit_ratio
        miss_poster = 1 - w.edge_cache_hit_ratio
        api_origin = hits * api_share * (1 - edge_api)
        poster_origin = hits * poster * miss_poster
        server = api_origin + (0 if has_bucket else poster_origin)
        server_gb = (api_origin * api_b + (0 if has_bucket else poster_origin * poster_b)) / GB
        notes.append(
            f"CloudFront answers {edge_api:.0%} of API hits (cacheable x edge hit ratio) and "
            f"{1 - miss_poster:.0%} of poster hits; origin fetches to S3/ALB are free transfer"
        )
        return Traffic(
            hits,
            total_gb,
            server,
            server if has_alb else 0,
            server_gb if has_alb else 0,
            0.0,
            hits,
            total_gb,
            poster_origin if has_bucket else 0.0,
            tuple(notes),
            hits * search * (1 - edge_api),
        )
    notes.append("no CDN: every hit reaches the servers and every byte leaves from them")
    return Traffic(
        hits,
        total_gb,
        hits,
        hits if has_alb else 0,
        total_gb if has_alb else 0,
        total_gb,
        0.0,
        0.0,
        0.0,
        tuple(notes),
        hits * search,
    )


# ------------------------------------------------------------------------- cost lines


@dataclass(frozen=True)
class Line:
    resource: str
    type: str
    row: str
    quantity: float
    unit: str
    monthly: float
    how: str


@dataclass
class StackCost:
    ref: str
    env: str
    stage: str
    scenario: Scenario
    lines: list[Line]
    traffic: Traffic
    free: list[tuple[str, str]] = field(default_factory=list)
    # (resource, type, why): its price depends on a value known only after apply, or a
    # secret; the total leaves it out and says so.
    unpriced: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.monthly for line in self.lines)

    @property
    def per_million(self) -> float:
        return self.total / (self.traffic.hits / 1e6) if self.traffic.hits else 0.0


class _Ctx:
    """Lookups across one plan: resources by URN and by the ids/ARNs/names they expose."""

    def __init__(self, plan: dict, table: PriceTable, a: Assumptions, scenario: Scenario) -> None:
        self.plan, self.table, self.a, self.scenario = plan, table, a, scenario
        self.traffic = traffic_for(plan, scenario, a)
        self.index = PlanIndex(plan)
        for nameless in (UNKNOWN, SECRET):  # neither names a resource
            self.index.by_value.pop(nameless, None)
        self.by_urn = {urn: _guarded(r) for urn, r in self.index.by_urn.items()}

    def of_type(self, *types: str) -> list[dict]:
        return [self.by_urn[r["urn"]] for r in self.index.of_type(*types)]

    def ref(self, reference: Any, *types: str) -> dict | None:
        found = self.index.ref(reference, *types)
        return None if found is None else self.by_urn[found["urn"]]

    def dependency(self, r: dict, *types: str) -> dict | None:
        """The one resource of `types` that `r` depends on, if there is exactly one."""
        hits = [
            self.by_urn[u]
            for u in r.get("dependencies") or []
            if u in self.by_urn and self.by_urn[u]["type"] in types
        ]
        return hits[0] if len(hits) == 1 else None

    def line(self, r: dict, row_id: str, qty: float, how: str) -> Line:
        usd, arithmetic = self.table.charge(row_id, qty, f"{r['type']} {r['name']}")
        unit = self.table.rows[row_id]["unit"]
        return Line(
            r["name"], r["type"], row_id, qty, unit, usd, f"{how}: {arithmetic} = ${usd:,.2f}"
        )


def _ec2_lines(ctx: _Ctx, r: dict) -> list[Line]:
    h = ctx.a.hours
    itype = inp(r, "instanceType")
    if not itype:
        raise CostError(f"{r['type']} {r['name']}: no instanceType input to price")
    root = inp(r, "rootBlockDevice", {})
    size = root.get("volumeSize") or ctx.a.usage["ebs_default_root_gb"]
    vtype = root.get("volumeType") or "gp3"
    return [
        ctx.line(r, f"ec2.{itype}", h, f"1 x {itype} x {h:g} h"),
        ctx.line(r, f"ebs.{vtype}.gb", size, f"root volume {size} GB {vtype}"),
    ]


def _asg_instances(ctx: _Ctx, asg: dict, itype: str) -> tuple[float, str]:
    """Average instance count over the month: target tracking on ALB requests per target."""
    lo, hi = int(inp(asg, "minSize", 1)), int(inp(asg, "maxSize", 1))
    desired = int(inp(asg, "desiredCapacity", lo))
    names = {_known(asg["inputs"], "name"), _known(asg, "id"), _known(asg["outputs"], "name")}
    names.discard(None)
    target_rps = None
    for pol in ctx.of_type("aws:autoscaling/policy:Policy"):
        if not _depends_on(pol, asg) and _known(pol["inputs"], "autoscalingGroupName") not in names:
            continue
        ttc = inp(pol, "targetTrackingConfiguration", {})
        metric = (ttc.get("predefinedMetricSpecification") or {}).get("predefinedMetricType")
        if metric == "ALBRequestCountPerTarget" and ttc.get("targetValue"):
            target_rps = float(ttc["targetValue"]) / 60  # the metric counts requests per minute
    if target_rps is None:
        return float(desired), f"desired capacity {desired} (no ALB request target tracking policy)"
    share = _asg_share(ctx, asg)
    rps = ctx.traffic.alb_requests * share / (ctx.a.hours * 3600)
    counts = [min(hi, max(lo, math.ceil(rps * f / target_rps))) for f in ctx.a.hourly_profile()]
    avg = sum(counts) / len(counts)
    return avg, (
        f"avg {avg:.2f} instances: {rps:.1f} req/s avg ({share:.0%} of ALB requests), "
        f"target {target_rps:.2f} req/s per instance, hourly profile peak x"
        f"{ctx.a.workload.peak_factor}, clamped to [{lo}, {hi}]"
    )


def _asg_share(ctx: _Ctx, asg: dict) -> float:
    """Share of the ALB's requests this group's target groups receive.

    A target group forwarded to by a listener rule is the split-off heavy endpoint (the
    searches among the requests that reach the servers); the groups behind the default
    action share the rest.
    """
    asgs = ctx.of_type("aws:autoscaling/group:Group")
    ruled: set[str] = set()
    for rule in ctx.of_type("aws:lb/listenerRule:ListenerRule"):
        for action in inp(rule, "actions", []):
            if action.get("targetGroupArn"):
                ruled.add(action["targetGroupArn"])
    t = ctx.traffic
    search = t.search_requests / t.server_requests if t.server_requests else 0.0

    def is_ruled(g: dict) -> bool:
        return any(arn in ruled for arn in inp(g, "targetGroupArns", []))

    n_ruled = sum(1 for g in asgs if is_ruled(g))
    n_default = len(asgs) - n_ruled
    if is_ruled(asg):
        return search / n_ruled
    return (1 - (search if n_ruled else 0)) / max(n_default, 1)


def _asg_lines(ctx: _Ctx, r: dict) -> list[Line]:
    spec = inp(r, "launchTemplate", {})
    lt_type = "aws:ec2/launchTemplate:LaunchTemplate"
    lt = (
        ctx.ref(_known(spec, "id"), lt_type)
        or ctx.ref(_known(spec, "name"), lt_type)
        # a template created in the same update: its id is unknown, the edge is not
        or ctx.dependency(r, lt_type)
    )
    if lt is None:
        raise CostError(f"{r['type']} {r['name']}: its launch template is not in the plan")
    itype = inp(lt, "instanceType")
    if not itype:
        raise CostError(f"launch template {lt['name']}: no instanceType input to price")
    n, why = _asg_instances(ctx, r, itype)
    h = ctx.a.hours
    lines = [ctx.line(r, f"ec2.{itype}", n * h, f"{itype}, {why}, x {h:g} h")]
    for bdm in inp(lt, "blockDeviceMappings", []):
        ebs = bdm.get("ebs") or {}
        size = ebs.get("volumeSize") or ctx.a.usage["ebs_default_root_gb"]
        vtype = ebs.get("volumeType") or "gp3"
        lines.append(
            ctx.line(
                r,
                f"ebs.{vtype}.gb",
                n * size,
                f"{n:.2f} x {size} GB {vtype} ({bdm.get('deviceName', 'volume')})",
            )
        )
    return lines


def _private_instances(ctx: _Ctx) -> float:
    n = float(len(ctx.of_type("aws:ec2/instance:Instance")))
    for g in ctx.of_type("aws:autoscaling/group:Group"):
        n += float(inp(g, "desiredCapacity", inp(g, "minSize", 1)))
    return n


def _alb_lines(ctx: _Ctx, r: dict) -> list[Line]:
    h, t, u = ctx.a.hours, ctx.traffic, ctx.a.usage["alb"]
    days = ctx.a.days
    lcu_per_day = 0.0
    for f in ctx.a.hourly_profile():  # hour h carries f/24 of a day's traffic
        conns_s = t.alb_requests / days * f / 24 * float(u["new_connections_per_request"]) / 3600
        gb_h = t.alb_gb / days * f / 24
        lcu_per_day += max(
            conns_s / u["new_connections_per_second_per_lcu"],
            gb_h / u["processed_gb_per_hour_per_lcu"],
        )
    lcu_hours = lcu_per_day * days
    lines = [
        ctx.line(r, "alb.hour", h, f"1 ALB x {h:g} h"),
        ctx.line(
            r,
            "alb.lcu",
            lcu_hours,
            f"LCU-hours = sum over hours of max(new conns/s / 25, GB/h / 1) for "
            f"{t.alb_requests:,.0f} requests, {t.alb_gb:,.0f} GB",
        ),
    ]
    if not inp(r, "internal", False):
        subnets = len(inp(r, "subnets", [])) or len(inp(r, "subnetMappings", [])) or 2
        lines.append(
            ctx.line(
                r, "ipv4.public.hour", subnets * h, f"{subnets} public IPv4 (one per AZ) x {h:g} h"
            )
        )
    if t.internet_gb:
        lines.append(ctx.line(r, "dto.internet.gb", t.internet_gb, "responses to the internet"))
    return lines


def _eip_lines(ctx: _Ctx, r: dict) -> list[Line]:
    h = ctx.a.hours
    lines = [ctx.line(r, "ipv4.public.hour", h, f"1 public IPv4 x {h:g} h")]
    # Without an ALB the box behind its Elastic IP is the public entry point.
    attached = inp(r, "instance") or inp(r, "networkInterface")
    if attached and not ctx.of_type("aws:lb/loadBalancer:LoadBalancer") and ctx.traffic.internet_gb:
        lines.append(
            ctx.line(r, "dto.internet.gb", ctx.traffic.internet_gb, "responses to the internet")
        )
    return lines


def _nat_lines(ctx: _Ctx, r: dict) -> list[Line]:
    h = ctx.a.hours
    nats = len(ctx.of_type("aws:ec2/natGateway:NatGateway"))
    gb = _private_instances(ctx) * float(ctx.a.usage["nat"]["gb_per_instance_month"]) / nats
    return [
        ctx.line(r, "nat.hour", h, f"1 NAT gateway x {h:g} h"),
        ctx.line(
            r,
            "nat.gb",
            gb,
            f"{_private_instances(ctx):g} instances x "
            f"{ctx.a.usage['nat']['gb_per_instance_month']} GB / {nats} NAT",
        ),
    ]


def _rds_lines(ctx: _Ctx, r: dict) -> list[Line]:
    h = ctx.a.hours
    cls = inp(r, "instanceClass")
    if not cls:
        raise CostError(f"{r['type']} {r['name']}: no instanceClass input to price")
    engine = inp(r, "engine")
    source = ctx.ref(inp(r, "replicateSourceDb"), "aws:rds/instance:Instance")
    if engine is None and source is not None:
        engine = inp(source, "engine")
    if engine not in (None, "postgres"):
        raise CostError(
            f"{r['type']} {r['name']}: engine {engine!r} is not priced (allowed: postgres)"
        )
    az = "multi" if inp(r, "multiAz", False) else "single"
    storage = inp(r, "allocatedStorage") or (source and inp(source, "allocatedStorage"))
    if not storage:
        raise CostError(
            f"{r['type']} {r['name']}: no allocatedStorage (nor a source DB's) to price"
        )
    stype = inp(r, "storageType") or (source and inp(source, "storageType")) or "gp2"
    role = "read replica" if source is not None or inp(r, "replicateSourceDb") else "primary"
    lines = [
        ctx.line(r, f"rds.pg.{cls}.{az}", h, f"{role} {cls} {az}-AZ x {h:g} h"),
        ctx.line(r, f"rds.{stype}.gb.{az}", float(storage), f"{storage} GB {stype} {az}-AZ"),
    ]
    if inp(r, "manageMasterUserPassword", False):
        lines.append(ctx.line(r, "sm.secret", 1, "RDS-managed master password secret"))
    return lines


def _redis_lines(ctx: _Ctx, r: dict) -> list[Line]:
    h = ctx.a.hours
    node = inp(r, "nodeType")
    engine = inp(r, "engine", "redis")
    if not node:
        raise CostError(f"{r['type']} {r['name']}: no nodeType input to price")
    if inp(r, "numNodeGroups"):
        n = int(inp(r, "numNodeGroups")) * (int(inp(r, "replicasPerNodeGroup", 0)) + 1)
    else:
        n = int(inp(r, "numCacheClusters", 1))
    return [ctx.line(r, f"ec.{engine}.{node}", n * h, f"{n} x {node} nodes x {h:g} h")]


def _is_cdn_origin(ctx: _Ctx, bucket: dict) -> bool:
    distributions = ctx.of_type("aws:cloudfront/distribution:Distribution")
    if any(_depends_on(d, bucket) for d in distributions):
        return True
    domains = {o.get("domainName") for d in distributions for o in inp(d, "origins", [])}
    outputs = bucket.get("outputs") or {}
    return bool(
        domains & {outputs.get("bucketRegionalDomainName"), outputs.get("bucketDomainName")}
    )


def _bucket_lines(ctx: _Ctx, r: dict) -> list[Line]:
    """The media bucket (a CloudFront origin) holds the posters; any other bucket holds the
    objects the plan puts in it (the release artifact)."""
    w = ctx.a.workload
    if _is_cdn_origin(ctx, r):
        movies = ctx.scenario.movies
        gb = movies * w.poster_bytes / GB
        return [
            ctx.line(
                r,
                "s3.standard.gb",
                gb,
                f"{movies:,.0f} posters x {w.poster_bytes:,.0f} B",
            ),
            ctx.line(r, "s3.get", ctx.traffic.s3_gets, "poster fetches that miss CloudFront"),
            ctx.line(r, "s3.put", float(ctx.a.usage["s3"]["puts_per_month"]), "poster uploads"),
        ]
    names = {inp(r, "bucket"), r.get("id"), (r.get("outputs") or {}).get("bucket")}
    objects = [
        o
        for o in ctx.of_type(
            "aws:s3/bucketObjectv2:BucketObjectv2", "aws:s3/bucketObject:BucketObject"
        )
        if inp(o, "bucket") in names
    ]
    mb = float(ctx.a.usage["s3"]["planned_object_mb"])
    return [
        ctx.line(
            r,
            "s3.standard.gb",
            len(objects) * mb / 1000,
            f"{len(objects)} planned object(s) x {mb:g} MB (not a CDN origin: no poster traffic)",
        )
    ]


def _cf_lines(ctx: _Ctx, r: dict) -> list[Line]:
    t = ctx.traffic
    return [
        ctx.line(r, "cf.transfer.gb", t.cf_gb, "every response leaves through CloudFront"),
        ctx.line(r, "cf.https.request", t.cf_requests, "every hit is an HTTPS request at the edge"),
    ]


def _endpoint_lines(ctx: _Ctx, r: dict) -> list[Line]:
    if inp(r, "vpcEndpointType", "Gateway") != "Interface":
        return []  # gateway endpoints (S3, DynamoDB) have no charge
    h = ctx.a.hours
    azs = len(inp(r, "subnetIds", [])) or 1
    gb = float(ctx.a.usage["vpc_endpoint"]["gb_per_endpoint_month"])
    return [
        ctx.line(
            r, "vpce.interface.hour", azs * h, f"{azs} AZ x {h:g} h ({inp(r, 'serviceName')})"
        ),
        ctx.line(r, "vpce.interface.gb", gb, "API traffic through the endpoint"),
    ]


def _secret_lines(ctx: _Ctx, r: dict) -> list[Line]:
    calls = (
        _private_instances(ctx)
        * float(ctx.a.usage["secrets_manager"]["api_calls_per_instance_day"])
        * ctx.a.days
    )
    return [
        ctx.line(r, "sm.secret", 1, "1 secret"),
        ctx.line(r, "sm.api", calls, f"{_private_instances(ctx):g} instances read it"),
    ]


def _alarm_lines(ctx: _Ctx, r: dict) -> list[Line]:
    queries = inp(r, "metricQueries", [])
    metrics = sum(1 for q in queries if q.get("metric")) or 1
    return [ctx.line(r, "cw.alarm.metric", metrics, f"{metrics} metric(s)")]


def _log_group_lines(ctx: _Ctx, r: dict) -> list[Line]:
    """RDS log exports are small and steady; the service's groups carry its access logs."""
    u = ctx.a.usage["logs"]
    stored = float(u["stored_months"])
    if str(inp(r, "name", "")).startswith("/aws/rds/"):
        gb = float(u["rds_export_gb_per_month"])
        why = "RDS log export"
    else:
        app_groups = [
            g
            for g in ctx.of_type("aws:cloudwatch/logGroup:LogGroup")
            if not str(inp(g, "name", "")).startswith("/aws/rds/")
        ]
        gb = ctx.traffic.server_requests * float(u["bytes_per_request"]) / GB / len(app_groups)
        why = (
            f"access logs of {ctx.traffic.server_requests:,.0f} server requests"
            f" / {len(app_groups)} service log group(s)"
        )
    return [
        ctx.line(r, "cw.logs.ingest.gb", gb, why),
        ctx.line(r, "cw.logs.store.gb", gb * stored, f"{stored:g} month(s) stored"),
    ]


def _zone_lines(ctx: _Ctx, r: dict) -> list[Line]:
    q = (
        _private_instances(ctx)
        * float(ctx.a.usage["route53"]["queries_per_instance_second"])
        * ctx.a.hours
        * 3600
    )
    return [
        ctx.line(r, "r53.zone", 1, "1 hosted zone"),
        ctx.line(r, "r53.query", q, "resolver queries from the instances"),
    ]


PRICERS: dict[str, Callable[[_Ctx, dict], list[Line]]] = {
    "aws:ec2/instance:Instance": _ec2_lines,
    "aws:autoscaling/group:Group": _asg_lines,
    "aws:lb/loadBalancer:LoadBalancer": _alb_lines,
    "aws:ec2/eip:Eip": _eip_lines,
    "aws:ec2/natGateway:NatGateway": _nat_lines,
    "aws:rds/instance:Instance": _rds_lines,
    "aws:elasticache/replicationGroup:ReplicationGroup": _redis_lines,
    "aws:s3/bucket:Bucket": _bucket_lines,
    "aws:s3/bucketV2:BucketV2": _bucket_lines,
    "aws:cloudfront/distribution:Distribution": _cf_lines,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint_lines,
    "aws:secretsmanager/secret:Secret": _secret_lines,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm_lines,
    "aws:cloudwatch/logGroup:LogGroup": _log_group_lines,
    "aws:route53/zone:Zone": _zone_lines,
    "aws:kms/key:Key": lambda ctx, r: [ctx.line(r, "kms.key", 1, "1 customer managed key")],
}


def _is_component(r: dict) -> bool:
    # Component resources (movies:infra:Database, ...) group children and cost nothing.
    return not r["type"].startswith(("aws:", "pulumi:", "random:")) and not r.get("inputs")


def price_plan(
    plan: dict, scenario: Scenario, table: PriceTable, a: Assumptions, ref: str = ""
) -> StackCost:
    ctx = _Ctx(plan, table, a, scenario)
    lines: list[Line] = []
    free: list[tuple[str, str]] = []
    unpriced = sorted(
        {
            r["type"]
            for r in plan["resources"]
            if r["type"] not in PRICERS and r["type"] not in table.free and not _is_component(r)
        }
    )
    if unpriced:
        raise CostError(
            f"resource type(s) neither priced nor listed as free in {PRICES.name}: "
            + ", ".join(unpriced)
        )
    unknown: list[tuple[str, str, str]] = []
    for raw in plan["resources"]:
        r = ctx.by_urn[raw["urn"]]
        if r["type"] in PRICERS:
            try:
                lines += PRICERS[r["type"]](ctx, r)
            except UnpricedValue as exc:
                unknown.append((r["name"], r["type"], str(exc)))
            except CostError:
                raise
            except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
                # A pricer reads inputs of the provider's types; a hand-edited or truncated
                # plan or preview can hold another type: one line, not a traceback.
                detail = str(exc).splitlines()[0][:200] if str(exc) else ""
                raise CostError(
                    f"{r['type']} {r['name']}: an input is not of the provider's type "
                    f"({type(exc).__name__}: {detail})"
                ) from exc
        elif not _is_component(raw):
            free.append((r["name"], r["type"]))
    return StackCost(
        ref,
        plan.get("env", "?"),
        plan.get("stage", "?"),
        scenario,
        lines,
        ctx.traffic,
        free,
        unknown,
    )


def cost_stack(
    ref: str, table: PriceTable | None = None, a: Assumptions | None = None
) -> tuple[StackCost, StackCost]:
    """Today's and the target's monthly cost of one stack."""
    table, a = table or load_prices(), a or load_assumptions()
    plan = load_or_build(ref)
    today, target = a.scenarios(plan.get("env", ref.split("/")[0]))
    return price_plan(plan, today, table, a, ref), price_plan(plan, target, table, a, ref)


# ---------------------------------------------------------------------------- output


def _default_refs() -> list[str]:
    return [f"{env}/{stage}" for env in ENVS for stage in STAGES]


def summary_rows(costs: list[tuple[StackCost, StackCost]]) -> list[dict[str, Any]]:
    """One summary row per stack; the delta is against the stage before it in the same env,
    when that stack is in the list too (otherwise there is no delta to show)."""
    by_key = {(t.env, t.stage): (t, g) for t, g in costs}
    rows = []
    for today, target in costs:
        i = STAGES.index(today.stage) if today.stage in STAGES else 0
        before = by_key.get((today.env, STAGES[i - 1])) if i > 0 else None
        rows.append(
            {
                "stack": today.ref or f"{today.env}/{today.stage}",
                "env": today.env,
                "stage": today.stage,
                "today": today.total,
                "today_delta": None if before is None else today.total - before[0].total,
                "today_per_m": today.per_million,
                "target": target.total,
                "target_delta": None if before is None else target.total - before[1].total,
                "target_per_m": target.per_million,
                "target_label": target.scenario.label,
            }
        )
    return rows


def _money(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+,.0f}" if signed else f"{x:,.0f}"


def render_markdown(costs: list[tuple[StackCost, StackCost]], explain: bool = False) -> str:
    out = [
        "| stack | today $/mo | Δ vs previous stage | $ per 1M requests "
        "| 5x $/mo | Δ | $ per 1M requests |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary_rows(costs):
        out.append(
            f"| `{r['stack']}` | {_money(r['today'])} | {_money(r['today_delta'], True)} | "
            f"{r['today_per_m']:.2f} | {_money(r['target'])} | {_money(r['target_delta'], True)} | "
            f"{r['target_per_m']:.2f} |"
        )
    out.append("")
    out.append("dev is priced at a fixed test load in both columns; see `assumptions/usage.yaml`.")
    if explain:
        for today, _ in costs:
            out += [
                "",
                f"#### `{today.ref}` today",
                "",
                "| resource | price row | monthly $ | computation |",
                "|---|---|---:|---|",
            ]
            out += [
                f"| `{ln.resource}` | `{ln.row}` | {ln.monthly:,.2f} | {ln.how} |"
                for ln in today.lines
            ]
    return "\n".join(out)


def render_rich(costs: list[tuple[StackCost, StackCost]], explain: bool, table: PriceTable) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 140))
    for today, target in costs:
        t = Table(
            title=f"{today.ref}: monthly cost ({today.scenario.label} / {target.scenario.label})"
        )
        for col in (
            "resource",
            "type",
            "price row",
            "quantity",
            f"{today.scenario.label} $",
            f"{target.scenario.label} $",
        ):
            t.add_column(col, justify="right" if "$" in col or col == "quantity" else "left")
        for a, b in zip(today.lines, target.lines, strict=True):
            t.add_row(
                a.resource,
                a.type.split(":")[1] if ":" in a.type else a.type,
                a.row,
                f"{_num(a.quantity)} {a.unit}",
                f"{a.monthly:,.2f}",
                f"{b.monthly:,.2f}",
            )
        t.add_row("total", "", "", "", f"{today.total:,.2f}", f"{target.total:,.2f}", style="bold")
        console.print(t)
        if explain:
            for note in today.traffic.notes:
                console.print(f"  traffic ({today.scenario.label}): {note}", markup=False)
            for ln in today.lines:
                row = table.rows[ln.row]
                console.print(
                    f"  [{ln.row}] {ln.resource}: {ln.how}  ({row['source']}, {row['date']})",
                    markup=False,
                )
            free_types = ", ".join(sorted({t for _, t in today.free}))
            console.print(f"  free (listed in the price table): {free_types}", markup=False)
    s = Table(title="monthly cost per stack (USD)")
    for col in ("stack", "today", "Δ prev", "$/1M req", "5x", "Δ prev", "$/1M req"):
        s.add_column(col, justify="left" if col == "stack" else "right")
    for r in summary_rows(costs):
        s.add_row(
            r["stack"],
            _money(r["today"]),
            _money(r["today_delta"], True),
            f"{r['today_per_m']:.2f}",
            _money(r["target"]),
            _money(r["target_delta"], True),
            f"{r['target_per_m']:.2f}",
        )
    console.print(s)


def _base_cost(
    base_dir: Path, head: StackCost, table: PriceTable, a: Assumptions
) -> tuple[StackCost, StackCost] | None:
    path = base_dir / f"{head.env}-{head.stage}.json"
    if not path.exists():
        return None
    plan = load_or_build(str(path))
    today, target = a.scenarios(head.env)
    ref = f"{head.env}/{head.stage}"
    return price_plan(plan, today, table, a, ref), price_plan(plan, target, table, a, ref)


def render_against(
    head: list[tuple[StackCost, StackCost]], base: list[tuple[StackCost, StackCost] | None]
) -> str:
    """Markdown: each stack's monthly cost on the base branch, on the head, and the change."""
    out = [
        "| stack | base today $/mo | head today $/mo | Δ | base 5x $/mo | head 5x $/mo | Δ |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (h_today, h_target), b in zip(head, base, strict=True):
        b_today = b[0].total if b else None
        b_target = b[1].total if b else None
        d_today = None if b_today is None else h_today.total - b_today
        d_target = None if b_target is None else h_target.total - b_target
        out.append(
            f"| `{h_today.env}/{h_today.stage}` | {_money(b_today)} | {_money(h_today.total)} | "
            f"{_money(d_today, True)} | {_money(b_target)} | {_money(h_target.total)} | "
            f"{_money(d_target, True)} |"
        )
    return "\n".join(out)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m infra cost", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "refs", nargs="*", metavar="ENV/STAGE", help="stacks or plan files (default: all 14)"
    )
    p.add_argument("--format", choices=("table", "markdown"), default="table")
    p.add_argument("--explain", action="store_true", help="show each line's computation and source")
    p.add_argument(
        "--against",
        type=Path,
        metavar="PLAN_DIR",
        help="compare with the plans in this directory (CI: the base branch's build/plan)",
    )
    p.add_argument(
        "--preview",
        metavar="FILE",
        help="price a real `pulumi preview --json`: the stack after it, and the change",
    )
    p.add_argument(
        "--state", metavar="FILE", help="a `pulumi stack export`: the live stack (the before side)"
    )
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.preview or args.state:
        if args.refs or args.against:
            print(
                "error: give stacks (or --against) or --preview/--state, not both", file=sys.stderr
            )
            return 2
        from infra.review.preview_cost import main_preview

        return main_preview(args)
    try:
        table, a = load_prices(), load_assumptions()
        costs = [cost_stack(ref, table, a) for ref in (args.refs or _default_refs())]
    except (CostError, ModelError, PlanRefError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.against is not None:
        try:
            base = [_base_cost(args.against, today, table, a) for today, _ in costs]
        except (CostError, ModelError, PlanRefError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(render_against(costs, base))
    elif args.format == "markdown":
        print(render_markdown(costs, args.explain))
    else:
        render_rich(costs, args.explain, table)
    return 0
