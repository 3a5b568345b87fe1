"""`infra verify` against resources created in moto: a healthy deployment passes, and each
broken thing, one at a time, is caught."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from moto.moto_api import state_manager

from infra import verify
from infra.config import StackConfig, load_stack_config
from infra.verify import Clients, Finding, Settings

from .moto_stack import _client, deploy, one_kms_key_pair_per_spec, put_replica_lag

# No server, but long enough that xdist should start it early (tests/conftest.py).
pytestmark = pytest.mark.wall(10)  # seconds alone

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(key, value)
    one_kms_key_pair_per_spec(monkeypatch)
    # In-process moto intercepts calls to AWS's own endpoints; a custom endpoint would bypass it.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def refresh_status(monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    """moto 5.2.5 does not implement DescribeInstanceRefreshes, so the API call is replaced
    by this answer; what verify makes of each status is still the code under test."""
    answer: dict[str, str | None] = {"status": "Successful"}
    monkeypatch.setattr(verify, "latest_refresh_status", lambda asg, name: answer["status"])
    return answer


class Deployed:
    def __init__(self, cfg: StackConfig, outputs: dict[str, Any]) -> None:
        self.cfg = cfg
        self.outputs = outputs

    def run(self) -> list[Finding]:
        return verify.verify(self.outputs, self.cfg, Clients(REGION), Settings())

    def failures(self) -> list[Finding]:
        return [f for f in self.run() if not f.ok]

    def client(self, service: str) -> Any:
        # moto_stack's client cache: inside mock_aws() boto3.client() makes a new default
        # session each time, which parses the service model again (~0.1 s a call).
        return _client(service, REGION)


@pytest.fixture
def prod_5x(refresh_status) -> Iterator[Deployed]:
    with mock_aws():
        cfg = load_stack_config("prod", "scale-5x")
        yield Deployed(cfg, deploy(cfg))


def only(failures: list[Finding], area: str, words: str) -> None:
    assert failures, "verify missed the break"
    assert {f.area for f in failures} == {area}, failures
    assert any(words in f.detail for f in failures), failures


def test_healthy_scale_5x_passes_every_check(prod_5x: Deployed) -> None:
    findings = prod_5x.run()
    assert [f for f in findings if not f.ok] == []
    areas = {f.area for f in findings}
    assert areas == {"alb", "asg", "rds", "redis", "cloudfront", "s3", "alarms"}
    healthy = [f.detail for f in findings if f.area == "alb" and "healthy" in f.detail]
    tiers = (prod_5x.cfg.stage.web, prod_5x.cfg.stage.search)
    assert healthy == [
        f"{t.desired_capacity} healthy of {t.desired_capacity} (minimum {t.min_size}); "
        "other states: none"
        for t in tiers
    ]


def test_deregistered_targets_fail_the_alb_check(prod_5x: Deployed) -> None:
    elb = prod_5x.client("elbv2")
    tg = prod_5x.outputs["target_group_arns"][0]
    targets = [
        d["Target"]
        for d in elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    ]
    web = prod_5x.cfg.stage.web
    left = web.min_size - 1  # one short of the spec's minimum
    elb.deregister_targets(TargetGroupArn=tg, Targets=targets[left:])
    only(prod_5x.failures(), "alb", f"{left} healthy of {left} (minimum {web.min_size})")


def test_unhealthy_targets_fail_the_alb_check(prod_5x: Deployed) -> None:
    elb, ec2 = prod_5x.client("elbv2"), prod_5x.client("ec2")
    tg = prod_5x.outputs["target_group_arns"][1]  # search
    target = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0]
    # moto reports a stopped instance's target as "unused" (not healthy).
    ec2.stop_instances(InstanceIds=[target["Target"]["Id"]])
    search = prod_5x.cfg.stage.search
    n, least = search.desired_capacity, search.min_size
    only(
        prod_5x.failures(), "alb", f"{n - 1} healthy of {n} (minimum {least}); other states: unused"
    )


def test_alb_idle_timeout_at_or_above_the_keepalive_fails(prod_5x: Deployed) -> None:
    env = prod_5x.cfg.env
    prod_5x.client("elbv2").modify_load_balancer_attributes(
        LoadBalancerArn=prod_5x.outputs["alb_arn"],
        Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": str(env.http_keepalive_s)}],
    )
    only(
        prod_5x.failures(),
        "alb",
        f"idle timeout {env.http_keepalive_s} s (profile {env.alb_idle_timeout_s} s); "
        f"the service keeps connections {env.http_keepalive_s} s",
    )


def test_desired_outside_bounds_fails_the_asg_check(prod_5x: Deployed) -> None:
    asg = prod_5x.client("autoscaling")
    name = prod_5x.outputs["asg_names"][0]
    # AWS refuses this; moto does not, which lets the check's logic be exercised.
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=40)
    failures = prod_5x.failures()
    web = prod_5x.cfg.stage.web
    bounds = f"{web.min_size}..{web.max_size}"
    assert any(f.area == "asg" and f.detail == f"desired 40 outside {bounds}" for f in failures)


def test_asg_bounds_drifted_from_the_spec_fail(prod_5x: Deployed) -> None:
    asg = prod_5x.client("autoscaling")
    asg.update_auto_scaling_group(
        AutoScalingGroupName=prod_5x.outputs["asg_names"][0], MaxSize=8, DesiredCapacity=6
    )
    web = prod_5x.cfg.stage.web
    assert web.max_size != 8
    spec = f"{web.min_size}..{web.max_size}"
    only(prod_5x.failures(), "asg", f"size {web.min_size}..8; the spec says {spec}")


@pytest.mark.parametrize("status", ["Failed", "RollbackSuccessful", "Cancelled"])
def test_failed_instance_refresh_fails_the_asg_check(prod_5x: Deployed, refresh_status, status):
    refresh_status["status"] = status
    failures = prod_5x.failures()
    assert {f.detail for f in failures} == {f"latest instance refresh {status}"}


@pytest.mark.parametrize("status", ["Pending", "InProgress", "Baking"])
def test_running_instance_refresh_fails_the_single_check(prod_5x: Deployed, refresh_status, status):
    # The fleet may still run the previous stage's template: not done (issue 20).
    refresh_status["status"] = status
    details = {f.detail for f in prod_5x.failures()}
    assert details == {f"latest instance refresh {status}: not finished (use --wait)"}


def test_deleted_replica_fails_the_rds_check(prod_5x: Deployed) -> None:
    replica = prod_5x.outputs["db_replica_identifiers"][-1]
    prod_5x.client("rds").delete_db_instance(DBInstanceIdentifier=replica, SkipFinalSnapshot=True)
    only(prod_5x.failures(), "rds", "replica not found")


def test_replica_missing_from_the_outputs_fails_the_count(prod_5x: Deployed) -> None:
    n = prod_5x.cfg.stage.database.read_replicas
    prod_5x.outputs["db_replica_identifiers"] = prod_5x.outputs["db_replica_identifiers"][:-1]
    only(prod_5x.failures(), "rds", f"{n - 1} replicas in the outputs (spec {n})")


def test_replica_lag_over_the_threshold_fails(prod_5x: Deployed) -> None:
    replica = prod_5x.outputs["db_replica_identifiers"][0]
    put_replica_lag(prod_5x.client("cloudwatch"), replica, 95.0)
    only(prod_5x.failures(), "rds", "max ReplicaLag 95 s (threshold 30 s)")


def test_stopped_primary_fails_the_rds_check(prod_5x: Deployed) -> None:
    rds = prod_5x.client("rds")
    rds.stop_db_instance(DBInstanceIdentifier=prod_5x.outputs["db_primary_identifier"])
    failures = prod_5x.failures()
    assert any(f.area == "rds" and f.detail == "status stopped" for f in failures)


def test_redis_failover_off_fails_where_prod_expects_it(prod_5x: Deployed) -> None:
    prod_5x.client("elasticache").modify_replication_group(
        ReplicationGroupId=prod_5x.outputs["redis_replication_group_id"],
        AutomaticFailoverEnabled=False,
        MultiAZEnabled=False,
    )
    only(prod_5x.failures(), "redis", "automatic failover disabled (expected enabled in prod)")


def test_missing_redis_group_fails(prod_5x: Deployed) -> None:
    prod_5x.outputs["redis_replication_group_id"] = "movies-prod-gone"
    only(prod_5x.failures(), "redis", "not found")


def test_public_bucket_fails_the_s3_check(prod_5x: Deployed) -> None:
    s3, bucket = prod_5x.client("s3"), prod_5x.outputs["media_bucket"]
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*"}],
    }))  # fmt: skip
    failures = prod_5x.failures()
    assert {f.area for f in failures} == {"s3"}
    assert {f.detail for f in failures} == {"no public access block", "policy is public"}


def test_one_public_access_flag_off_fails(prod_5x: Deployed) -> None:
    prod_5x.client("s3").put_public_access_block(
        Bucket=prod_5x.outputs["media_bucket"],
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True,
            "BlockPublicPolicy": True, "RestrictPublicBuckets": False,
        },
    )  # fmt: skip
    only(prod_5x.failures(), "s3", "public access block off: RestrictPublicBuckets")


def test_public_acl_grant_fails(prod_5x: Deployed) -> None:
    s3, bucket = prod_5x.client("s3"), prod_5x.outputs["media_bucket"]
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    failures = prod_5x.failures()
    assert "ACL grants to AllUsers" in {f.detail for f in failures}


def test_alarm_in_alarm_state_fails(prod_5x: Deployed) -> None:
    name = prod_5x.outputs["alarm_names"][1]
    prod_5x.client("cloudwatch").set_alarm_state(
        AlarmName=name, StateValue="ALARM", StateReason="5xx over threshold"
    )
    failures = prod_5x.failures()
    assert [(f.area, f.resource, f.detail) for f in failures] == [("alarms", name, "state ALARM")]


def test_missing_alarm_fails(prod_5x: Deployed) -> None:
    name = prod_5x.outputs["alarm_names"][0]
    prod_5x.client("cloudwatch").delete_alarms(AlarmNames=[name])
    failures = prod_5x.failures()
    assert [(f.area, f.resource, f.detail) for f in failures] == [("alarms", name, "missing")]


def test_cloudfront_not_deployed_fails(refresh_status) -> None:
    # Keep new distributions "InProgress" for a while, as a real deployment is at first.
    state_manager.set_transition(
        model_name="cloudfront::distribution", transition={"progression": "manual", "times": 50}
    )
    try:
        with mock_aws():
            cfg = load_stack_config("prod", "edge")
            deployed = Deployed(cfg, deploy(cfg))
            only(deployed.failures(), "cloudfront", "status InProgress")
    finally:
        state_manager.unset_transition("cloudfront::distribution")


def test_missing_output_fails_for_a_part_the_stage_has(prod_5x: Deployed) -> None:
    del prod_5x.outputs["cdn_distribution_id"]
    failures = prod_5x.failures()
    assert [(f.area, f.resource) for f in failures] == [("outputs", "cdn_distribution_id")]


def test_api_error_is_a_failed_check_not_a_crash(prod_5x: Deployed) -> None:
    prod_5x.outputs["alb_arn"] = (
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/nope/0"
    )
    failures = prod_5x.failures()
    assert [f.area for f in failures] == ["alb"]
    assert failures[0].detail.startswith("could not check: ")


def test_dev_redis_without_failover_passes(refresh_status) -> None:
    # dev is single-AZ by design: one node, failover off, and verify must not demand it.
    with mock_aws():
        cfg = load_stack_config("dev", "cached")
        deployed = Deployed(cfg, deploy(cfg))
        findings = deployed.run()
        assert [f for f in findings if not f.ok] == []
        assert not any("failover" in f.detail for f in findings)


def test_single_box_instance_checks(refresh_status) -> None:
    with mock_aws():
        cfg = load_stack_config("prod", "single-box")
        deployed = Deployed(cfg, deploy(cfg))
        findings = deployed.run()
        assert [f for f in findings if not f.ok] == []
        assert {f.area for f in findings} == {"ec2", "alarms"}
        deployed.client("ec2").stop_instances(InstanceIds=[deployed.outputs["instance_id"]])
        only(deployed.failures(), "ec2", "state stopped")


def test_cli_exit_codes_with_an_outputs_file(prod_5x: Deployed, tmp_path: Path, capsys) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(prod_5x.outputs))
    assert verify.main(["prod", "--outputs", str(path)]) == 0
    out = capsys.readouterr().out
    assert "verify prod/scale-5x in us-east-1" in out and "all passed" in out
    prod_5x.client("cloudwatch").set_alarm_state(
        AlarmName=prod_5x.outputs["alarm_names"][0], StateValue="ALARM", StateReason="test"
    )
    assert verify.main(["prod/scale-5x", "--outputs", str(path)]) == 1
    assert "1 failed" in capsys.readouterr().out


def test_cli_json_lists_every_finding(prod_5x: Deployed, tmp_path: Path, capsys) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(prod_5x.outputs))
    prod_5x.client("ec2").stop_instances(
        InstanceIds=[
            d["Target"]["Id"]
            for d in prod_5x.client("elbv2").describe_target_health(
                TargetGroupArn=prod_5x.outputs["target_group_arns"][1]
            )["TargetHealthDescriptions"]
        ]
    )
    assert verify.main(["prod", "--outputs", str(path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["stack"] == "prod/scale-5x" and doc["failed"] == 1
    (bad,) = [f for f in doc["findings"] if not f["ok"]]
    search = prod_5x.cfg.stage.search
    zero = f"0 healthy of {search.desired_capacity} (minimum {search.min_size})"
    assert bad["area"] == "alb" and bad["detail"].startswith(zero)
