"""The wiring between components, read from the planned inputs and mock outputs."""

from __future__ import annotations

import json
import re

import pytest

from infra.config import ENVIRONMENTS, STAGES, load_stack_config
from infra.program.components.release import TEMPLATE_PATH
from tests.program.planq import (
    ALB,
    ASG,
    EC2,
    EGRESS,
    INGRESS,
    LISTENER,
    LT,
    RDS,
    RULE,
    SG,
    TG,
    exports,
    of_type,
    one,
    user_data,
)

WEB_STAGES = [s for s in STAGES if load_stack_config("dev", s).stage.web is not None]
ALL = [(e, s) for e in ENVIRONMENTS for s in STAGES]


def sg_ids(plan) -> dict[str, str]:
    """Security group role (app, alb, db, redis, endpoints) -> id."""
    return {r["name"].removeprefix("security-"): r["id"] for r in of_type(plan, SG)}


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stage", WEB_STAGES)
def test_asg_registers_with_its_target_group(plans, env: str, stage: str) -> None:
    plan = plans[(env, stage)]
    groups = {tg["name"].removeprefix("alb-"): tg for tg in of_type(plan, TG)}
    for asg in of_type(plan, ASG):
        role = asg["name"].removesuffix("-asg")
        assert asg["inputs"]["targetGroupArns"] == [groups[role]["outputs"]["arn"]]
        assert asg["inputs"]["healthCheckType"] == "ELB"
        lt = one(plan, LT, f"{role}-lt")
        assert asg["inputs"]["launchTemplate"]["id"] == lt["id"]
    listener = one(plan, LISTENER, "alb-http")
    assert listener["inputs"]["loadBalancerArn"] == one(plan, ALB)["outputs"]["arn"]
    assert (
        listener["inputs"]["defaultActions"][0]["targetGroupArn"] == groups["web"]["outputs"]["arn"]
    )
    for tg in groups.values():
        assert tg["inputs"]["healthCheck"]["path"] == "/healthz"
        assert tg["inputs"]["port"] == 8000


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stage", WEB_STAGES)
def test_target_tracking_on_request_count_per_target(plans, env: str, stage: str) -> None:
    plan = plans[(env, stage)]
    spec = load_stack_config(env, stage).stage
    alb = one(plan, ALB)
    policies = of_type(plan, "aws:autoscaling/policy:Policy")
    assert len(policies) == len(of_type(plan, ASG))
    for policy in policies:
        role = policy["name"].removesuffix("-requests")
        tier = spec.web if role == "web" else spec.search
        tg = one(plan, TG, f"alb-{role}")
        asg = one(plan, ASG, f"{role}-asg")
        tracking = policy["inputs"]["targetTrackingConfiguration"]
        metric = tracking["predefinedMetricSpecification"]
        assert metric["predefinedMetricType"] == "ALBRequestCountPerTarget"
        # app/<name>/<id>/targetgroup/<name>/<id>: the label CloudWatch expects.
        assert (
            metric["resourceLabel"] == f"{alb['outputs']['arnSuffix']}/{tg['outputs']['arnSuffix']}"
        )
        assert tracking["targetValue"] == tier.scale_target_rps * 60
        assert policy["inputs"]["autoscalingGroupName"] == asg["outputs"]["name"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_search_route_at_scale_5x(plans, env: str) -> None:
    plan = plans[(env, "scale-5x")]
    rule = one(plan, RULE, "alb-search")
    listener = one(plan, LISTENER, "alb-http")
    assert rule["inputs"]["listenerArn"] == listener["outputs"]["arn"]
    assert (
        rule["inputs"]["actions"][0]["targetGroupArn"]
        == one(plan, TG, "alb-search")["outputs"]["arn"]
    )
    conditions = rule["inputs"]["conditions"]
    assert {"pathPattern": {"values": ["/movies"]}} in conditions
    assert {"queryStrings": [{"key": "q", "value": "*"}]} in conditions


def _forwards(actions: list[dict]) -> bool:
    return any(a["type"] == "forward" for a in actions)


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stage", WEB_STAGES)
def test_metrics_are_refused_at_every_forwarding_listener(plans, env: str, stage: str) -> None:
    """`/metrics*` gets a fixed 404 ahead of every forward rule on each listener that serves."""
    plan = plans[(env, stage)]
    rules = of_type(plan, RULE)
    serving = [
        listener
        for listener in of_type(plan, LISTENER)
        if _forwards(listener["inputs"]["defaultActions"])
    ]
    assert serving
    for listener in serving:
        on_it = [r for r in rules if r["inputs"]["listenerArn"] == listener["outputs"]["arn"]]
        [metrics] = [
            r
            for r in on_it
            if {"pathPattern": {"values": ["/metrics*"]}} in r["inputs"]["conditions"]
        ]
        [action] = metrics["inputs"]["actions"]
        assert action["type"] == "fixed-response"
        assert action["fixedResponse"]["statusCode"] == "404"
        forward_priorities = [
            r["inputs"]["priority"] for r in on_it if _forwards(r["inputs"]["actions"])
        ]
        # ALB evaluates the lowest number first.
        assert all(metrics["inputs"]["priority"] < p for p in forward_priorities)
    # No rule anywhere hangs off a listener that only redirects.
    serving_arns = {listener["outputs"]["arn"] for listener in serving}
    assert {r["inputs"]["listenerArn"] for r in rules} <= serving_arns


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_app_sg_is_the_only_source_of_db_and_redis_ingress(plans, env: str, stage: str) -> None:
    plan = plans[(env, stage)]
    ids = sg_ids(plan)
    for role, port in (("db", 5432), ("redis", 6379)):
        if role not in ids:
            continue
        rules = [r for r in of_type(plan, INGRESS) if r["inputs"]["securityGroupId"] == ids[role]]
        assert len(rules) == 1, (role, rules)
        rule = rules[0]["inputs"]
        assert rule["referencedSecurityGroupId"] == ids["app"]
        assert (rule["fromPort"], rule["toPort"], rule["ipProtocol"]) == (port, port, "tcp")
        assert "cidrIpv4" not in rule and "prefixListId" not in rule
        # and nothing leaves the data tier's groups
        assert not [r for r in of_type(plan, EGRESS) if r["inputs"]["securityGroupId"] == ids[role]]


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_security_groups_have_no_inline_rules_and_nothing_wider(
    plans, env: str, stage: str
) -> None:
    plan = plans[(env, stage)]
    ids = sg_ids(plan)
    for group in of_type(plan, SG):
        assert not group["inputs"].get("ingress") and not group["inputs"].get("egress")
    open_ingress = [
        (r["name"], r["inputs"]["fromPort"])
        for r in of_type(plan, INGRESS)
        if r["inputs"].get("cidrIpv4") == "0.0.0.0/0"
    ]
    spec = load_stack_config(env, stage).stage
    if spec.edge is not None:
        assert open_ingress == []
    elif spec.web is not None:
        assert open_ingress == [("security-alb-from-internet-http", 80)]
    else:
        assert open_ingress == [("security-app-from-internet", 80)]
    for rule in of_type(plan, INGRESS):
        if rule["inputs"]["securityGroupId"] in (ids.get("app"),) and spec.web is not None:
            assert rule["inputs"]["referencedSecurityGroupId"] == ids["alb"]
    wide_egress = [r for r in of_type(plan, EGRESS) if r["inputs"].get("cidrIpv4")]
    assert [(r["name"], r["inputs"]["fromPort"]) for r in wide_egress] == [
        ("security-app-to-https", 443)
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stage", ["read-replicas", "edge", "scale-5x"])
def test_replicas_point_at_the_primary(plans, env: str, stage: str) -> None:
    plan = plans[(env, stage)]
    primary = one(plan, RDS, "database-primary")
    replicas = [r for r in of_type(plan, RDS) if r["name"] != "database-primary"]
    assert len(replicas) == load_stack_config(env, stage).stage.database.read_replicas
    for replica in replicas:
        assert replica["inputs"]["replicateSourceDb"] in (
            primary["outputs"]["identifier"],
            primary["outputs"]["arn"],
        )
        assert primary["urn"] in replica["dependencies"]


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_user_data_carries_the_stage_endpoints(plans, env: str, stage: str) -> None:
    plan = plans[(env, stage)]
    out = exports(plan)
    texts = user_data(plan)
    assert texts, "every stage runs instances"
    must = [stage, env, "/movies/" + env + "/api"]
    must_not: list[str] = []
    if "db_endpoint" in out:
        must.append(out["db_endpoint"].rsplit(":", 1)[0])
        must.append(out["db_secret_arn"])
    if "db_reader_endpoint" in out:
        must.append(out["db_reader_endpoint"])
    if "redis_primary_endpoint" in out:
        must += [out["redis_primary_endpoint"], out["redis_auth_secret_arn"]]
    else:
        must_not.append("cache.amazonaws.com")
    if "cdn_domain" in out:
        must += [out["media_bucket"], out["cdn_domain"]]
    if "db_endpoint" not in out:
        must_not.append("rds.amazonaws.com")
    for text in texts:
        for needle in must:
            assert needle in text, (needle, stage)
        for needle in must_not:
            assert needle not in text, (needle, stage)
    # Every instance of a stage boots the same release.
    assert len(set(texts)) == 1


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_user_data_lets_the_vpc_read_metrics(plans, env: str, stage: str) -> None:
    """The service's /metrics allow-list is loopback (built in) plus this stack's VPC."""
    vpc = one(plans[(env, stage)], "aws:ec2/vpc:Vpc")
    assert vpc["inputs"]["cidrBlock"] == load_stack_config(env, stage).env.vpc_cidr
    for text in user_data(plans[(env, stage)]):
        [line] = [ln for ln in text.splitlines() if "MOVIES_METRICS_ALLOW_CIDRS=" in ln]
        assert line.strip() == f"MOVIES_METRICS_ALLOW_CIDRS={vpc['inputs']['cidrBlock']}"


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_instance_role_is_scoped(plans, env: str, stage: str) -> None:
    plan = plans[(env, stage)]
    policy = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"])
    for statement in policy["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        assert "*" not in actions and not any(a.endswith(":*") for a in actions)
        assert "*" not in resources
    sids = {s["Sid"] for s in policy["Statement"]}
    out = exports(plan)
    assert ("ReadStageSecrets" in sids) == (
        "db_secret_arn" in out or "redis_auth_secret_arn" in out
    )
    artifact = one(plan, "aws:s3/bucketObjectv2:BucketObjectv2")
    read = next(s for s in policy["Statement"] if s["Sid"] == "ReadRelease")
    assert read["Resource"] == [artifact["outputs"]["arn"]]


BOX_STAGES = [s for s in STAGES if load_stack_config("dev", s).stage.single_box is not None]
UNIT = TEMPLATE_PATH.parent / "movies-api.service"


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stage", BOX_STAGES)
def test_single_box_serves_on_the_port_its_group_opens(plans, env: str, stage: str) -> None:
    """The box's only world-open port is 80, the service listens there, the URL says so."""
    plan = plans[(env, stage)]
    box = one(plan, EC2)
    [group] = box["inputs"]["vpcSecurityGroupIds"]
    world = [
        r["inputs"]["fromPort"]
        for r in of_type(plan, INGRESS)
        if r["inputs"]["securityGroupId"] == group and r["inputs"].get("cidrIpv4") == "0.0.0.0/0"
    ]
    assert world == [80]
    [port] = re.findall(r"^\s*MOVIES_PORT=(\d+)$", box["inputs"]["userData"], re.M)
    assert int(port) == 80
    # A port below 1024 needs the capability: the unit runs as the movies user.
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in UNIT.read_text().splitlines()
    ip = one(plan, "aws:ec2/eip:Eip")["outputs"]["publicIp"]
    assert exports(plan)["url"] == f"http://{ip}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stage", WEB_STAGES)
def test_instances_behind_the_alb_serve_on_the_target_group_port(
    plans, env: str, stage: str
) -> None:
    plan = plans[(env, stage)]
    ports = {tg["inputs"]["port"] for tg in of_type(plan, TG)}
    for text in user_data(plan):
        [port] = re.findall(r"^\s*MOVIES_PORT=(\d+)$", text, re.M)
        assert ports == {int(port)}


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_every_log_group_keeps_the_profile_retention(plans, env: str, stage: str) -> None:
    """The API's and RDS's exported logs alike: the profile's log_retention_days, no default."""
    want = load_stack_config(env, stage).env.log_retention_days
    groups = of_type(plans[(env, stage)], "aws:cloudwatch/logGroup:LogGroup")
    assert groups
    assert {g["name"]: g["inputs"]["retentionInDays"] for g in groups} == {
        g["name"]: want for g in groups
    }
