"""`python -m infra verify STACK`: check a live deployment against what its stage should be.

Run after `pulumi up`. The stack's outputs (`pulumi stack output --json`, or a JSON file)
name the resources (keys in docs/architecture.md, "Stack outputs"); their `environment` and
`stage` select the stage spec (`infra.config.load_stack_config`) that says what to expect.
boto3 then checks, read-only:

- ALB: every target group has at least its ASG's spec minimum of healthy targets; the idle
  timeout is the profile's, shorter than the keep-alive the instances were given;
- ASG: min/max as the spec says, desired within them, latest instance refresh Successful
  (or none): a failed one fails, and so does one still running (Pending, InProgress, Baking);
- single box: the instance is running with passing status checks;
- RDS: primary and replicas available, class, Multi-AZ and replica count as the spec says,
  replica lag (CloudWatch ReplicaLag, maximum over the window) under the threshold;
- Redis: replication group available, node type and count as specified, automatic failover
  and Multi-AZ where the environment expects them;
- CloudFront: distribution deployed and enabled;
- S3: all four public-access-block flags on, bucket policy not public, no public ACL grant;
- alarms: every alarm named in the outputs exists and none is in ALARM.

By default it checks once (for scripts). `--wait [SECONDS]` first waits, polling as botocore's
waiters do (section "waiting" below), until every target group has its fleet's desired count
of healthy targets, every ASG's latest instance refresh is Successful, and RDS and
ElastiCache are available; a failed refresh or a deleted database fails at once, anything
still missing at the deadline (default DEFAULT_DEADLINE_S, 18 min) fails naming it. Then it
checks once. `infra upgrade` runs it that way after `up`.

STACK is the Pulumi stack (`dev`, `prod`) or `ENV/STAGE`; either must agree with the outputs.
boto3 honours `AWS_ENDPOINT_URL` (e.g. moto's server) and the usual credential variables.
Exit status: 0 all checks pass, 1 any check fails, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TextIO

from infra import REPO_ROOT
from infra.config import ENVIRONMENTS, STAGES, ConfigError, StackConfig, load_stack_config
from infra.program.components.instance import READY_SECONDS
from infra.program.outputs import StackOutput

ROOT = REPO_ROOT
# StartInstanceRefresh's statuses (botocore autoscaling service-2.json, InstanceRefreshStatus).
# Cancelling and RollbackInProgress cannot end in Successful: they fail as soon as seen.
REFRESH_DONE = "Successful"
REFRESH_FAILED = frozenset(
    {"Failed", "Cancelling", "Cancelled", "RollbackInProgress", "RollbackFailed",
     "RollbackSuccessful"}
)  # fmt: skip
REFRESH_RUNNING = frozenset({"Pending", "InProgress", "Baking"})
PUBLIC_GRANTEES = {
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}
BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


class InputError(ValueError):
    """Bad arguments or outputs; the message is one line."""


@dataclass(frozen=True)
class Finding:
    area: str
    resource: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Settings:
    max_replica_lag_s: float = 30.0
    lag_window_minutes: int = 10


@cache
def data_loader(data_path: str | None = None) -> Any:
    """One botocore data loader per data path for the process: what a botocore session
    makes for itself, made once (it only reads botocore's bundled JSON). The test
    processes install it as botocore's own factory (tests/conftest.py)."""
    from botocore.loaders import create_loader

    return create_loader(data_path)


def once_each_search_path(loader: Any) -> None:
    """boto3 appends its own data directory to a shared loader's paths for every session
    made over it: each path once is enough."""
    loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))


@cache
def _client(service: str, region: str, endpoint: str | None) -> Any:
    # One client per (service, region, endpoint) for the process: making one parses its
    # service model and endpoint rules, which costs far more than the calls verify makes.
    # Each client still gets a new session (credentials and config read now), but the
    # sessions share one data loader, the one part that only reads botocore's bundled JSON:
    # a new loader per session parsed endpoints.json (1.2 MB), the partitions and the SDK
    # defaults again for every client (8 clients: ~1.5 -> ~0.65 CPU-s).
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    loader = data_loader(core.get_config_variable("data_path"))
    core.register_component("data_loader", loader)
    session = boto3.session.Session(botocore_session=core)
    once_each_search_path(loader)
    return session.client(service, region_name=region, endpoint_url=endpoint)


class Clients:
    """boto3 clients in the stack's region (or another, e.g. us-east-1 for CloudFront)."""

    def __init__(self, region: str) -> None:
        self.region = region

    def __call__(self, service: str, region: str | None = None) -> Any:
        # boto3 reads AWS_ENDPOINT_URL itself; passing it explicitly keeps the cache key honest.
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
        return _client(service, region or self.region, endpoint)


def _aws_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', '?')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


# --- outputs ----------------------------------------------------------------------------


def load_outputs_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--outputs {str(path)!r}: cannot read: {exc.strerror}") from exc
    return parse_outputs(text, f"--outputs {str(path)!r}")


