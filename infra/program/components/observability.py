"""The stage's alarm sink: the SNS topic every alarm notifies, and the parent of every alarm.

Each component declares its own alarms (``SingleBox``: box CPU and status check;
``LoadBalancer``: the 5xx rate; ``WebTier``: its ASG's CPU and its target group's p99;
``Database``: primary and replica CPU, free storage, connections, replica lag; ``Cache``:
engine CPU, evictions, hit rate; ``Edge``: CloudFront's 5xx rate), through the ``alarms``
field of its args: this component. A stage without a part has no such component and so no
such alarms; a new component declares its alarms without an edit here or in the composer.

Why every alarm's parent stays this component, not the component whose alarms they are:
an alarm's URN holds its parent chain (``...Stack$movies:infra:Observability$aws:
cloudwatch/metricAlarm:MetricAlarm::observability-db-primary-cpu``). Re-parenting under
``Database`` would change every alarm's URN, which the engine treats as a delete and a
create unless aliased (docs/DESIGN.md, "Pitfalls": a resource's name or parent is its URN):
each live stack would lose and recreate its alarms, with their state and history, on the
update that brings this change. So the components own the alarms' definitions and metric
math; the sink owns their parent, logical name (``observability-<suffix>``), physical name
(``<project>-<env>-<suffix>``), topic and tags, which keeps every URN and input as it was.

The topic is encrypted with a customer managed KMS key, not the AWS managed ``aws/sns``
key: CloudWatch alarms must be allowed ``kms:GenerateDataKey*``/``kms:Decrypt`` on the
topic's key, and the policy of an AWS managed key cannot be changed, so alarms sent to an
``aws/sns`` topic are silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.program.components.kms import KEY_ADMIN_ACTIONS
from infra.tokens import ResourceType

# CloudFront publishes its metrics in us-east-1 only; its alarm (and the topic the alarm
# notifies, which must be in the alarm's region) live there.
CLOUDFRONT_METRICS_REGION = "us-east-1"
FIVE_MINUTES = 300
ONE_MINUTE = 60


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
    """The stage's alarm settings; which alarms exist is up to the components."""

    project: str
    environment: str
    region: str
    account_id: pulumi.Input[str]
    alarm_email: str | None = None
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def base_name(self) -> str:
        return f"{self.project}-{self.environment}"


class Observability(pulumi.ComponentResource):
    """The alarm sink. Outputs (after `close`): topic_arn, alarm_names.

    Declared before the components that alarm into it; `close` registers the outputs
    once every component has declared its alarms.
    """

    topic_arn: pulumi.Output[str]
    alarm_names: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_OBSERVABILITY, name, None, opts)
        self._name = name
        self._args = args
        self._alarms: list[aws.cloudwatch.MetricAlarm] = []
        self._closed = False
        self.thresholds = args.thresholds
        self.topic_arn = self._topic(f"{name}-topic", args.base_name + "-alarms", region=None)
        # Topics in other regions (CloudFront's us-east-1), made on first use.
        self._regional_topics: dict[str, pulumi.Output[str]] = {}

    # --- what components call ---------------------------------------------------------------

    def alarm(
        self, suffix: str, description: str, *, metrics_region: str | None = None, **metric: Any
    ) -> aws.cloudwatch.MetricAlarm:
        """A CloudWatch alarm ``<project>-<env>-<suffix>`` notifying the topic on ALARM and OK.

        `metric` is `aws.cloudwatch.MetricAlarm`'s metric arguments. `metrics_region`: where
        the metric is published, when not in the stack's region (the alarm and its topic
        must be there too).
        """
        if self._closed:
            raise RuntimeError(
                f"Observability.alarm: {suffix!r} declared after close(); "
                "declare every component before closing the alarm sink"
            )
        topic_arn, region = self.topic_arn, None
        if metrics_region is not None and metrics_region != self._args.region:
            topic_arn, region = self._regional_topic(metrics_region), metrics_region
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{suffix}",
            name=f"{self._args.base_name}-{suffix}",
            alarm_description=description,
            alarm_actions=[topic_arn],
            ok_actions=[topic_arn],
            region=region,
            tags=self._args.tags,
            opts=pulumi.ResourceOptions(parent=self),
            **metric,
        )
        self._alarms.append(alarm)
        return alarm

    def cpu_alarm(
        self,
        suffix: str,
        namespace: str,
        metric_name: str,
        dimensions: dict[str, pulumi.Input[str]],
        description: str,
    ) -> aws.cloudwatch.MetricAlarm:
        """Average CPU above the stage's threshold for 15 minutes."""
        threshold = self.thresholds.cpu_percent
        return self.alarm(
            suffix,
            f"{description} (> {threshold:g}% for 15 minutes)",
            namespace=namespace,
            metric_name=metric_name,
            dimensions=dimensions,
            statistic="Average",
            period=FIVE_MINUTES,
            evaluation_periods=3,
            comparison_operator="GreaterThanThreshold",
            threshold=threshold,
        )

    def close(self) -> None:
        """Register the outputs: the topic and every alarm the components declared."""
        self._closed = True
        self.alarm_names = pulumi.Output.all(*[alarm.name for alarm in self._alarms]).apply(
            lambda names: sorted(names)
        )
        self.register_outputs({"topic_arn": self.topic_arn, "alarm_names": self.alarm_names})

    # --- topics ---------------------------------------------------------------------------

    def _regional_topic(self, region: str) -> pulumi.Output[str]:
        if region not in self._regional_topics:
            self._regional_topics[region] = self._topic(
                f"{self._name}-topic-{region}", f"{self._args.base_name}-alarms-{region}", region
            )
        return self._regional_topics[region]

    def _topic(self, logical: str, topic_name: str, region: str | None) -> pulumi.Output[str]:
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
        return topic.arn


def metric_query(
    metric_id: str,
    namespace: str,
    metric_name: str,
    dimensions: dict[str, pulumi.Input[str]],
    *,
    stat: str = "Sum",
    period: int = FIVE_MINUTES,
) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    """One metric a metric-math alarm reads (not itself the alarm's series)."""
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=metric_id,
        return_data=False,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=namespace,
            metric_name=metric_name,
            dimensions=dimensions,
            stat=stat,
            period=period,
        ),
    )


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
