"""The alarm sink and the alarms each component declares into it, under the mocks.

Each component's `declare_alarms` is called here with plain identifiers, so the alarms'
dimensions and metric math can be checked exactly; tests/program/test_alarm_ownership.py
shows the components calling them within a whole stage.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pytest

from infra.config import ALARM_METRICS_LIMIT, MAX_CACHE_NODES
from infra.program.components import cache, database, edge, load_balancer, single_box, web_tier
from infra.program.components.observability import Observability, ObservabilityArgs

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SINK_TYPE = "movies:infra:Observability"

ALB = "app/movies-prod-alb/50dc6c495c0c9188"
TARGET_GROUPS = {
    "web": "targetgroup/movies-prod-web/73e2d6bc24d8a067",
    "search": "targetgroup/movies-prod-search/1a2b3c4d5e6f7a8b",
}
REDIS_NODES = ["movies-prod-redis-001", "movies-prod-redis-002"]


def args(**overrides) -> ObservabilityArgs:
    base = ObservabilityArgs(
        project="movies",
        environment="prod",
        region="us-east-1",
        account_id="123456789012",
        tags={"project": "movies"},
    )
    return dataclasses.replace(base, **overrides)


Parts = Callable[[Observability], None]


def declare(obs_args: ObservabilityArgs, *parts: Parts) -> None:
    """The sink, each part's alarms into it, then close: as declare_stage does."""
    obs = Observability("alarms", obs_args)
    for part in parts:
        part(obs)
    obs.close()
    pulumi.export("alarm_names", obs.alarm_names)
    pulumi.export("topic_arn", obs.topic_arn)


def box(sink: Observability) -> None:
    single_box.declare_alarms(sink, "i-0abc1234def567890")


def tiers(sink: Observability) -> None:
    load_balancer.declare_alarms(sink, ALB)
    for role, group in TARGET_GROUPS.items():
        web_tier.declare_alarms(sink, role, f"movies-prod-{role}", ALB, group)


def db(replicas: list[str], *, storage_gb: int = 100, connections: int = 1802) -> Parts:
    return lambda sink: database.declare_alarms(
        sink,
        "movies-prod-db",
        replicas,
        allocated_storage_gb=storage_gb,
        max_connections=connections,
    )


def redis(nodes: list[str]) -> Parts:
    return lambda sink: cache.declare_alarms(sink, nodes)


def cdn(sink: Observability) -> None:
    edge.declare_alarms(sink, "E2EXAMPLE12345")


FULL: tuple[Parts, ...] = (
    tiers,
    db(["movies-prod-db-replica-1", "movies-prod-db-replica-2"]),
    redis(REDIS_NODES),
    cdn,
)


def alarm_names(run) -> set[str]:
    return {a.inputs["name"] for a in run.by_type(ALARM)}


def test_single_box_stage_gets_only_box_alarms(runner):
    run = runner(lambda: declare(args(), box), env="prod")
    assert alarm_names(run) == {"movies-prod-box-cpu", "movies-prod-box-status-check"}
    assert run.exports["alarm_names"] == sorted(alarm_names(run))


def test_no_parts_no_alarms_but_a_topic(runner):
    run = runner(lambda: declare(args()), env="prod")
    assert run.by_type(ALARM) == []
    assert len(run.by_type(TOPIC)) == 1
    assert run.exports["alarm_names"] == []


def test_every_part_present_gets_its_alarms(runner):
    run = runner(lambda: declare(args(), *FULL), env="prod")
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
    assert run.exports["alarm_names"] == sorted(alarm_names(run))


def test_every_alarm_notifies_the_topic_and_is_the_sinks_child(runner):
    run = runner(lambda: declare(args(), *FULL), env="prod")
    topic_arn = run.by_type(TOPIC)[0].outputs["arn"]
    (sink,) = run.by_type(SINK_TYPE)
    assert run.exports["topic_arn"] == topic_arn
    for alarm in run.by_type(ALARM):
        assert alarm.inputs["alarmActions"] == [topic_arn], alarm.name
        assert alarm.inputs["okActions"] == [topic_arn], alarm.name
        # The URN the engine builds from it: kept where it was before the components
        # declared their own alarms (the sink's docstring says why).
        assert alarm.parent == sink.urn, alarm.name
        assert alarm.name == "alarms-" + alarm.inputs["name"].removeprefix("movies-prod-")