def pulumi_outputs(stack: str, cwd: Path = ROOT) -> dict[str, Any]:
    cmd = ["pulumi", "stack", "output", "--json", "--stack", stack]
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    except FileNotFoundError as exc:
        raise InputError(
            "--from-pulumi: the pulumi CLI is not on PATH; use --outputs FILE"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"--from-pulumi: `{' '.join(cmd)}` took over 120 s") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise InputError(f"--from-pulumi: `{' '.join(cmd)}` failed: {last}")
    return parse_outputs(done.stdout, "pulumi stack output")


def parse_outputs(text: str, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(doc, dict):
        raise InputError(
            f"{where}: expected a JSON object of stack outputs, got {type(doc).__name__}"
        )
    return doc


def stack_config(stack: str, outputs: Mapping[str, Any]) -> StackConfig:
    """The stage spec the outputs claim, checked against the STACK argument."""
    for key, allowed in ((StackOutput.ENVIRONMENT, ENVIRONMENTS), (StackOutput.STAGE, STAGES)):
        value = outputs.get(key)
        if value not in allowed:
            raise InputError(
                f"outputs.{key}: {value!r}; allowed: {', '.join(allowed)} "
                "(the stack must export it, see docs/architecture.md)"
            )
    env, stage = outputs[StackOutput.ENVIRONMENT], outputs[StackOutput.STAGE]
    wanted = stack.split("/") if "/" in stack else [stack]
    if len(wanted) == 2 and wanted != [env, stage]:
        raise InputError(f"STACK {stack!r}: the outputs are for {env}/{stage}")
    if len(wanted) == 1 and wanted[0] in ENVIRONMENTS and wanted[0] != env:
        raise InputError(f"STACK {stack!r}: the outputs are for environment {env!r}")
    try:
        return load_stack_config(env, stage)
    except ConfigError as exc:
        raise InputError(str(exc)) from exc


def _list(outputs: Mapping[str, Any], key: str) -> list[str]:
    value = outputs.get(key) or []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):  # a role -> value map is accepted as well as a list
        return [str(v) for v in value.values()]
    return [str(v) for v in value]


def check_outputs(outputs: Mapping[str, Any], cfg: StackConfig) -> list[Finding]:
    stage = cfg.stage
    db = stage.database
    needed = {
        StackOutput.ALARM_NAMES: True,
        StackOutput.INSTANCE_ID: stage.single_box is not None,
        StackOutput.ALB_ARN: stage.web is not None,
        StackOutput.TARGET_GROUP_ARNS: stage.web is not None,
        StackOutput.ASG_NAMES: stage.web is not None,
        StackOutput.DB_PRIMARY_IDENTIFIER: db is not None,
        StackOutput.DB_REPLICA_IDENTIFIERS: db is not None and db.read_replicas > 0,
        StackOutput.REDIS_REPLICATION_GROUP_ID: stage.cache is not None,
        StackOutput.MEDIA_BUCKET: stage.storage is not None,
        StackOutput.CDN_DISTRIBUTION_ID: stage.edge is not None,
    }
    missing = [k for k, want in needed.items() if want and not outputs.get(k)]
    return [
        Finding("outputs", key.value, False, f"missing: stage {stage.name} should export it")
        for key in missing
    ]


# --- checks -----------------------------------------------------------------------------

Check = Callable[[Clients, Mapping[str, Any], StackConfig, Settings], list[Finding]]


def _role(group: Mapping[str, Any]) -> str:
    name = next((t["Value"] for t in group.get("Tags", []) if t.get("Key") == "Name"), "")
    return "search" if name.endswith("-search") else "web"


def check_asgs(clients: Clients, outputs: Mapping[str, Any], cfg: StackConfig, _: Settings):
    names = _list(outputs, StackOutput.ASG_NAMES)
    if not names:
        return []
    asg = clients("autoscaling")
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=names)["AutoScalingGroups"]
    found = {g["AutoScalingGroupName"]: g for g in groups}
    findings = [Finding("asg", n, False, "not found") for n in names if n not in found]
    for name, group in found.items():
        tier = cfg.stage.search if _role(group) == "search" else cfg.stage.web
        low, high, want = group["MinSize"], group["MaxSize"], group["DesiredCapacity"]
        ok = low <= want <= high
        findings.append(
            Finding(
                "asg", name, ok, f"desired {want} {'within' if ok else 'outside'} {low}..{high}"
            )
        )
        if tier is not None and (low, high) != (tier.min_size, tier.max_size):
            findings.append(
                Finding(
                    "asg",
                    name,
                    False,
                    f"size {low}..{high}; the spec says {tier.min_size}..{tier.max_size}",
                )
            )
        findings.append(_instance_refresh(asg, name))
        findings += _target_health(clients, group, tier.min_size if tier else 1)
    return findings


def latest_refresh(asg: Any, name: str) -> dict[str, Any] | None:
    """The group's newest instance refresh, or None when it never had one. An older refresh
    (a previous deployment's, superseded or failed) says nothing about this one."""
    # AWS returns the refreshes newest first (sorted by creation time, descending).
    refreshes = asg.describe_instance_refreshes(AutoScalingGroupName=name, MaxRecords=1)
    items = refreshes.get("InstanceRefreshes", [])
    return items[0] if items else None


