"""SNS alarm topic and the CloudWatch alarms for the parts a stage has.

Each part's identifiers are optional in the Args; a part that is absent gets no alarm, so
one component serves every stage. Every alarm notifies the topic on ALARM and on OK.

The topic is encrypted with a customer managed KMS key, not the AWS managed ``aws/sns``
key: CloudWatch alarms must be allowed ``kms:GenerateDataKey*``/``kms:Decrypt`` on the
topic's key, and the policy of an AWS managed key cannot be changed, so alarms sent to an
``aws/sns`` topic are silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

# CloudFront publishes its metrics in us-east-1 only; its alarm (and the topic the alarm
# notifies, which must be in the alarm's region) live there.
CLOUDFRONT_METRICS_REGION = "us-east-1"
_FIVE_MINUTES = 300
_ONE_MINUTE = 60
_GIB = 1024**3
# A metric-math alarm may reference at most 10 metrics (CloudWatch hard limit); the hit
# rate reads CacheHits and CacheMisses of every node.
MAX_METRICS_PER_ALARM = 10


@dataclass(frozen=True)
class AlarmThresholds:
    cpu_percent: float = 80.0
    alb_5xx_percent: float = 1.0
    latency_p99_seconds: float = 1.0
    db_free_storage_percent: float = 10.0
    db_connections_percent: float = 80.0
    replica_lag_seconds: float = 30.0
    cache_hit_rate_percent: float = 80.0
    # With allkeys-lru evictions are normal at the margin; sustained thousands per five
    # minutes mean the hot set no longer fits.
    cache_evictions_per_5min: float = 1000.0
    cloudfront_5xx_percent: float = 1.0


@dataclass(frozen=True)
class ObservabilityArgs:
    """Each optional identifier turns on the alarms of that part; absent part, no alarm."""

    project: str
    environment: str
    region: str
    account_id: pulumi.Input[str]
    alarm_email: str | None = None
    instance_id: pulumi.Input[str] | None = None  # the single box
    alb_arn_suffix: pulumi.Input[str] | None = None
    # role ("web", "search") -> target group ARN suffix / ASG name; the role names alarms.
    target_group_arn_suffixes: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    asg_names: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    db_identifier: pulumi.Input[str] | None = None
    db_replica_identifiers: Sequence[pulumi.Input[str]] = ()
    db_allocated_storage_gb: int | None = None
    db_max_connections: int | None = None
    redis_node_ids: Sequence[pulumi.Input[str]] = ()
    cloudfront_distribution_id: pulumi.Input[str] | None = None
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target_group_arn_suffixes and self.alb_arn_suffix is None:
            raise ValueError(
                "ObservabilityArgs.target_group_arn_suffixes: given without alb_arn_suffix; "
                "target group metrics need their load balancer"
            )
        if self.db_replica_identifiers and self.db_identifier is None:
            raise ValueError(
                "ObservabilityArgs.db_replica_identifiers: given without db_identifier; "
                "replicas need their primary"
            )
        if 2 * len(self.redis_node_ids) > MAX_METRICS_PER_ALARM:
            raise ValueError(
                f"ObservabilityArgs.redis_node_ids: {len(self.redis_node_ids)} nodes; the hit-rate "
                f"alarm reads 2 metrics per node and CloudWatch allows {MAX_METRICS_PER_ALARM}: "
                f"allowed <= {MAX_METRICS_PER_ALARM // 2}"
            )
        for key in ("db_allocated_storage_gb", "db_max_connections"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"ObservabilityArgs.{key}: {value}; allowed: >= 1 or null")

    @property
    def base_name(self) -> str:
        return f"{self.project}-{self.environment}"


class Observability(pulumi.ComponentResource):
    """Outputs: topic_arn, alarm_names."""

    topic_arn: pulumi.Output[str]
    alarm_names: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("movies:infra:Observability", name, None, opts)
        self._name = name
        self._args = args
        self._alarms: list[aws.cloudwatch.MetricAlarm] = []

        topic = self._topic(f"{name}-topic", args.base_name + "-alarms", region=None)
        self._topic_arn = topic.arn
        self._alarm_region: str | None = None

        if args.instance_id is not None:
            self._single_box(args.instance_id)
        if args.alb_arn_suffix is not None:
            self._load_balancer(args.alb_arn_suffix)
        for role, asg_name in args.asg_names.items():
            self._cpu_alarm(
                f"asg-{role}-cpu",
                "AWS/EC2",
                "CPUUtilization",
                {"AutoScalingGroupName": asg_name},
                f"web tier '{role}' average CPU above target: the ASG is at its maximum",
            )
        if args.db_identifier is not None:
            self._database(args.db_identifier)
        if args.redis_node_ids:
            self._cache(list(args.redis_node_ids))
        if args.cloudfront_distribution_id is not None:
            self._cloudfront(args.cloudfront_distribution_id)

        self.topic_arn = topic.arn
        self.alarm_names = pulumi.Output.all(*[alarm.name for alarm in self._alarms]).apply(
            lambda names: sorted(names)
        )
        self.register_outputs({"topic_arn": self.topic_arn, "alarm_names": self.alarm_names})

    # --- topic ----------------------------------------------------------------------------

    def _topic(self, logical: str, topic_name: str, region: str | None) -> aws.sns.Topic:
        args = self._args
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(
            f"{logical}-key",
            description=f"{topic_name}: SNS encryption CloudWatch alarms may use",
            enable_key_rotation=True,
            deletion_window_in_days=7,
            policy=pulumi.Output.from_input(args.account_id).apply(_key_policy),
            region=region,
            tags=args.tags,
            opts=child,
        )
        # No alias: KMS checks CreateAlias/DeleteAlias against the key policy as well as
        # the alias ("Controlling access to aliases", AWS KMS developer guide), and the
        # policy below grants the account key administration only, so an aws.kms.Alias
        # here fails with AccessDenied. The key's description names the topic instead.
        topic = aws.sns.Topic(
            logical,
            name=topic_name,
            kms_master_key_id=key.arn,
            region=region,
            tags=args.tags,
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{logical}-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, args.account_id).apply(
                lambda values: json.dumps(_topic_policy(values[0], values[1]))
            ),
            region=region,
            opts=child,
        )
        if args.alarm_email:
            aws.sns.TopicSubscription(
                f"{logical}-email",
                topic=topic.arn,
                protocol="email",
                endpoint=args.alarm_email,
                region=region,
                opts=child,
            )
        return topic

    # --- parts ----------------------------------------------------------------------------

    def _single_box(self, instance_id: pulumi.Input[str]) -> None:
        self._cpu_alarm(
            "box-cpu",
            "AWS/EC2",
            "CPUUtilization",
            {"InstanceId": instance_id},
            "single box CPU high: API and PostgreSQL compete for it (move to split-db)",
        )
        self._alarm(
            "box-status-check",
            "single box failed an EC2 status check (instance or host)",
            namespace="AWS/EC2",
            metric_name="StatusCheckFailed",
            dimensions={"InstanceId": instance_id},
            statistic="Maximum",
            period=_ONE_MINUTE,
            evaluation_periods=2,
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            # A box that reports nothing at all is as bad as one failing its check.
            treat_missing_data="breaching",
        )

    def _load_balancer(self, alb: pulumi.Input[str]) -> None:
        t = self._args.thresholds

        def alb_metric(
            metric_id: str, metric_name: str
        ) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=metric_id,
                return_data=False,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace="AWS/ApplicationELB",
                    metric_name=metric_name,
                    dimensions={"LoadBalancer": alb},
                    stat="Sum",
                    period=_FIVE_MINUTES,
                ),
            )

        self._alarm(
            "alb-5xx-rate",
            f"more than {t.alb_5xx_percent}% of requests end in a 5xx (ALB or targets)",
            metric_queries=[
                alb_metric("elb5xx", "HTTPCode_ELB_5XX_Count"),
                alb_metric("target5xx", "HTTPCode_Target_5XX_Count"),
                alb_metric("requests", "RequestCount"),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="rate",
                    label="5xx share of requests (%)",
                    # No requests is no error rate, not a division by zero.
                    expression=(
                        "IF(FILL(requests, 0) > 0, 100 * (FILL(elb5xx, 0) + FILL(target5xx, 0))"
                        " / FILL(requests, 0), 0)"
                    ),
                    return_data=True,
                ),
            ],
            evaluation_periods=3,
            comparison_operator="GreaterThanThreshold",
            threshold=t.alb_5xx_percent,
            treat_missing_data="notBreaching",
        )
        groups = self._args.target_group_arn_suffixes or {"all": None}
        for role, target_group in groups.items():
            dimensions: dict[str, pulumi.Input[str]] = {"LoadBalancer": alb}
            if target_group is not None:
                dimensions["TargetGroup"] = target_group
            self._alarm(
                f"latency-{role}-p99",
                f"p99 target response time of '{role}' above {t.latency_p99_seconds}s",
                namespace="AWS/ApplicationELB",
                metric_name="TargetResponseTime",
                dimensions=dimensions,
                extended_statistic="p99",
                period=_FIVE_MINUTES,
                evaluation_periods=3,
                comparison_operator="GreaterThanThreshold",
                threshold=t.latency_p99_seconds,
                treat_missing_data="notBreaching",
            )

    def _database(self, primary: pulumi.Input[str]) -> None:
        args, t = self._args, self._args.thresholds
        self._cpu_alarm(
            "db-primary-cpu",
            "AWS/RDS",
            "CPUUtilization",
            {"DBInstanceIdentifier": primary},
            "RDS primary CPU high: reads missing the cache or a slow query",
        )
        if args.db_allocated_storage_gb is not None:
            floor = args.db_allocated_storage_gb * _GIB * t.db_free_storage_percent / 100
            self._alarm(
                "db-free-storage",
                f"RDS primary free storage below {t.db_free_storage_percent}% of "
                f"{args.db_allocated_storage_gb} GiB (storage autoscaling may be at its cap)",
                namespace="AWS/RDS",
                metric_name="FreeStorageSpace",
                dimensions={"DBInstanceIdentifier": primary},
                statistic="Minimum",
                period=_FIVE_MINUTES,
                evaluation_periods=2,
                comparison_operator="LessThanThreshold",
                threshold=floor,
            )
        if args.db_max_connections is not None:
            ceiling = args.db_max_connections * t.db_connections_percent / 100
            self._alarm(
                "db-connections",
                f"RDS primary connections above {t.db_connections_percent}% of "
                f"max_connections ({args.db_max_connections})",
                namespace="AWS/RDS",
                metric_name="DatabaseConnections",
                dimensions={"DBInstanceIdentifier": primary},
                statistic="Maximum",
                period=_FIVE_MINUTES,
                evaluation_periods=2,
                comparison_operator="GreaterThanThreshold",
                threshold=ceiling,
            )
        for index, replica in enumerate(args.db_replica_identifiers, start=1):
            self._cpu_alarm(
                f"db-replica-{index}-cpu",
                "AWS/RDS",
                "CPUUtilization",
                {"DBInstanceIdentifier": replica},
                f"RDS replica {index} CPU high: add a replica or a bigger class",
            )
            self._alarm(
                f"db-replica-{index}-lag",
                f"RDS replica {index} more than {t.replica_lag_seconds}s behind the primary: "
                "reads routed to it are stale",
                namespace="AWS/RDS",
                metric_name="ReplicaLag",
                dimensions={"DBInstanceIdentifier": replica},
                statistic="Maximum",
                period=_ONE_MINUTE,
                evaluation_periods=5,
                comparison_operator="GreaterThanThreshold",
                threshold=t.replica_lag_seconds,
            )

    def _cache(self, nodes: list[pulumi.Input[str]]) -> None:
        t = self._args.thresholds
        for index, node in enumerate(nodes, start=1):
            self._cpu_alarm(
                f"redis-node-{index}-engine-cpu",
                "AWS/ElastiCache",
                "EngineCPUUtilization",
                {"CacheClusterId": node},
                f"Redis node {index}: the single-threaded engine is CPU bound",
            )

        def node_metrics(
            prefix: str, metric_name: str
        ) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
            return [
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id=f"{prefix}{i}",
                    return_data=False,
                    metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                        namespace="AWS/ElastiCache",
                        metric_name=metric_name,
                        dimensions={"CacheClusterId": node},
                        stat="Sum",
                        period=_FIVE_MINUTES,
                    ),
                )
                for i, node in enumerate(nodes, start=1)
            ]

        def total(prefix: str) -> str:
            # Metric ids must start lower-case; SUM over a list adds the nodes' series.
            return f"SUM([{', '.join(f'FILL({prefix}{i}, 0)' for i in range(1, len(nodes) + 1))}])"

        self._alarm(
            "redis-evictions",
            f"Redis evicts more than {t.cache_evictions_per_5min:g} keys per 5 minutes: "
            "the hot set no longer fits the node type",
            metric_queries=[
                *node_metrics("ev", "Evictions"),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="evictions",
                    label="evictions (all nodes)",
                    expression=total("ev"),
                    return_data=True,
                ),
            ],
            evaluation_periods=3,
            comparison_operator="GreaterThanThreshold",
            threshold=t.cache_evictions_per_5min,
            treat_missing_data="notBreaching",
        )
        self._alarm(
            "redis-hit-rate",
            f"cache hit rate below {t.cache_hit_rate_percent}%: cache-aside is not absorbing "
            "reads (TTL too short, evictions, or a key change)",
            metric_queries=[
                *node_metrics("hit", "CacheHits"),
                *node_metrics("miss", "CacheMisses"),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="hits", expression=total("hit"), return_data=False
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="misses", expression=total("miss"), return_data=False
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="hitrate",
                    label="cache hit rate (%)",
                    # An idle cache has no hit rate: report 100 so it does not alarm.
                    expression="IF(hits + misses > 0, 100 * hits / (hits + misses), 100)",
                    return_data=True,
                ),
            ],
            evaluation_periods=3,
            comparison_operator="LessThanThreshold",
            threshold=t.cache_hit_rate_percent,
            treat_missing_data="notBreaching",
        )

    def _cloudfront(self, distribution_id: pulumi.Input[str]) -> None:
        args, t = self._args, self._args.thresholds
        previous = (self._topic_arn, self._alarm_region)
        if args.region != CLOUDFRONT_METRICS_REGION:
            # The alarm must sit in us-east-1 with the metric, and its topic with it.
            topic = self._topic(
                f"{self._name}-topic-{CLOUDFRONT_METRICS_REGION}",
                f"{args.base_name}-alarms-{CLOUDFRONT_METRICS_REGION}",
                region=CLOUDFRONT_METRICS_REGION,
            )
            self._topic_arn, self._alarm_region = topic.arn, CLOUDFRONT_METRICS_REGION
        try:
            self._alarm(
                "cdn-5xx-rate",
                f"CloudFront answers more than {t.cloudfront_5xx_percent}% of requests with 5xx",
                namespace="AWS/CloudFront",
                metric_name="5xxErrorRate",
                dimensions={"DistributionId": distribution_id, "Region": "Global"},
                statistic="Average",
                period=_FIVE_MINUTES,
                evaluation_periods=3,
                comparison_operator="GreaterThanThreshold",
                threshold=t.cloudfront_5xx_percent,
                treat_missing_data="notBreaching",
            )
        finally:
            self._topic_arn, self._alarm_region = previous

    # --- helpers --------------------------------------------------------------------------

    def _cpu_alarm(
        self,
        suffix: str,
        namespace: str,
        metric_name: str,
        dimensions: dict[str, pulumi.Input[str]],
        description: str,
    ) -> None:
        threshold = self._args.thresholds.cpu_percent
        self._alarm(
            suffix,
            f"{description} (> {threshold:g}% for 15 minutes)",
            namespace=namespace,
            metric_name=metric_name,
            dimensions=dimensions,
            statistic="Average",
            period=_FIVE_MINUTES,
            evaluation_periods=3,
            comparison_operator="GreaterThanThreshold",
            threshold=threshold,
        )

    def _alarm(self, suffix: str, description: str, **metric: Any) -> None:
        args = self._args
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{suffix}",
            name=f"{args.base_name}-{suffix}",
            alarm_description=description,
            alarm_actions=[self._topic_arn],
            ok_actions=[self._topic_arn],
            region=self._alarm_region,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
            **metric,
        )
        self._alarms.append(alarm)


KEY_ADMIN_ACTIONS = [
    f"kms:{action}"
    for action in (
        "CancelKeyDeletion",
        "DescribeKey",
        "DisableKey",
        "DisableKeyRotation",
        "EnableKey",
        "EnableKeyRotation",
        "GetKeyPolicy",
        "GetKeyRotationStatus",
        "ListGrants",
        "ListKeyPolicies",
        "ListResourceTags",
        "PutKeyPolicy",
        "RevokeGrant",
        "ScheduleKeyDeletion",
        "TagResource",
        "UntagResource",
        "UpdateKeyDescription",
    )
]


def _key_policy(account_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    # Key administration only, not "kms:*": nobody in the account needs
                    # to encrypt with this key (CloudWatch publishes, SNS decrypts), and
                    # PutKeyPolicy stays so the account can never be locked out of it.
                    "Action": KEY_ADMIN_ACTIONS,
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchAlarmsPublishToTheTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
            ],
        }
    )


def _topic_policy(topic_arn: str, account_id: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountManagesTheTopic",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": [
                    "sns:GetTopicAttributes",
                    "sns:SetTopicAttributes",
                    "sns:Subscribe",
                    "sns:ListSubscriptionsByTopic",
                    "sns:Publish",
                ],
                "Resource": topic_arn,
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
        ],
    }
