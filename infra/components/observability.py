"""SNS alarm topic and the CloudWatch alarms for the parts a stage has."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi


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
    target_group_arn_suffixes: Sequence[pulumi.Input[str]] = ()
    asg_names: Sequence[pulumi.Input[str]] = ()
    db_identifier: pulumi.Input[str] | None = None
    db_replica_identifiers: Sequence[pulumi.Input[str]] = ()
    db_allocated_storage_gb: int | None = None
    db_max_connections: int | None = None
    redis_node_ids: Sequence[pulumi.Input[str]] = ()
    cloudfront_distribution_id: pulumi.Input[str] | None = None
    tags: dict[str, str] = field(default_factory=dict)


class Observability(pulumi.ComponentResource):
    """Outputs: topic_arn, alarm_names."""

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("movies:infra:Observability", name, None, opts)
        raise NotImplementedError("Observability: being written (skeleton commit)")
