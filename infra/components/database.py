"""RDS PostgreSQL: primary, subnet and parameter groups, read replicas, reader endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi


@dataclass(frozen=True)
class DatabaseArgs:
    """Everything the database needs, as explicit values (never the whole config)."""

    project: str
    environment: str
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_ids: Sequence[pulumi.Input[str]]
    engine_version: str
    instance_class: str
    allocated_storage_gb: int
    max_allocated_storage_gb: int
    db_name: str
    multi_az: bool
    backup_retention_days: int
    deletion_protection: bool
    skip_final_snapshot: bool
    apply_immediately: bool
    read_replicas: int = 0
    replica_instance_class: str | None = None
    master_username: str = "movies_admin"
    reader_zone_name: str = "movies.internal"
    tags: dict[str, str] = field(default_factory=dict)
    protect: bool = False


class Database(pulumi.ComponentResource):
    """Outputs: endpoint, address, reader_endpoint, port, identifier,
    replica_identifiers, replica_addresses, secret_arn."""

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("movies:infra:Database", name, None, opts)
        raise NotImplementedError("Database: being written (skeleton commit)")
