"""One pricer per resource type: a plan's resources -> cost lines, from the price table."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from infra.plans.index import PlanIndex, inp
from infra.plans.preview import UNKNOWN
from infra.pricing.prices import PRICES, CostError, PriceTable
from infra.review.cost.model import (
    GB,
    Assumptions,
    Line,
    Scenario,
    StackCost,
    UnpricedValue,
    depends_on,
    guarded,
    known,
    traffic_for,
)
from infra.tokens import SECRET_MARKER, ResourceType


class _Ctx:
    """Lookups across one plan: resources by URN and by the ids/ARNs/names they expose."""

    def __init__(self, plan: dict, table: PriceTable, a: Assumptions, scenario: Scenario) -> None:
        self.plan, self.table, self.a, self.scenario = plan, table, a, scenario
        self.traffic = traffic_for(plan, scenario, a)
        self.index = PlanIndex(plan)
        for nameless in (UNKNOWN, SECRET_MARKER):  # neither names a resource
            self.index.by_value.pop(nameless, None)
        self.by_urn = {urn: guarded(r) for urn, r in self.index.by_urn.items()}

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
    names = {known(asg["inputs"], "name"), known(asg, "id"), known(asg["outputs"], "name")}
    names.discard(None)
    target_rps = None
    for pol in ctx.of_type(ResourceType.AUTOSCALING_POLICY):
        if not depends_on(pol, asg) and known(pol["inputs"], "autoscalingGroupName") not in names:
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
    asgs = ctx.of_type(ResourceType.AUTOSCALING_GROUP)
    ruled: set[str] = set()
    for rule in ctx.of_type(ResourceType.LB_LISTENER_RULE):
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
    lt_type = ResourceType.EC2_LAUNCH_TEMPLATE
    lt = (
        ctx.ref(known(spec, "id"), lt_type)
        or ctx.ref(known(spec, "name"), lt_type)
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
    n = float(len(ctx.of_type(ResourceType.EC2_INSTANCE)))
    for g in ctx.of_type(ResourceType.AUTOSCALING_GROUP):
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
    if attached and not ctx.of_type(ResourceType.LB_LOAD_BALANCER) and ctx.traffic.internet_gb:
        lines.append(
            ctx.line(r, "dto.internet.gb", ctx.traffic.internet_gb, "responses to the internet")
        )
    return lines


def _nat_lines(ctx: _Ctx, r: dict) -> list[Line]:
    h = ctx.a.hours
    nats = len(ctx.of_type(ResourceType.EC2_NAT_GATEWAY))
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
    source = ctx.ref(inp(r, "replicateSourceDb"), ResourceType.RDS_INSTANCE)
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
    distributions = ctx.of_type(ResourceType.CLOUDFRONT_DISTRIBUTION)
    if any(depends_on(d, bucket) for d in distributions):
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
        for o in ctx.of_type(ResourceType.S3_BUCKET_OBJECTV2, ResourceType.S3_BUCKET_OBJECT)
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
            for g in ctx.of_type(ResourceType.CLOUDWATCH_LOG_GROUP)
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
    ResourceType.EC2_INSTANCE: _ec2_lines,
    ResourceType.AUTOSCALING_GROUP: _asg_lines,
    ResourceType.LB_LOAD_BALANCER: _alb_lines,
    ResourceType.EC2_EIP: _eip_lines,
    ResourceType.EC2_NAT_GATEWAY: _nat_lines,
    ResourceType.RDS_INSTANCE: _rds_lines,
    ResourceType.ELASTICACHE_REPLICATION_GROUP: _redis_lines,
    ResourceType.S3_BUCKET: _bucket_lines,
    ResourceType.S3_BUCKET_V2: _bucket_lines,
    ResourceType.CLOUDFRONT_DISTRIBUTION: _cf_lines,
    ResourceType.EC2_VPC_ENDPOINT: _endpoint_lines,
    ResourceType.SECRETSMANAGER_SECRET: _secret_lines,
    ResourceType.CLOUDWATCH_METRIC_ALARM: _alarm_lines,
    ResourceType.CLOUDWATCH_LOG_GROUP: _log_group_lines,
    ResourceType.ROUTE53_ZONE: _zone_lines,
    ResourceType.KMS_KEY: lambda ctx, r: [ctx.line(r, "kms.key", 1, "1 customer managed key")],
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
