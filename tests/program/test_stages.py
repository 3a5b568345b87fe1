"""What each stage adds and removes, for both environments, from the planned resources."""

from __future__ import annotations

import itertools

import pytest

from infra.config import ENVIRONMENTS, STAGES, load_stack_config
from tests.program.planq import (
    ALB,
    ASG,
    BUCKET,
    CLOUDFRONT,
    EC2,
    RDS,
    REDIS,
    RULE,
    TG,
    exports,
    of_type,
)

NAT = "aws:ec2/natGateway:NatGateway"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


def count(plan, type_token: str) -> int:
    return len(of_type(plan, type_token))


def media_buckets(plan) -> list[dict]:
    return [b for b in of_type(plan, BUCKET) if b["name"] == "media-bucket"]


# (stage) -> expected (box, primary, replicas(dev, prod), alb, asgs, redis, media, cdn)
EXPECTED = {
    "single-box": dict(box=1, rds_primary=0, alb=0, asgs=0, redis=0, media=0, cdn=0),
    "split-db": dict(box=1, rds_primary=1, alb=0, asgs=0, redis=0, media=0, cdn=0),
    "load-balanced": dict(box=0, rds_primary=1, alb=1, asgs=1, redis=0, media=0, cdn=0),
    "cached": dict(box=0, rds_primary=1, alb=1, asgs=1, redis=1, media=0, cdn=0),
    "read-replicas": dict(box=0, rds_primary=1, alb=1, asgs=1, redis=1, media=0, cdn=0),
    "edge": dict(box=0, rds_primary=1, alb=1, asgs=1, redis=1, media=1, cdn=1),
    "scale-5x": dict(box=0, rds_primary=1, alb=1, asgs=2, redis=1, media=1, cdn=1),
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stage", STAGES)
def test_stage_has_exactly_its_parts(plans, env: str, stage: str) -> None:
    plan = plans[(env, stage)]
    want = EXPECTED[stage]
    spec = load_stack_config(env, stage).stage
    primaries = [r for r in of_type(plan, RDS) if "replicateSourceDb" not in r["inputs"]]
    replicas = [r for r in of_type(plan, RDS) if "replicateSourceDb" in r["inputs"]]
    assert count(plan, EC2) == want["box"]
    assert len(primaries) == want["rds_primary"]
    assert len(replicas) == (spec.database.read_replicas if spec.database else 0)
    assert count(plan, ALB) == want["alb"]
    assert count(plan, ASG) == want["asgs"]
    assert count(plan, TG) == want["asgs"]
    assert count(plan, REDIS) == want["redis"]
    assert len(media_buckets(plan)) == want["media"]
    assert count(plan, CLOUDFRONT) == want["cdn"]
    # One /metrics 404 per forwarding listener (HTTP here: no certificate), plus search
    # and its warm-up rule (the search group is health-checked before it is routed to).
    assert count(plan, RULE) == want["alb"] + (2 if stage == "scale-5x" else 0)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_replicas_arrive_at_read_replicas(plans, env: str) -> None:
    def replicas(stage: str) -> int:
        return sum("replicateSourceDb" in r["inputs"] for r in of_type(plans[(env, stage)], RDS))

    assert replicas("cached") == 0
    assert replicas("read-replicas") >= 1


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_stage_diff_against_the_previous(plans, env: str) -> None:
    """Stage N+1 removes only what the stage table says goes (the single box at stage 3)."""
    for before, after in itertools.pairwise(STAGES):
        old = {r["urn"] for r in plans[(env, before)]["resources"]}
        new = {r["urn"] for r in plans[(env, after)]["resources"]}
        removed = {urn.rsplit("::", 1)[-1] for urn in old - new}
        added = new - old
        assert added, f"{before} -> {after} adds nothing"
        if after == "load-balanced":
            assert {"box", "box-instance", "box-eip"} <= removed
        if after == "edge":
            # CloudFront replaces the internet as the ALB's only source.
            assert "security-alb-from-internet-http" in removed
        else:
            assert not {n for n in removed if n.startswith(("box", "database", "cache"))} - {
                "box",
                "box-instance",
                "box-eip",
            }


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stage", STAGES)
def test_exports_match_the_stage(plans, env: str, stage: str) -> None:
    out = exports(plans[(env, stage)])
    spec = load_stack_config(env, stage).stage
    assert out["stage"] == stage and out["environment"] == env
    assert out["url"].startswith("http")
    assert ("public_ip" in out) == (spec.single_box is not None)
    assert ("alb_dns_name" in out) == (spec.web is not None)
    assert ("db_endpoint" in out) == (spec.database is not None)
    assert ("db_reader_endpoint" in out) == bool(spec.database and spec.database.read_replicas)
    assert ("redis_primary_endpoint" in out) == (spec.cache is not None)
    assert ("cdn_domain" in out) == (spec.edge is not None)
    if spec.edge is not None:
        assert out["url"] == f"https://{out['cdn_domain']}"
    if spec.web is not None:
        assert len(out["asg_names"]) == len(out["target_group_arns"]) == (2 if spec.search else 1)
    assert out["alarm_names"], "every stage has alarms"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_nat_and_endpoints_only_with_private_instances(plans, env: str) -> None:
    cfg = load_stack_config(env, "cached").env
    for stage in STAGES:
        plan = plans[(env, stage)]
        private = load_stack_config(env, stage).stage.web is not None
        nats = count(plan, NAT)
        if not private:
            assert nats == 0, stage
        elif cfg.nat == "single":
            assert nats == 1, stage
        elif cfg.nat == "per-az":
            assert nats == cfg.az_count, stage
        interface = [
            e for e in of_type(plan, ENDPOINT) if e["inputs"]["vpcEndpointType"] == "Interface"
        ]
        services = sorted(e["inputs"]["serviceName"].rsplit(".", 1)[-1] for e in interface)
        assert services == (sorted(["ec2messages", "ssm", "ssmmessages"]) if private else [])
        gateway = [
            e for e in of_type(plan, ENDPOINT) if e["inputs"]["vpcEndpointType"] == "Gateway"
        ]
        assert [g["inputs"]["serviceName"] for g in gateway] == [f"com.amazonaws.{cfg.region}.s3"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_subnets_span_the_profile_azs(plans, env: str) -> None:
    cfg = load_stack_config(env, "edge").env
    subnets = of_type(plans[(env, "edge")], "aws:ec2/subnet:Subnet")
    assert len(subnets) == 3 * cfg.az_count
    zones = {s["inputs"]["availabilityZoneId"] for s in subnets}
    assert len(zones) == cfg.az_count
    assert not any(s["inputs"].get("mapPublicIpOnLaunch") for s in subnets)