def latest_refresh_status(asg: Any, name: str) -> str | None:
    refresh = latest_refresh(asg, name)
    return refresh.get("Status") if refresh else None


def _instance_refresh(asg: Any, name: str) -> Finding:
    try:
        status = latest_refresh_status(asg, name)
    except Exception as exc:  # any API failure is a failed check, reported in one line
        return Finding("asg", name, False, f"instance refreshes unreadable: {_aws_error(exc)}")
    if status in REFRESH_FAILED:
        return Finding("asg", name, False, f"latest instance refresh {status}")
    if status in REFRESH_RUNNING:
        # The fleet may still run the previous stage's launch template: not done yet.
        return Finding(
            "asg", name, False, f"latest instance refresh {status}: not finished (use --wait)"
        )
    return Finding("asg", name, True, f"latest instance refresh: {status or 'none'}")


def _target_health(clients: Clients, group: Mapping[str, Any], minimum: int) -> list[Finding]:
    elb = clients("elbv2")
    findings = []
    for arn in group.get("TargetGroupARNs", []):
        states = [
            d["TargetHealth"]["State"]
            for d in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        ]
        healthy = states.count("healthy")
        others = ", ".join(sorted({s for s in states if s != "healthy"})) or "none"
        findings.append(
            Finding(
                "alb",
                arn.rsplit(":", 1)[-1],
                healthy >= minimum,
                f"{healthy} healthy of {len(states)} (minimum {minimum}); other states: {others}",
            )
        )
    return findings


def check_target_groups(
    clients: Clients, outputs: Mapping[str, Any], cfg: StackConfig, _: Settings
):
    """Every target group in the outputs must be served by one of the stack's ASGs."""
    arns = _list(outputs, StackOutput.TARGET_GROUP_ARNS)
    if not arns:
        return []
    groups = (
        clients("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=_list(outputs, StackOutput.ASG_NAMES)
        )["AutoScalingGroups"]
        if _list(outputs, StackOutput.ASG_NAMES)
        else []
    )
    attached = {arn for g in groups for arn in g.get("TargetGroupARNs", [])}
    findings = [
        Finding("alb", arn.rsplit(":", 1)[-1], False, "no ASG of the stack registers into it")
        for arn in arns
        if arn not in attached
    ]
    alb = outputs.get(StackOutput.ALB_ARN)
    if alb:
        lbs = clients("elbv2").describe_load_balancers(LoadBalancerArns=[alb])["LoadBalancers"]
        state = lbs[0]["State"]["Code"] if lbs else "missing"
        findings.append(Finding("alb", alb.rsplit("/", 2)[-2], state == "active", f"state {state}"))
        if lbs:
            findings.append(_idle_timeout(clients, alb, cfg))
    return findings


# The ALB's idle timeout when the attribute was never set (ELB guide, "Edit load balancer
# attributes": connection idle timeout, default 60 seconds).
ALB_DEFAULT_IDLE_TIMEOUT_S = 60


def _idle_timeout(clients: Clients, alb: str, cfg: StackConfig) -> Finding:
    """The ALB must close idle connections before the targets do, or it answers 502."""
    attrs = clients("elbv2").describe_load_balancer_attributes(LoadBalancerArn=alb)
    values = {a["Key"]: a["Value"] for a in attrs.get("Attributes", [])}
    idle = int(values.get("idle_timeout.timeout_seconds", ALB_DEFAULT_IDLE_TIMEOUT_S))
    want, keepalive = cfg.env.alb_idle_timeout_s, cfg.env.http_keepalive_s
    ok = idle == want and keepalive > idle
    return Finding(
        "alb",
        alb.rsplit("/", 2)[-2],
        ok,
        f"idle timeout {idle} s (profile {want} s); the service keeps connections {keepalive} s",
    )


def check_instance(clients: Clients, outputs: Mapping[str, Any], cfg: StackConfig, _: Settings):
    instance_id = outputs.get(StackOutput.INSTANCE_ID)
    box = cfg.stage.single_box
    if not instance_id or box is None:
        return []
    ec2 = clients("ec2")
    found = [
        i
        for r in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        for i in r["Instances"]
    ]
    if not found:
        return [Finding("ec2", instance_id, False, "not found")]
    inst = found[0]
    state = inst["State"]["Name"]
    findings = [
        Finding("ec2", instance_id, state == "running", f"state {state}"),
        Finding(
            "ec2",
            instance_id,
            inst["InstanceType"] == box.instance_type,
            f"type {inst['InstanceType']} (spec {box.instance_type})",
        ),
    ]
    statuses = ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"]
    if statuses:
        sys_ok = statuses[0]["SystemStatus"]["Status"]
        inst_ok = statuses[0]["InstanceStatus"]["Status"]
        good = sys_ok in {"ok", "initializing"} and inst_ok in {"ok", "initializing"}
        findings.append(Finding("ec2", instance_id, good, f"status checks {sys_ok}/{inst_ok}"))
    return findings


def _db(rds: Any, identifier: str) -> dict[str, Any] | None:
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except Exception as exc:
        if _error_code(exc) == "DBInstanceNotFound":
            return None
        raise


