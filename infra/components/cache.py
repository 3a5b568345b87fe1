"""ElastiCache Redis/Valkey replication group with TLS, at-rest encryption and an auth token."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi


@dataclass(frozen=True)
class CacheArgs:
    project: str
    environment: str
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_ids: Sequence[pulumi.Input[str]]
    engine_version: str
    node_type: str
    node_count: int
    multi_az: bool
    snapshot_retention_days: int
    apply_immediately: bool
    engine: str = "redis"
    tags: dict[str, str] = field(default_factory=dict)
    protect: bool = False


class Cache(pulumi.ComponentResource):
    """Outputs: replication_group_id, primary_endpoint, reader_endpoint, port,
    auth_secret_arn, node_ids."""

    def __init__(
        self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("movies:infra:Cache", name, None, opts)
        raise NotImplementedError("Cache: being written (skeleton commit)")
