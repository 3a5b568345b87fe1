"""Observability under the mocks: alarms only for present parts, all notifying the topic."""

from __future__ import annotations

import dataclasses
import json

import pulumi
import pytest

from infra.program.components.observability import Observability, ObservabilityArgs

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"


def args(**overrides) -> ObservabilityArgs:
    base = ObservabilityArgs(
        project="movies",
        environment="prod",
        region="us-east-1",
        account_id="123456789012",
        tags={"project": "movies"},
    )
    return dataclasses.replace(base, **overrides)


FULL = {
    "alb_arn_suffix": "app/movies-prod-alb/50dc6c495c0c9188",
    "target_group_arn_suffixes": {
        "web": "targetgroup/movies-prod-web/73e2d6bc24d8a067",
        "search": "targetgroup/movies-prod-search/1a2b3c4d5e6f7a8b",
    },
    "asg_names": {"web": "movies-prod-web", "search": "movies-prod-search"},
    "db_identifier": "movies-prod-db",
    "db_replica_identifiers": ["movies-prod-db-replica-1", "movies-prod-db-replica-2"],
    "db_allocated_storage_gb": 100,
    "db_max_connections": 1802,
    "redis_node_ids": ["movies-prod-redis-001", "movies-prod-redis-002"],
    "cloudfront_distribution_id": "E2EXAMPLE12345",
}


def declare(obs_args: ObservabilityArgs) -> None:
    obs = Observability("alarms", obs_args)
    pulumi.export("alarm_names", obs.alarm_names)
    pulumi.export("topic_arn", obs.topic_arn)


def alarm_names(run) -> set[str]:
    return {a.inputs["name"] for a in run.by_type(ALARM)}


def test_single_box_stage_gets_only_box_alarms(runner):
    run = runner(lambda: declare(args(instance_id="i-0abc1234def567890")), env="prod")
    assert alarm_names(run) == {"movies-prod-box-cpu", "movies-prod-box-status-check"}
    assert run.exports["alarm_names"] == sorted(alarm_names(run))


def test_no_parts_no_alarms_but_a_topic(runner):
    run = runner(lambda: declare(args()), env="prod")
    assert run.by_type(ALARM) == []
    assert len(run.by_type(TOPIC)) == 1
    assert run.exports["alarm_names"] == []


def test_every_part_present_gets_its_alarms(runner):
    run = runner(lambda: declare(args(**FULL)), env="prod")
    assert alarm_names(run) == {
        f"movies-prod-{suffix}"
        for suffix in (
            "alb-5xx-rate",
            "latency-web-p99",
            "latency-search-p99",
            "asg-web-cpu",
            "asg-search-cpu",
            "db-primary-cpu",
            "db-free-storage",
            "db-connections",
            "db-replica-1-cpu",
            "db-replica-1-lag",
            "db-replica-2-cpu",
            "db-replica-2-lag",
            "redis-node-1-engine-cpu",
            "redis-node-2-engine-cpu",
            "redis-evictions",
            "redis-hit-rate",
            "cdn-5xx-rate",
        )
    }


def test_every_alarm_notifies_the_topic(runner):
    run = runner(lambda: declare(args(**FULL)), env="prod")
    topic_arn = run.by_type(TOPIC)[0].outputs["arn"]
    assert run.exports["topic_arn"] == topic_arn
    for alarm in run.by_type(ALARM):
        assert alarm.inputs["alarmActions"] == [topic_arn], alarm.name
        assert alarm.inputs["okActions"] == [topic_arn], alarm.name


def test_replica_lag_alarm_per_replica(runner):
    run = runner(
        lambda: declare(
            args(db_identifier="movies-prod-db", db_replica_identifiers=["r-1", "r-2", "r-3"])
        ),
        env="prod",
    )
    lag = [a.inputs for a in run.by_type(ALARM) if a.inputs["metricName"] == "ReplicaLag"]
    assert sorted(a["dimensions"]["DBInstanceIdentifier"] for a in lag) == ["r-1", "r-2", "r-3"]
    assert all(a["threshold"] == 30 and a["namespace"] == "AWS/RDS" for a in lag)


def test_thresholds_derive_from_sizes(runner):
    run = runner(
        lambda: declare(
            args(db_identifier="db", db_allocated_storage_gb=100, db_max_connections=1000)
        ),
        env="prod",
    )
    by_name = {a.inputs["name"]: a.inputs for a in run.by_type(ALARM)}
    storage = by_name["movies-prod-db-free-storage"]
    assert storage["comparisonOperator"] == "LessThanThreshold"
    assert storage["threshold"] == pytest.approx(10 * 1024**3)  # 10% of 100 GiB, in bytes
    assert by_name["movies-prod-db-connections"]["threshold"] == 800