def replica_lag(clients: Clients, identifier: str, settings: Settings) -> float | None:
    """The maximum ReplicaLag (seconds) over the window; None when CloudWatch has none."""
    # A minute past now: the newest datapoint counts whatever the clock's sub-second part.
    end = datetime.now(UTC) + timedelta(minutes=1)
    stats = clients("cloudwatch").get_metric_statistics(
        Namespace="AWS/RDS",
        MetricName="ReplicaLag",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": identifier}],
        StartTime=end - timedelta(minutes=settings.lag_window_minutes + 1),
        EndTime=end,
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return max((p["Maximum"] for p in stats), default=None)


def check_rds(clients: Clients, outputs: Mapping[str, Any], cfg: StackConfig, settings: Settings):
    spec = cfg.stage.database
    primary_id = outputs.get(StackOutput.DB_PRIMARY_IDENTIFIER)
    if spec is None or not primary_id:
        return []
    rds = clients("rds")
    primary = _db(rds, primary_id)
    if primary is None:
        return [Finding("rds", primary_id, False, "not found")]
    status = primary["DBInstanceStatus"]
    findings = [
        Finding("rds", primary_id, status == "available", f"status {status}"),
        Finding(
            "rds",
            primary_id,
            primary["DBInstanceClass"] == spec.instance_class,
            f"class {primary['DBInstanceClass']} (spec {spec.instance_class})",
        ),
        Finding(
            "rds",
            primary_id,
            bool(primary.get("MultiAZ")) == cfg.env.multi_az,
            f"Multi-AZ {bool(primary.get('MultiAZ'))} (expected {cfg.env.multi_az})",
        ),
    ]
    replica_ids = _list(outputs, StackOutput.DB_REPLICA_IDENTIFIERS)
    findings.append(
        Finding(
            "rds",
            primary_id,
            len(replica_ids) == spec.read_replicas,
            f"{len(replica_ids)} replicas in the outputs (spec {spec.read_replicas})",
        )
    )
    for rid in replica_ids:
        findings += _replica(clients, rds, rid, primary_id, settings)
    return findings


def _replica(clients: Clients, rds: Any, rid: str, primary_id: str, settings: Settings):
    replica = _db(rds, rid)
    if replica is None:
        return [Finding("rds", rid, False, "replica not found")]
    status = replica["DBInstanceStatus"]
    source = replica.get("ReadReplicaSourceDBInstanceIdentifier") or ""
    findings = [
        Finding("rds", rid, status == "available", f"replica status {status}"),
        # The source may be reported as an ARN when it is in another region.
        Finding(
            "rds",
            rid,
            source.split(":")[-1] == primary_id,
            f"replicates {source or 'nothing'} (expected {primary_id})",
        ),
    ]
    lag = replica_lag(clients, rid, settings)
    if lag is None:
        findings.append(
            Finding(
                "rds",
                rid,
                False,
                f"no ReplicaLag datapoint in the last {settings.lag_window_minutes} min",
            )
        )
    else:
        findings.append(
            Finding(
                "rds",
                rid,
                lag <= settings.max_replica_lag_s,
                f"max ReplicaLag {lag:g} s (threshold {settings.max_replica_lag_s:g} s)",
            )
        )
    return findings


def check_redis(clients: Clients, outputs: Mapping[str, Any], cfg: StackConfig, _: Settings):
    spec = cfg.stage.cache
    group_id = outputs.get(StackOutput.REDIS_REPLICATION_GROUP_ID)
    if spec is None or not group_id:
        return []
    try:
        groups = clients("elasticache").describe_replication_groups(ReplicationGroupId=group_id)[
            "ReplicationGroups"
        ]
    except Exception as exc:
        if _error_code(exc) == "ReplicationGroupNotFoundFault":
            return [Finding("redis", group_id, False, "not found")]
        raise
    group = groups[0]
    status = group["Status"]
    members = len(group.get("MemberClusters", []))
    node_type = group.get("CacheNodeType", "?")
    failover = group.get("AutomaticFailover", "disabled")
    findings = [
        Finding("redis", group_id, status == "available", f"status {status}"),
        Finding(
            "redis",
            group_id,
            node_type == spec.node_type,
            f"node type {node_type} (spec {spec.node_type})",
        ),
        Finding(
            "redis",
            group_id,
            members == spec.node_count,
            f"{members} nodes (spec {spec.node_count})",
        ),
    ]
    if cfg.env.multi_az:
        findings.append(
            Finding(
                "redis",
                group_id,
                failover == "enabled",
                f"automatic failover {failover} (expected enabled in {cfg.env.name})",
            )
        )
        multi = group.get("MultiAZ", "disabled")
        findings.append(
            Finding(
                "redis",
                group_id,
                multi == "enabled",
                f"Multi-AZ {multi} (expected enabled in {cfg.env.name})",
            )
        )
    return findings


def check_cloudfront(clients: Clients, outputs: Mapping[str, Any], cfg: StackConfig, _: Settings):
    dist_id = outputs.get(StackOutput.CDN_DISTRIBUTION_ID)
    if cfg.stage.edge is None or not dist_id:
        return []
    try:
        dist = clients("cloudfront", "us-east-1").get_distribution(Id=dist_id)["Distribution"]
    except Exception as exc:
        if _error_code(exc) == "NoSuchDistribution":
            return [Finding("cloudfront", dist_id, False, "not found")]
        raise
    status = dist["Status"]
    enabled = dist["DistributionConfig"]["Enabled"]
    return [
        Finding("cloudfront", dist_id, status == "Deployed", f"status {status}"),
        Finding("cloudfront", dist_id, bool(enabled), f"enabled {enabled}"),
    ]


def check_bucket(clients: Clients, outputs: Mapping[str, Any], cfg: StackConfig, _: Settings):
    bucket = outputs.get(StackOutput.MEDIA_BUCKET)
    if cfg.stage.storage is None or not bucket:
        return []
    s3 = clients("s3")
    findings = []
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        off = [flag for flag in BLOCK_FLAGS if not block.get(flag)]
        detail = "all four flags on" if not off else f"off: {', '.join(off)}"
        findings.append(Finding("s3", bucket, not off, f"public access block {detail}"))
    except Exception as exc:
        if _error_code(exc) == "NoSuchBucket":
            return [Finding("s3", bucket, False, "not found")]
        if _error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
            raise
        findings.append(Finding("s3", bucket, False, "no public access block"))
    try:
        public = s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"]
        findings.append(
            Finding("s3", bucket, not public, f"policy is {'' if public else 'not '}public")
        )
    except Exception as exc:
        if _error_code(exc) != "NoSuchBucketPolicy":
            raise
        findings.append(Finding("s3", bucket, True, "no bucket policy"))
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    open_to = sorted(
        g["Grantee"].get("URI", "").rsplit("/", 1)[-1]
        for g in grants
        if g["Grantee"].get("URI") in PUBLIC_GRANTEES
    )
    findings.append(
        Finding(
            "s3",
            bucket,
            not open_to,
            f"ACL grants to {', '.join(open_to)}" if open_to else "ACL grants no public group",
        )
    )
    return findings


def check_alarms(clients: Clients, outputs: Mapping[str, Any], cfg: StackConfig, _: Settings):
    names = _list(outputs, StackOutput.ALARM_NAMES)
    if not names:
        return []
    found: dict[str, dict[str, Any]] = {}
    # CloudFront's alarm lives in us-east-1 whatever the stack's region.
    regions = [clients.region] + (["us-east-1"] if clients.region != "us-east-1" else [])
    for region in regions:
        cw = clients("cloudwatch", region)
        wanted = [n for n in names if n not in found]
        for i in range(0, len(wanted), 100):  # DescribeAlarms takes at most 100 names
            page = cw.describe_alarms(
                AlarmNames=wanted[i : i + 100], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                found[alarm["AlarmName"]] = alarm
    findings = []
    for name in names:
        alarm = found.get(name)
        if alarm is None:
            findings.append(Finding("alarms", name, False, "missing"))
        else:
            state = alarm["StateValue"]
            findings.append(Finding("alarms", name, state != "ALARM", f"state {state}"))
    return findings


CHECKS: tuple[tuple[str, Check], ...] = (
    ("ec2", check_instance),
    ("alb", check_target_groups),
    ("asg", check_asgs),
    ("rds", check_rds),
    ("redis", check_redis),
    ("cloudfront", check_cloudfront),
    ("s3", check_bucket),
    ("alarms", check_alarms),
)


def verify(
    outputs: Mapping[str, Any],
    cfg: StackConfig,
    clients: Clients,
    settings: Settings | None = None,
) -> list[Finding]:
    """Every finding for the deployment; an API error fails its check, never the run."""
    settings = settings or Settings()
    findings = check_outputs(outputs, cfg)
    for area, check in CHECKS:
        try:
            findings += check(clients, outputs, cfg, settings)
        except Exception as exc:
            findings.append(Finding(area, "-", False, f"could not check: {_aws_error(exc)}"))
    order = ["outputs", *(area for area, _ in CHECKS)]
    return sorted(findings, key=lambda f: order.index(f.area))  # stable: keeps each area's order


# --- waiting until the stage is really up ----------------------------------------------
#
# `pulumi up` returns before the stage serves: the provider's ASG create waits for
# instances InService (terraform-provider-aws, website/docs/r/autoscaling_group.html.markdown,
# "Waiting for Capacity": ELB health only with wait_for_elb_capacity / min_elb_capacity, which
# the program does not set), and an update starts an instance refresh without waiting for
# it. So after `up` verify polls, the way botocore's waiters do (botocore/waiter.py,
# Waiter.wait: call, match the acceptors, success / failure / retry, sleep `delay`, give up
# after `maxAttempts`), until every condition below holds, one fails for good, or the
# deadline passes. The acceptors are those of botocore's waiters-2 models (botocore 1.44.18,
# boto/botocore, botocore/data/<service>/<version>/waiters-2.json):


@dataclass(frozen=True)
class WaiterModel:
    """One botocore waiter: its timing and its terminal states, copied from the model."""

    name: str  # the boto3 name, client.get_waiter(name)
    service: str
    delay_s: int
    max_attempts: int
    success: str  # the pathAll "success" value
    failure: frozenset[str]  # pathAny "failure" values
    retry_errors: frozenset[str] = frozenset()  # "error" acceptors with state "retry"

    @property
    def budget_s(self) -> int:
        return self.delay_s * self.max_attempts


# elbv2/2015-12-01/waiters-2.json, TargetInService: DescribeTargetHealth, delay 15,
# maxAttempts 40; success when TargetHealthDescriptions[].TargetHealth.State are all
# "healthy"; the error InvalidInstance retries. It waits for the targets it is given; here
# the count that must be healthy is the fleet's, the ASG's desired capacity.
TARGET_IN_SERVICE = WaiterModel(
    "target_in_service", "elbv2", 15, 40, "healthy", frozenset(), frozenset({"InvalidInstance"})
)
# rds/2014-10-31/waiters-2.json, DBInstanceAvailable: DescribeDBInstances, delay 30,
# maxAttempts 60; success when all DBInstances[].DBInstanceStatus are "available", failure
# when any is deleted, deleting, failed, incompatible-restore or incompatible-parameters.
DB_INSTANCE_AVAILABLE = WaiterModel(
    "db_instance_available", "rds", 30, 60, "available",
    frozenset({"deleted", "deleting", "failed", "incompatible-restore",
               "incompatible-parameters"}),
)  # fmt: skip
# elasticache/2015-02-02/waiters-2.json, ReplicationGroupAvailable: DescribeReplicationGroups,
# delay 15, maxAttempts 40; success when ReplicationGroups[].Status are all "available",
# failure when any is "deleted".
REPLICATION_GROUP_AVAILABLE = WaiterModel(
    "replication_group_available", "elasticache", 15, 40, "available", frozenset({"deleted"})
)
WAITERS = (TARGET_IN_SERVICE, DB_INSTANCE_AVAILABLE, REPLICATION_GROUP_AVAILABLE)
# One poll reads every condition, so it runs at the shortest of the waiters' delays.
POLL_DELAY_S = min(w.delay_s for w in WAITERS)
# Auto Scaling has no waiter for instance refreshes (botocore ships no autoscaling
# waiters-2.json); the statuses are REFRESH_DONE / REFRESH_RUNNING / REFRESH_FAILED above.

# The default deadline, from the program's own timing: an instance is given READY_SECONDS
# (boot plus two passing health checks) as both the ASG's health-check grace period and the
# instance refresh's warm-up (web_tier.py). A rollout in which one new instance fails its
# first boot takes two of them, plus under a minute of unhealthy detection (3 checks x 15 s)
# and draining (deregistration_delay 30 s, load_balancer.py). The deadline is twice that
# path, 4 x READY_SECONDS rounded up to whole minutes (18 min today): room for AWS starting
# the refresh late or a second bad boot; past it, something is wrong, not slow. It is longer
# than the elbv2 and elasticache waiters' budgets (600 s) and shorter than RDS's (1,800 s):
# the provider already waited for RDS and ElastiCache to be available during `up`.
DEFAULT_DEADLINE_S = math.ceil(4 * READY_SECONDS / 60) * 60

READY, WAITING, FAILED = "ready", "waiting", "failed"


@dataclass(frozen=True)
class Condition:
    """One thing the wait is for, as the last poll saw it."""

    area: str
    resource: str
    state: str  # READY | WAITING | FAILED
    detail: str

    def line(self) -> str:
        return f"{self.area} {self.resource}: {self.detail}"


@dataclass(frozen=True)
class WaitSettings:
    deadline_s: float = DEFAULT_DEADLINE_S
    delay_s: float = POLL_DELAY_S


@dataclass(frozen=True)
class WaitOutcome:
    ready: bool
    polls: int
    elapsed_s: float
    deadline_s: float
    conditions: tuple[Condition, ...]  # the last poll's

    def pending(self) -> list[Condition]:
        return [c for c in self.conditions if c.state != READY]

    def findings(self) -> list[Finding]:
        """What the wait ended on, as failed findings (empty when ready)."""
        timed_out = self.elapsed_s >= self.deadline_s
        at = f"at the deadline {_clock(self.deadline_s)}" if timed_out else (
            f"still waiting when the wait stopped at {_clock(self.elapsed_s)}"
        )  # fmt: skip
        return [
            Finding(
                "wait",
                c.resource,
                False,
                f"{c.area}: {c.detail}" + (f" ({at})" if c.state == WAITING else ""),
            )
            for c in self.pending()
        ]


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def status_condition(area: str, resource: str, status: str, waiter: WaiterModel) -> Condition:
    if status == waiter.success:
        return Condition(area, resource, READY, f"status {status}")
    if status in waiter.failure:
        return Condition(
            area, resource, FAILED, f"status {status} (cannot become {waiter.success})"
        )
    return Condition(area, resource, WAITING, f"status {status}, waiting for {waiter.success}")


def _target_condition(elb: Any, arn: str, desired: int) -> Condition:
    name = arn.rsplit(":", 1)[-1]
    try:
        found = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    except Exception as exc:
        if _error_code(exc) in TARGET_IN_SERVICE.retry_errors:
            return Condition("alb", name, WAITING, f"targets not readable yet ({_aws_error(exc)})")
        raise
    states = Counter(d["TargetHealth"]["State"] for d in found)
    healthy = states.pop(TARGET_IN_SERVICE.success, 0)
    others = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    detail = f"{healthy} healthy of {desired} desired" + (f"; {others}" if others else "")
    return Condition("alb", name, READY if healthy >= desired else WAITING, detail)


def _refresh_condition(asg: Any, name: str) -> Condition:
    refresh = latest_refresh(asg, name)
    if refresh is None:
        return Condition("asg", name, READY, "no instance refresh")
    status = str(refresh.get("Status"))
    if status == REFRESH_DONE:
        return Condition("asg", name, READY, f"instance refresh {status}")
    if status in REFRESH_FAILED:
        reason = refresh.get("StatusReason") or "no reason given"
        return Condition("asg", name, FAILED, f"instance refresh {status}: {reason}")
    if status in REFRESH_RUNNING:
        done = refresh.get("PercentageComplete")
        share = f", {done}% done" if done is not None else ""
        return Condition("asg", name, WAITING, f"instance refresh {status}{share}")
    allowed = ", ".join(sorted({REFRESH_DONE, *REFRESH_RUNNING, *REFRESH_FAILED}))
    return Condition("asg", name, FAILED, f"instance refresh status {status!r}; known: {allowed}")


def fleet_conditions(clients: Clients, outputs: Mapping[str, Any]) -> list[Condition]:
    """Each target group: its fleet's desired count healthy; each ASG: its refresh done."""
    names = _list(outputs, StackOutput.ASG_NAMES)
    if not names:
        return []
    asg = clients("autoscaling")
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=names)["AutoScalingGroups"]
    found = {g["AutoScalingGroupName"]: g for g in groups}
    conditions = [Condition("asg", n, FAILED, "not found") for n in names if n not in found]
    desired: dict[str, int] = {}
    for group in found.values():
        for arn in group.get("TargetGroupARNs", []):
            desired[arn] = desired.get(arn, 0) + int(group["DesiredCapacity"])
    conditions += [
        Condition("alb", arn.rsplit(":", 1)[-1], FAILED, "no ASG of the stack registers into it")
        for arn in _list(outputs, StackOutput.TARGET_GROUP_ARNS)
        if arn not in desired
    ]
    elb = clients("elbv2")
    conditions += [_target_condition(elb, arn, want) for arn, want in desired.items()]
    return conditions + [_refresh_condition(asg, name) for name in found]


def database_conditions(clients: Clients, outputs: Mapping[str, Any]) -> list[Condition]:
    primary = outputs.get(StackOutput.DB_PRIMARY_IDENTIFIER)
    ids = ([str(primary)] if primary else []) + _list(outputs, StackOutput.DB_REPLICA_IDENTIFIERS)
    rds = clients("rds") if ids else None
    conditions = []
    for identifier in ids:
        db = _db(rds, identifier)
        if db is None:
            conditions.append(Condition("rds", identifier, FAILED, "not found"))
        else:
            status = db["DBInstanceStatus"]
            conditions.append(status_condition("rds", identifier, status, DB_INSTANCE_AVAILABLE))
    return conditions


def cache_conditions(clients: Clients, outputs: Mapping[str, Any]) -> list[Condition]:
    group_id = outputs.get(StackOutput.REDIS_REPLICATION_GROUP_ID)
    if not group_id:
        return []
    try:
        group = clients("elasticache").describe_replication_groups(ReplicationGroupId=group_id)[
            "ReplicationGroups"
        ][0]
    except Exception as exc:
        if _error_code(exc) == "ReplicationGroupNotFoundFault":
            return [Condition("redis", group_id, FAILED, "not found")]
        raise
    return [status_condition("redis", group_id, group["Status"], REPLICATION_GROUP_AVAILABLE)]


Probe = Callable[[Clients, Mapping[str, Any]], list[Condition]]
PROBES: tuple[tuple[str, Probe], ...] = (
    ("alb/asg", fleet_conditions),
    ("rds", database_conditions),
    ("redis", cache_conditions),
)


def readiness(clients: Clients, outputs: Mapping[str, Any]) -> list[Condition]:
    """One poll. An API error no waiter acceptor names fails at once, as in botocore."""
    conditions: list[Condition] = []
    for area, probe in PROBES:
        try:
            conditions += probe(clients, outputs)
        except Exception as exc:
            conditions.append(Condition(area, "-", FAILED, f"could not check: {_aws_error(exc)}"))
    return conditions


def wait_until_ready(
    clients: Clients,
    outputs: Mapping[str, Any],
    settings: WaitSettings,
    progress: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitOutcome:
    """Poll until every condition is ready (success), one has failed (failure at once), or
    the deadline has passed with some still waiting (failure naming them)."""
    start, polls = clock(), 0
    while True:
        conditions = tuple(readiness(clients, outputs))
        polls += 1
        elapsed = clock() - start
        waiting = [c for c in conditions if c.state == WAITING]
        failed = any(c.state == FAILED for c in conditions)
        if failed or not waiting or elapsed >= settings.deadline_s:
            ready = not failed and not waiting
            return WaitOutcome(ready, polls, elapsed, settings.deadline_s, conditions)
        progress(
            f"waiting {_clock(elapsed)} of {_clock(settings.deadline_s)}: "
            f"{len(waiting)} not ready: " + "; ".join(c.line() for c in waiting)
        )
        # The last poll lands on the deadline itself, not a delay past it.
        sleep(min(settings.delay_s, settings.deadline_s - elapsed))


def wait_summary(outcome: WaitOutcome) -> str:
    took = f"{_clock(outcome.elapsed_s)} ({outcome.polls} polls)"
    if outcome.ready:
        return f"ready after {took}"
    pending = outcome.pending()
    if any(c.state == FAILED for c in pending):
        head = f"failed after {took}"
    else:
        head = f"not ready at the deadline {_clock(outcome.deadline_s)}, after {took}"
    return f"{head}: " + "; ".join(c.line() for c in pending)


# --- command line -----------------------------------------------------------------------


def render(findings: Iterable[Finding], title: str, console: Any) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("area", "resource", "result", "detail"):
        table.add_column(col, overflow="fold")
    for f in findings:
        table.add_row(f.area, f.resource, "[green]PASS[/]" if f.ok else "[red]FAIL[/]", f.detail)
    console.print(table)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; allowed: seconds > 0"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}; allowed: seconds > 0")
    return value


def wait_for(
    cfg: StackConfig,
    outputs: Mapping[str, Any],
    clients: Clients,
    wait: WaitSettings,
    out: TextIO,
) -> WaitOutcome:
    """The waiting mode with its progress lines on `out`."""

    def say(line: str) -> None:
        print(f"verify: {line}", file=out, flush=True)

    say(
        f"{cfg.name}: waiting up to {_clock(wait.deadline_s)} (a poll every {wait.delay_s:g} s) "
        "for healthy targets, finished instance refreshes, RDS and Redis available"
    )
    outcome = wait_until_ready(clients, outputs, wait, say)
    say(wait_summary(outcome))
    return outcome


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str]) -> int:
    parser = _Parser(
        prog="python -m infra verify",
        description="Check a live deployment against its stage (read-only boto3 calls).",
    )
    parser.add_argument("stack", metavar="STACK", help="Pulumi stack (dev, prod) or ENV/STAGE")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--outputs", type=Path, help="JSON file of `pulumi stack output --json`")
    source.add_argument("--from-pulumi", action="store_true", help="run `pulumi stack output`")
    parser.add_argument("--region", help="AWS region (default: the environment profile's)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument(
        "--max-replica-lag",
        type=_positive_float,
        default=30.0,
        help="seconds of ReplicaLag allowed (default 30)",
    )
    parser.add_argument(
        "--wait",
        type=_positive_float,
        nargs="?",
        const=float(DEFAULT_DEADLINE_S),
        metavar="SECONDS",
        help=(
            "first wait until targets are healthy, instance refreshes Successful, RDS and "
            f"Redis available (deadline default {DEFAULT_DEADLINE_S} s); without it, one check"
        ),
    )
    parser.add_argument(
        "--poll",
        type=_positive_float,
        default=float(POLL_DELAY_S),
        metavar="SECONDS",
        help=f"seconds between polls with --wait (default {POLL_DELAY_S}, the waiters' delay)",
    )
    args = parser.parse_args(argv)
    try:
        if args.outputs is not None:
            outputs = load_outputs_file(args.outputs)
        else:
            outputs = pulumi_outputs(args.stack.split("/")[0])
        cfg = stack_config(args.stack, outputs)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    region = args.region or cfg.env.region
    clients, settings = Clients(region), Settings(max_replica_lag_s=args.max_replica_lag)
    outcome = None
    if args.wait is not None:
        # With --json, stdout is the document: progress goes to stderr.
        out = sys.stderr if args.json else sys.stdout
        outcome = wait_for(cfg, outputs, clients, WaitSettings(args.wait, args.poll), out)
    if outcome is None or outcome.ready:
        findings = verify(outputs, cfg, clients, settings)
    else:  # the checks would only repeat what the wait found missing
        findings = check_outputs(outputs, cfg) + outcome.findings()
    from rich.console import Console

    failed = [f for f in findings if not f.ok]
    if args.json:
        doc: dict[str, Any] = {"stack": cfg.name, "region": region, "failed": len(failed),
                               "findings": [asdict(f) for f in findings]}  # fmt: skip
        if outcome is not None:
            doc["wait"] = {
                "ready": outcome.ready,
                "polls": outcome.polls,
                "elapsed_s": round(outcome.elapsed_s, 3),
                "deadline_s": outcome.deadline_s,
                "pending": [asdict(c) for c in outcome.pending()],
            }
        print(json.dumps(doc, indent=2))
        return 1 if failed else 0
    console = Console(width=max(Console().width, 120))
    render(findings, f"verify {cfg.name} in {region}", console)
    verdict = "[green]all passed[/]" if not failed else f"[red]{len(failed)} failed[/]"
    console.print(f"{len(findings)} checks, {verdict}")
    return 1 if failed else 0