def test_latency_alarm_per_target_group(runner):
    run = runner(lambda: declare(args(), tiers), env="prod")
    by_name = {a.inputs["name"]: a.inputs for a in run.by_type(ALARM)}
    for role, group in TARGET_GROUPS.items():
        latency = by_name[f"movies-prod-latency-{role}-p99"]
        assert latency["dimensions"] == {"LoadBalancer": ALB, "TargetGroup": group}
        assert latency["extendedStatistic"] == "p99" and latency["threshold"] == 1
        cpu = by_name[f"movies-prod-asg-{role}-cpu"]
        assert cpu["dimensions"] == {"AutoScalingGroupName": f"movies-prod-{role}"}
    rate = by_name["movies-prod-alb-5xx-rate"]
    assert [q["id"] for q in rate["metricQueries"] if q.get("returnData")] == ["rate"]
    assert {q["metric"]["dimensions"]["LoadBalancer"] for q in rate["metricQueries"][:3]} == {ALB}


def test_replica_lag_alarm_per_replica(runner):
    run = runner(lambda: declare(args(), db(["r-1", "r-2", "r-3"])), env="prod")
    lag = [a.inputs for a in run.by_type(ALARM) if a.inputs["metricName"] == "ReplicaLag"]
    assert sorted(a["dimensions"]["DBInstanceIdentifier"] for a in lag) == ["r-1", "r-2", "r-3"]
    assert all(a["threshold"] == 30 and a["namespace"] == "AWS/RDS" for a in lag)


def test_thresholds_derive_from_sizes(runner):
    run = runner(lambda: declare(args(), db([], storage_gb=100, connections=1000)), env="prod")
    by_name = {a.inputs["name"]: a.inputs for a in run.by_type(ALARM)}
    storage = by_name["movies-prod-db-free-storage"]
    assert storage["comparisonOperator"] == "LessThanThreshold"
    assert storage["threshold"] == pytest.approx(10 * 1024**3)  # 10% of 100 GiB, in bytes
    assert by_name["movies-prod-db-connections"]["threshold"] == 800


def test_redis_alarms_use_engine_cpu_and_hit_rate_math(runner):
    run = runner(lambda: declare(args(), redis(REDIS_NODES)), env="prod")
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
    run = runner(lambda: declare(args(region="eu-west-1"), cdn), env="prod", region="eu-west-1")
    (cdn_alarm,) = run.by_type(ALARM)
    assert cdn_alarm.inputs["region"] == "us-east-1"
    assert cdn_alarm.inputs["dimensions"] == {
        "DistributionId": "E2EXAMPLE12345",
        "Region": "Global",
    }
    topics = {t.name: t for t in run.by_type(TOPIC)}
    east = topics["alarms-topic-us-east-1"]
    assert east.inputs["region"] == "us-east-1"
    assert cdn_alarm.inputs["alarmActions"] == [east.outputs["arn"]]
    assert "region" not in topics["alarms-topic"].inputs


def test_cloudfront_alarm_in_us_east_1_stack_uses_the_one_topic(runner):
    run = runner(lambda: declare(args(), cdn), env="prod")
    (cdn_alarm,) = run.by_type(ALARM)
    (topic,) = run.by_type(TOPIC)
    assert "region" not in cdn_alarm.inputs
    assert cdn_alarm.inputs["alarmActions"] == [topic.outputs["arn"]]


def test_bad_arguments_fail_with_one_line(runner):
    # One node more than the stack config allows (infra.config.MAX_CACHE_NODES).
    too_many = [f"movies-prod-redis-00{i}" for i in range(1, MAX_CACHE_NODES + 2)]
    with pytest.raises(ValueError, match=f"node_ids: {MAX_CACHE_NODES + 1} nodes"):
        runner(lambda: declare(args(), redis(too_many)), env="prod")
    with pytest.raises(ValueError, match="max_connections 0; allowed: >= 1"):
        runner(lambda: declare(args(), db([], connections=0)), env="prod")