def test_redis_alarms_use_engine_cpu_and_hit_rate_math(runner):
    run = runner(lambda: declare(args(redis_node_ids=FULL["redis_node_ids"])), env="prod")
    by_name = {a.inputs["name"]: a.inputs for a in run.by_type(ALARM)}
    cpu = by_name["movies-prod-redis-node-1-engine-cpu"]
    assert cpu["metricName"] == "EngineCPUUtilization"
    assert cpu["dimensions"] == {"CacheClusterId": "movies-prod-redis-001"}
    hit_rate = by_name["movies-prod-redis-hit-rate"]
    queries = {q["id"]: q for q in hit_rate["metricQueries"]}
    assert [q["id"] for q in hit_rate["metricQueries"] if q.get("returnData")] == ["hitrate"]
    assert {queries[f"hit{i}"]["metric"]["metricName"] for i in (1, 2)} == {"CacheHits"}
    assert {queries[f"miss{i}"]["metric"]["metricName"] for i in (1, 2)} == {"CacheMisses"}
    assert hit_rate["comparisonOperator"] == "LessThanThreshold"


def test_topic_uses_a_key_cloudwatch_may_use(runner):
    run = runner(lambda: declare(args(alarm_email="oncall@example.com")), env="prod")
    topic = run.by_type(TOPIC)[0].inputs
    key = run.by_type("aws:kms/key:Key")[0]
    assert topic["kmsMasterKeyId"] == key.outputs["arn"]
    assert "alias/aws/sns" not in json.dumps(topic)
    statements = json.loads(key.inputs["policy"])["Statement"]
    grant = next(s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"})
    assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert key.inputs["enableKeyRotation"] is True
    subscription = run.by_type("aws:sns/topicSubscription:TopicSubscription")[0].inputs
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "oncall@example.com")
    assert (
        runner(lambda: declare(args()), env="prod").by_type(
            "aws:sns/topicSubscription:TopicSubscription"
        )
        == []
    )


def test_cloudfront_alarm_lives_in_us_east_1(runner):
    run = runner(
        lambda: declare(args(region="eu-west-1", cloudfront_distribution_id="E2EXAMPLE12345")),
        env="prod",
        region="eu-west-1",
    )
    (cdn,) = run.by_type(ALARM)
    assert cdn.inputs["region"] == "us-east-1"
    assert cdn.inputs["dimensions"] == {"DistributionId": "E2EXAMPLE12345", "Region": "Global"}
    topics = {t.name: t for t in run.by_type(TOPIC)}
    east = topics["alarms-topic-us-east-1"]
    assert east.inputs["region"] == "us-east-1"
    assert cdn.inputs["alarmActions"] == [east.outputs["arn"]]
    assert "region" not in topics["alarms-topic"].inputs


def test_bad_arguments_fail_with_one_line():
    with pytest.raises(ValueError, match="target_group_arn_suffixes"):
        args(target_group_arn_suffixes={"web": "targetgroup/x/1"})
    with pytest.raises(ValueError, match="db_replica_identifiers"):
        args(db_replica_identifiers=["r-1"])
    with pytest.raises(ValueError, match="redis_node_ids: 6 nodes"):
        args(redis_node_ids=[f"movies-prod-redis-00{i}" for i in range(1, 7)])


def test_metric_math_alarms_stay_within_cloudwatch_limits(runner):
    nodes = [f"movies-prod-redis-00{i}" for i in range(1, 6)]
    run = runner(lambda: declare(args(**{**FULL, "redis_node_ids": nodes})), env="prod")
    for alarm in run.by_type(ALARM):
        queries = alarm.inputs.get("metricQueries", [])
        assert sum(1 for q in queries if "metric" in q) <= 10, alarm.name
        assert sum(1 for q in queries if "expression" in q) <= 10, alarm.name


def test_no_key_alias_the_key_policy_does_not_allow(runner):
    # KMS authorises CreateAlias/DeleteAlias/UpdateAlias on the key through its key policy
    # (an IAM policy only counts for what the policy's account statement allows), so an
    # alias is declared only if that statement grants the alias actions.
    run = runner(
        lambda: declare(args(region="eu-west-1", cloudfront_distribution_id="E2E")),
        env="prod",
        region="eu-west-1",
    )
    keys = run.by_type("aws:kms/key:Key")
    assert len(keys) == 2  # the topic's key in the region and the us-east-1 one
    alias_actions = {"kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"}
    for key in keys:
        statements = json.loads(key.inputs["policy"])["Statement"]
        allowed = {a for s in statements for a in s["Action"]} if statements else set()
        if not alias_actions <= allowed:
            assert run.by_type("aws:kms/alias:Alias") == []
