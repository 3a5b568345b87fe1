"""The diagram model: a plan's resources as tiers (nodes) and the request path (edges)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra import REPO_ROOT
from infra.plans.index import PlanIndex, inp
from infra.tokens import ResourceType

ROOT = REPO_ROOT

TIERS: dict[str, tuple[str, str]] = {
    # type -> (tier, shape)
    ResourceType.CLOUDFRONT_DISTRIBUTION: ("edge", "hexagon"),
    ResourceType.LB_LOAD_BALANCER: ("load balancer", "trapezium"),
    ResourceType.EC2_EIP: ("public IP", "circle"),
    ResourceType.AUTOSCALING_GROUP: ("app", "box3d"),
    ResourceType.EC2_INSTANCE: ("app", "box3d"),
    ResourceType.ELASTICACHE_REPLICATION_GROUP: ("cache", "component"),
    ResourceType.RDS_INSTANCE: ("database", "cylinder"),
    ResourceType.ROUTE53_ZONE: ("database", "note"),
    ResourceType.S3_BUCKET: ("storage", "folder"),
    ResourceType.S3_BUCKET_V2: ("storage", "folder"),
}
TIER_ORDER = (
    "clients",
    "edge",
    "load balancer",
    "public IP",
    "app",
    "cache",
    "database",
    "storage",
)
LT = ResourceType.EC2_LAUNCH_TEMPLATE
SG = ResourceType.EC2_SECURITY_GROUP
TG = ResourceType.LB_TARGET_GROUP
ALB = ResourceType.LB_LOAD_BALANCER
SG_OWNER_KEYS = ("vpcSecurityGroupIds", "securityGroups", "securityGroupIds")
CLIENTS = "clients"


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    tier: str
    shape: str


@dataclass(frozen=True)
class GraphEdge:
    src: str
    dst: str
    label: str
    style: str = "solid"


@dataclass
class Graph:
    title: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[GraphEdge] = field(default_factory=list)

    def add_edge(self, edge: GraphEdge) -> None:
        """Add a wire between two drawn nodes; a second wire on the same pair adds its label."""
        if edge.src not in self.nodes or edge.dst not in self.nodes:
            return
        for i, old in enumerate(self.edges):
            if (old.src, old.dst) == (edge.src, edge.dst):
                if edge.label and edge.label not in old.label.split(", "):
                    label = f"{old.label}, {edge.label}" if old.label else edge.label
                    self.edges[i] = GraphEdge(old.src, old.dst, label, old.style)
                return
        self.edges.append(edge)

    def edge_pairs(self) -> set[tuple[str, str]]:
        return {
            (self.nodes[e.src].label.split("\n")[0], self.nodes[e.dst].label.split("\n")[0])
            for e in self.edges
        }


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class _Index(PlanIndex):
    def refs(self, value: Any) -> list[dict]:
        return [r for s in _strings(value) if (r := self.ref(s)) is not None]


def _label(ix: _Index, r: dict) -> str:
    t, name = r["type"], r["name"]
    if t == ResourceType.AUTOSCALING_GROUP:
        lt = ix.ref((inp(r, "launchTemplate", {}) or {}).get("id"), LT)
        itype = inp(lt, "instanceType", "?") if lt else "?"
        sizes = f"{inp(r, 'minSize')}..{inp(r, 'maxSize')} (desired {inp(r, 'desiredCapacity')})"
        return f"{name}\nASG {itype} x {sizes}"
    if t == ResourceType.EC2_INSTANCE:
        # Before RDS exists the box also runs PostgreSQL (stage single-box).
        db = "" if ix.of_type(ResourceType.RDS_INSTANCE) else " (API + PostgreSQL)"
        return f"{name}\nEC2 {inp(r, 'instanceType', '?')}{db}"
    if t == ResourceType.RDS_INSTANCE:
        role = "replica" if inp(r, "replicateSourceDb") else "primary"
        maz = ", Multi-AZ" if inp(r, "multiAz") else ""
        return f"{name}\nRDS {role} {inp(r, 'instanceClass', '?')}{maz}"
    if t == ResourceType.ELASTICACHE_REPLICATION_GROUP:
        n = inp(r, "numCacheClusters", 1)
        return f"{name}\nRedis {inp(r, 'nodeType', '?')} x {n}"
    if t == ResourceType.LB_LOAD_BALANCER:
        return f"{name}\nALB ({len(inp(r, 'subnets', []))} AZs)"
    if t == ResourceType.CLOUDFRONT_DISTRIBUTION:
        return f"{name}\nCloudFront {inp(r, 'priceClass', '')}"
    if t == ResourceType.EC2_EIP:
        return f"{name}\nElastic IP"
    if t == ResourceType.ROUTE53_ZONE:
        return f"{name}\nprivate DNS {inp(r, 'name', '')}"
    return f"{name}\nS3 bucket"


def build_graph(plan: dict) -> Graph:
    """The stack's tiers and request path, derived from the plan's resources and wiring."""
    ix = _Index(plan)
    g = Graph(title=f"{plan.get('env', '?')}/{plan.get('stage', '?')}")
    g.nodes[CLIENTS] = Node(CLIENTS, "clients\n(internet)", "clients", "ellipse")
    for r in plan["resources"]:
        if r["type"] == ResourceType.EC2_EIP and not inp(r, "instance"):
            continue  # a NAT gateway's address: egress, not on the request path
        if r["type"] in TIERS:
            tier, shape = TIERS[r["type"]]
            g.nodes[r["urn"]] = Node(r["urn"], _label(ix, r), tier, shape)

    _entry_edges(ix, g)
    _origin_edges(ix, g)
    _listener_edges(ix, g)
    _security_group_edges(ix, g)
    for r in ix.of_type(ResourceType.RDS_INSTANCE):
        src = ix.ref(inp(r, "replicateSourceDb"), ResourceType.RDS_INSTANCE)
        if src is not None:
            g.add_edge(GraphEdge(src["urn"], r["urn"], "replication", "dashed"))
    for rec in ix.of_type(ResourceType.ROUTE53_RECORD):
        zone = ix.ref(inp(rec, "zoneId"), ResourceType.ROUTE53_ZONE)
        for target in ix.refs(inp(rec, "records", [])):
            if zone is not None:
                g.add_edge(
                    GraphEdge(zone["urn"], target["urn"], inp(rec, "name", "record"), "dotted")
                )
    return g


def _entry_edges(ix: _Index, g: Graph) -> None:
    cdn = ix.of_type(ResourceType.CLOUDFRONT_DISTRIBUTION)
    albs = [a for a in ix.of_type(ResourceType.LB_LOAD_BALANCER) if not inp(a, "internal")]
    if cdn:
        for d in cdn:
            g.add_edge(GraphEdge(CLIENTS, d["urn"], "HTTPS"))
    elif albs:
        for a in albs:
            g.add_edge(GraphEdge(CLIENTS, a["urn"], "HTTP(S)"))
    for eip in ix.of_type(ResourceType.EC2_EIP):
        if not cdn and not albs:
            g.add_edge(GraphEdge(CLIENTS, eip["urn"], "HTTP(S)"))
        inst = ix.ref(inp(eip, "instance"), ResourceType.EC2_INSTANCE)
        if inst is not None:
            g.add_edge(GraphEdge(eip["urn"], inst["urn"], "EIP"))


def _origin_edges(ix: _Index, g: Graph) -> None:
    for d in ix.of_type(ResourceType.CLOUDFRONT_DISTRIBUTION):
        for origin in inp(d, "origins", []):
            target = ix.ref(origin.get("domainName"))
            if target is not None:
                g.add_edge(
                    GraphEdge(
                        d["urn"], target["urn"], f"origin {origin.get('originId', '')}".strip()
                    )
                )


def _listener_edges(ix: _Index, g: Graph) -> None:
    tg_to_asgs: dict[str, list[dict]] = {}
    for asg in ix.of_type(ResourceType.AUTOSCALING_GROUP):
        for arn in inp(asg, "targetGroupArns", []):
            tg = ix.ref(arn, TG)
            if tg is not None:
                tg_to_asgs.setdefault(tg["urn"], []).append(asg)
    for att in ix.of_type(ResourceType.LB_TARGET_GROUP_ATTACHMENT):
        tg, target = ix.ref(inp(att, "targetGroupArn"), TG), ix.ref(inp(att, "targetId"))
        if tg is not None and target is not None:
            tg_to_asgs.setdefault(tg["urn"], []).append(target)

    def forward(alb: dict | None, actions: list[dict], label: str) -> None:
        for action in actions or []:
            arns = [action.get("targetGroupArn")] + [
                t.get("arn") for t in ((action.get("forward") or {}).get("targetGroups") or [])
            ]
            for arn in arns:
                tg = ix.ref(arn, TG)
                for asg in tg_to_asgs.get(tg["urn"], []) if tg else []:
                    if alb is not None:
                        g.add_edge(GraphEdge(alb["urn"], asg["urn"], label))

    for lst in ix.of_type(ResourceType.LB_LISTENER):
        alb = ix.ref(inp(lst, "loadBalancerArn"), ALB)
        forward(alb, inp(lst, "defaultActions", []), f":{inp(lst, 'port', '')} default")
    for rule in ix.of_type(ResourceType.LB_LISTENER_RULE):
        lst = ix.ref(inp(rule, "listenerArn"), ResourceType.LB_LISTENER)
        alb = ix.ref(inp(lst, "loadBalancerArn"), ALB) if lst else None
        forward(alb, inp(rule, "actions", []), _rule_label(rule))


def _rule_label(rule: dict) -> str:
    parts = []
    for cond in inp(rule, "conditions", []):
        if cond.get("pathPattern"):
            parts.append(" ".join(cond["pathPattern"].get("values", [])))
        if cond.get("queryStrings"):
            parts.append(" ".join(f"?{q.get('key', '')}=" for q in cond["queryStrings"]))
    return "rule " + " ".join(parts) if parts else "rule"


def _security_group_edges(ix: _Index, g: Graph) -> None:
    """Tier A -> tier B when B's security group admits A's on a port."""
    owners: dict[str, list[dict]] = {}
    for r in ix.resources:
        carriers = [r]
        if r["type"] == ResourceType.EC2_LAUNCH_TEMPLATE:
            carriers = [
                a
                for a in ix.of_type(ResourceType.AUTOSCALING_GROUP)
                if ix.ref((inp(a, "launchTemplate", {}) or {}).get("id"), LT) is r
            ]
        if r["type"] not in TIERS and r["type"] != ResourceType.EC2_LAUNCH_TEMPLATE:
            continue
        keys = list(SG_OWNER_KEYS)
        groups = [s for k in keys for s in _strings(inp(r, k, []))]
        for ni in inp(r, "networkInterfaces", []):
            groups += _strings(ni.get("securityGroups", []))
        for sg_value in groups:
            sg = ix.ref(sg_value, SG)
            if sg is not None:
                owners.setdefault(sg["urn"], []).extend(carriers)

    def link(src_sg: dict | None, dst_sg: dict | None, port: Any) -> None:
        if src_sg is None or dst_sg is None:
            return
        for a in owners.get(src_sg["urn"], []):
            for b in owners.get(dst_sg["urn"], []):
                if a is not b:
                    g.add_edge(GraphEdge(a["urn"], b["urn"], f"tcp {port}"))

    for rule in ix.of_type(
        ResourceType.VPC_SECURITY_GROUP_INGRESS_RULE,
        ResourceType.EC2_SECURITY_GROUP_RULE,
    ):
        if rule["type"].endswith("SecurityGroupRule") and inp(rule, "type") != "ingress":
            continue
        src_id = inp(rule, "referencedSecurityGroupId") or inp(rule, "sourceSecurityGroupId")
        link(
            ix.ref(src_id, SG),
            ix.ref(inp(rule, "securityGroupId"), SG),
            inp(rule, "fromPort", ""),
        )
    for sg in ix.of_type(ResourceType.EC2_SECURITY_GROUP):
        for ingress in inp(sg, "ingress", []):
            for src in [ix.ref(v, SG) for v in _strings(ingress.get("securityGroups", []))]:
                link(src, sg, ingress.get("fromPort", ""))