def test_an_alarm_after_close_is_refused(runner):
    def late() -> None:
        obs = Observability("alarms", args())
        obs.close()
        box(obs)

    with pytest.raises(RuntimeError, match="'box-cpu' declared after close"):
        runner(late, env="prod")


def test_metric_math_alarms_stay_within_cloudwatch_limits(runner):
    nodes = [f"movies-prod-redis-00{i}" for i in range(1, MAX_CACHE_NODES + 1)]
    run = runner(lambda: declare(args(), *FULL[:2], redis(nodes), cdn), env="prod")
    assert "movies-prod-redis-hit-rate" in alarm_names(run)
    for alarm in run.by_type(ALARM):
        queries = alarm.inputs.get("metricQueries", [])
        assert sum(1 for q in queries if "metric" in q) <= ALARM_METRICS_LIMIT, alarm.name
        assert sum(1 for q in queries if "expression" in q) <= 10, alarm.name


def test_no_key_alias_the_key_policy_does_not_allow(runner):
    # KMS authorises CreateAlias/DeleteAlias/UpdateAlias on the key through its key policy
    # (an IAM policy only counts for what the policy's account statement allows), so an
    # alias is declared only if that statement grants the alias actions.
    run = runner(lambda: declare(args(region="eu-west-1"), cdn), env="prod", region="eu-west-1")
    keys = run.by_type("aws:kms/key:Key")
    assert len(keys) == 2  # the topic's key in the region and the us-east-1 one
    alias_actions = {"kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"}
    for key in keys:
        statements = json.loads(key.inputs["policy"])["Statement"]
        allowed = {a for s in statements for a in s["Action"]} if statements else set()
        if not alias_actions <= allowed:
            assert run.by_type("aws:kms/alias:Alias") == []


# --- a component the sink has never heard of ----------------------------------------------


@dataclass(frozen=True)
class StandInQueueArgs:
    """A stand-in for a future component: only what its alarm needs."""

    queue_name: str
    alarms: Observability | None = None


class StandInQueue(pulumi.ComponentResource):
    """Declares one alarm the way the real components do; nothing in the sink names it."""

    def __init__(self, name: str, args: StandInQueueArgs) -> None:
        super().__init__("movies:test:StandInQueue", name, None, None)
        if args.alarms is not None:
            args.alarms.alarm(
                "queue-age",
                "oldest message older than 5 minutes",
                namespace="AWS/SQS",
                metric_name="ApproximateAgeOfOldestMessage",
                dimensions={"QueueName": args.queue_name},
                statistic="Maximum",
                period=60,
                evaluation_periods=5,
                comparison_operator="GreaterThanThreshold",
                threshold=300,
            )
        self.register_outputs({})


def test_a_new_component_declares_its_alarm_without_a_change_to_the_sink(runner):
    run = runner(
        lambda: declare(
            args(), box, lambda sink: StandInQueue("queue", StandInQueueArgs("jobs", sink))
        ),
        env="prod",
    )
    (queue_alarm,) = [a for a in run.by_type(ALARM) if a.inputs["namespace"] == "AWS/SQS"]
    (sink,) = run.by_type(SINK_TYPE)
    topic_arn = run.by_type(TOPIC)[0].outputs["arn"]
    assert queue_alarm.name == "alarms-queue-age" and queue_alarm.parent == sink.urn
    assert queue_alarm.inputs["dimensions"] == {"QueueName": "jobs"}
    assert queue_alarm.inputs["alarmActions"] == [topic_arn] == queue_alarm.inputs["okActions"]
    assert run.exports["alarm_names"] == [
        "movies-prod-box-cpu",
        "movies-prod-box-status-check",
        "movies-prod-queue-age",
    ]
    # Without the sink in its args, the same component declares no alarm.
    quiet = runner(lambda: declare(args(), lambda _: StandInQueue("q", StandInQueueArgs("j"))))
    assert quiet.by_type(ALARM) == []
