"""RDS PostgreSQL: primary, subnet and parameter groups, read replicas, reader endpoint.

URN and identity: every logical name is ``<component name>-<role>`` and every physical
identifier is ``<project>-<environment>-db...``; neither contains the stage, so moving a
stack from one stage to the next keeps the primary's URN and identifier (RDS replaces an
instance whose identifier, engine, subnet group or encryption changes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.catalog import CatalogError, class_size, pg_default_max_connections
from infra.program.components.observability import FIVE_MINUTES, ONE_MINUTE, Observability
from infra.program.components.snapshots import final_snapshot_name
from infra.tokens import ResourceType

SUPPORTED_MAJOR_VERSIONS = ("13", "14", "15", "16", "17")
# Burstable classes on which RDS does not offer Performance Insights for every engine;
# dev runs these and loses nothing it needs without PI.
_NO_PERFORMANCE_INSIGHTS = (
    "db.t2.micro",
    "db.t2.small",
    "db.t3.micro",
    "db.t3.small",
    "db.t4g.micro",
    "db.t4g.small",
)
_ENGINE_PORT = 5432
_LOG_EXPORTS = ("postgresql", "upgrade")
# Short TTL so a replica added or removed reaches the app's resolver within seconds.
_READER_RECORD_TTL = 10
_GIB = 1024**3


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
    slow_query_ms: int = 500
    log_retention_days: int = 30
    tags: dict[str, str] = field(default_factory=dict)
    protect: bool = False
    alarms: Observability | None = None  # the stage's alarm sink; None: no alarms

    def __post_init__(self) -> None:
        major = self.engine_version.split(".")[0]
        if major not in SUPPORTED_MAJOR_VERSIONS:
            raise ValueError(
                f"DatabaseArgs.engine_version: {self.engine_version!r} is not supported; "
                f"allowed major versions: {', '.join(SUPPORTED_MAJOR_VERSIONS)}"
            )
        if len(self.subnet_ids) < 2:
            raise ValueError(
                f"DatabaseArgs.subnet_ids: {len(self.subnet_ids)} subnet(s) given; "
                "an RDS subnet group needs subnets in at least 2 AZs"
            )
        # Sizes, classes, replica and backup rules are the stage spec's and profile's
        # (infra/config.py), checked before the composer builds these arguments.

    @property
    def engine_major(self) -> str:
        return self.engine_version.split(".")[0]

    @property
    def identifier(self) -> str:
        return f"{self.project}-{self.environment}-db"

    def replica_identifier(self, index: int) -> str:
        """1-based, so the first replica is ``<project>-<env>-db-replica-1``."""
        return f"{self.identifier}-replica-{index}"


# The first major whose read replicas may keep automated backups (14.1 on RDS, the first
# 14.x RDS offered).
REPLICA_BACKUPS_FROM_MAJOR = 14


def replica_backup_days(args: DatabaseArgs) -> int:
    """The replicas' backup retention: the primary's, where RDS allows it on a replica."""
    if int(args.engine_major) < REPLICA_BACKUPS_FROM_MAJOR:
        return 0
    return args.backup_retention_days


def performance_insights_supported(instance_class: str) -> bool:
    return instance_class not in _NO_PERFORMANCE_INSIGHTS


def default_max_connections(instance_class: str) -> int:
    """PostgreSQL's default max_connections on RDS for a class, from its memory
    (LEAST({DBInstanceClassMemory/9531392}, 5000) in the default parameter group)."""
    if not instance_class.startswith("db."):
        raise ValueError(f"instance_class: {instance_class!r} is not an RDS class (db.*)")
    try:
        memory_gib = class_size(instance_class).memory_gib
    except CatalogError as exc:
        raise ValueError(f"instance_class: {exc}") from None
    return pg_default_max_connections(memory_gib)


class Database(pulumi.ComponentResource):
    """Outputs: endpoint, address, reader_endpoint, port, identifier,
    replica_identifiers, replica_addresses, secret_arn."""

    endpoint: pulumi.Output[str]
    address: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str] | None
    port: pulumi.Output[int]
    identifier: pulumi.Output[str]
    replica_identifiers: list[pulumi.Output[str]]
    replica_addresses: list[pulumi.Output[str]]
    secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_DATABASE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Stateful: the subnet group is replace-triggering for the instance, so it is
        # protected with it.
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)

        subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnet-group",
            name=args.identifier,
            description=f"{args.project} {args.environment} database: data subnets",
            subnet_ids=list(args.subnet_ids),
            tags=args.tags,
            opts=stateful,
        )
        family = f"postgres{args.engine_major}"
        # The family is in the name, so a major upgrade creates the new group before the
        # old one is deleted instead of failing on a name clash.
        parameter_group = aws.rds.ParameterGroup(
            f"{name}-params",
            name=f"{args.identifier}-{family}",
            family=family,
            description=f"{args.project} {args.environment} PostgreSQL {args.engine_major}",
            # apply_method stated on every entry: left out, the provider sends
            # "immediate", which RDS refuses for a static parameter (ModifyDBParameterGroup:
            # "pending-reboot" is the only method for static ones). Both are dynamic.
            parameters=[
                aws.rds.ParameterGroupParameterArgs(
                    name="rds.force_ssl", value="1", apply_method="immediate"
                ),
                aws.rds.ParameterGroupParameterArgs(
                    name="log_min_duration_statement",
                    value=str(args.slow_query_ms),
                    apply_method="immediate",
                ),
            ],
            tags=args.tags,
            opts=child,
        )
        # Declared before the instance, so RDS writes into groups that expire; left to
        # RDS, the exported log groups keep every line forever.
        log_groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-log-{kind}",
                name=f"/aws/rds/instance/{args.identifier}/{kind}",
                retention_in_days=args.log_retention_days,
                tags=args.tags,
                opts=child,
            )
            for kind in _LOG_EXPORTS
        ]
        insights = performance_insights_supported(args.instance_class)
        primary = aws.rds.Instance(
            f"{name}-primary",
            identifier=args.identifier,
            engine="postgres",
            # Major only: with auto minor upgrades RDS moves the minor and a pinned minor
            # would show as drift (the provider accepts a version prefix).
            engine_version=args.engine_major,
            instance_class=args.instance_class,
            db_name=args.db_name,
            username=args.master_username,
            # RDS generates the password and keeps it in Secrets Manager: it never passes
            # through config, state or user data.
            manage_master_user_password=True,
            db_subnet_group_name=subnet_group.name,
            parameter_group_name=parameter_group.name,
            vpc_security_group_ids=list(args.security_group_ids),
            publicly_accessible=False,
            port=_ENGINE_PORT,
            storage_type="gp3",
            allocated_storage=args.allocated_storage_gb,
            max_allocated_storage=args.max_allocated_storage_gb,
            storage_encrypted=True,
            multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days,
            backup_window="03:00-04:00",
            maintenance_window="sun:04:30-sun:05:30",
            copy_tags_to_snapshot=True,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=args.skip_final_snapshot,
            final_snapshot_identifier=(
                None
                if args.skip_final_snapshot
                else final_snapshot_name(self, name, args.identifier)
            ),
            auto_minor_version_upgrade=True,
            allow_major_version_upgrade=False,
            apply_immediately=args.apply_immediately,
            performance_insights_enabled=insights,
            performance_insights_retention_period=7 if insights else None,
            enabled_cloudwatch_logs_exports=list(_LOG_EXPORTS),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=log_groups),
        )

        # One replica at a time, after the primary. Created together, a replica can find
        # its source not "available" (InvalidDBInstanceState: hashicorp/
        # terraform-provider-aws#43474); resized together, every replica restarts at once
        # and all reads fall back to the primary. The engine orders creates and updates
        # by dependencies: replica 1 waits for the primary (replicate_source_db, an
        # output of it), so its resize starts only after the primary's modification,
        # Multi-AZ failover included, has returned (the provider waits for "available"
        # after ModifyDBInstance); replica N waits for replica N-1 the same way.
        replicas: list[aws.rds.Instance] = []
        for index in range(1, args.read_replicas + 1):
            previous = replicas[-1:] or [primary]
            replicas.append(self._replica(name, args, index, primary, parameter_group, previous))

        self.endpoint = primary.endpoint
        self.address = primary.address
        self.port = primary.port
        self.identifier = primary.identifier
        self.replica_identifiers = [replica.identifier for replica in replicas]
        self.replica_addresses = [replica.address for replica in replicas]
        self.secret_arn = primary.master_user_secrets.apply(
            lambda secrets: secrets[0].secret_arn if secrets else None
        )
        self.reader_endpoint = (
            self._reader_endpoint(name, args, replicas, child) if replicas else None
        )
        if args.alarms is not None:
            declare_alarms(
                args.alarms,
                self.identifier,
                self.replica_identifiers,
                allocated_storage_gb=args.allocated_storage_gb,
                max_connections=default_max_connections(args.instance_class),
            )

        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "address": self.address,
                "port": self.port,
                "identifier": self.identifier,
                "replica_identifiers": self.replica_identifiers,
                "replica_addresses": self.replica_addresses,
                "reader_endpoint": self.reader_endpoint,
                "secret_arn": self.secret_arn,
            }
        )

    def _replica(
        self,
        name: str,
        args: DatabaseArgs,
        index: int,
        primary: aws.rds.Instance,
        parameter_group: aws.rds.ParameterGroup,
        previous: list[aws.rds.Instance],
    ) -> aws.rds.Instance:
        """Read replica `index` (1-based), created and modified after `previous`."""
        return aws.rds.Instance(
            f"{name}-replica-{index}",
            identifier=args.replica_identifier(index),
            # Instance settings only: engine, version, credentials, database name,
            # subnet group (same VPC) and storage encryption come from the source.
            replicate_source_db=primary.identifier,
            instance_class=args.replica_instance_class,
            parameter_group_name=parameter_group.name,
            vpc_security_group_ids=list(args.security_group_ids),
            publicly_accessible=False,
            storage_type="gp3",
            max_allocated_storage=args.max_allocated_storage_gb,
            # A replica holds no data of its own (no final snapshot), but it is what
            # serves reads: deletion protection as the primary has it, so a stage move
            # that drops one is refused by RDS unless turned off first (and the diff
            # asks: infra.catalog.delete_needs_consent). Backups as the primary keeps them,
            # so a replica promoted in an emergency starts with its own; RDS for
            # PostgreSQL allows automated backups on replicas from 14.1 only (RDS user
            # guide, "Working with read replicas for Amazon RDS for PostgreSQL",
            # limitations), hence 0 below 14.
            deletion_protection=args.deletion_protection,
            backup_retention_period=replica_backup_days(args),
            skip_final_snapshot=True,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            apply_immediately=args.apply_immediately,
            performance_insights_enabled=performance_insights_supported(
                args.replica_instance_class or ""
            ),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
        )

    @staticmethod
    def _reader_endpoint(
        name: str,
        args: DatabaseArgs,
        replicas: list[aws.rds.Instance],
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str]:
        """One DNS name over the replicas: ``db-reader.<zone>`` in a private hosted zone.

        RDS for PostgreSQL (non-Aurora) has no reader endpoint, and an RDS Proxy can only
        front the primary of an RDS instance (read-only proxy endpoints are Aurora-only),
        so the reader name is a set of equally weighted CNAMEs, one per replica, in a
        private zone of the VPC. Each lookup answers one replica; the app's pool spreads
        its connections over them. Route 53 health checks cannot probe the replicas'
        private addresses, so a failed replica stays in the answer until it is removed
        (its ReplicaLag alarm pages); the app also gets the replica addresses directly.
        """
        zone = aws.route53.Zone(
            f"{name}-reader-zone",
            name=args.reader_zone_name,
            comment=f"{args.project} {args.environment}: private names for the database",
            vpcs=[aws.route53.ZoneVpcArgs(vpc_id=args.vpc_id)],
            # The zone only ever holds the records below, which Pulumi deletes first.
            force_destroy=True,
            tags=args.tags,
            opts=child,
        )
        record_name = f"db-reader.{args.reader_zone_name}"
        records = [
            aws.route53.Record(
                f"{name}-reader-{index}",
                zone_id=zone.zone_id,
                name=record_name,
                type="CNAME",
                ttl=_READER_RECORD_TTL,
                records=[replica.address],
                set_identifier=args.replica_identifier(index),
                weighted_routing_policies=[aws.route53.RecordWeightedRoutingPolicyArgs(weight=1)],
                opts=child,
            )
            for index, replica in enumerate(replicas, start=1)
        ]
        # Through the records' fqdn, so whoever uses the name waits for the records.
        return records[0].fqdn.apply(lambda fqdn: fqdn.rstrip("."))


def declare_alarms(
    sink: Observability,
    primary: pulumi.Input[str],
    replicas: Sequence[pulumi.Input[str]],
    *,
    allocated_storage_gb: int,
    max_connections: int,
) -> None:
    """Primary: CPU, free storage, connections; each replica: CPU and lag.

    Free storage and connections are shares of the primary's allocated storage and its
    class's default max_connections (sink.thresholds).
    """
    for key, value in (
        ("allocated_storage_gb", allocated_storage_gb),
        ("max_connections", max_connections),
    ):
        if value < 1:
            raise ValueError(f"database alarms: {key} {value}; allowed: >= 1")
    t = sink.thresholds
    sink.cpu_alarm(
        "db-primary-cpu",
        "AWS/RDS",
        "CPUUtilization",
        {"DBInstanceIdentifier": primary},
        "RDS primary CPU high: reads missing the cache or a slow query",
    )
    sink.alarm(
        "db-free-storage",
        f"RDS primary free storage below {t.db_free_storage_percent}% of "
        f"{allocated_storage_gb} GiB (storage autoscaling may be at its cap)",
        namespace="AWS/RDS",
        metric_name="FreeStorageSpace",
        dimensions={"DBInstanceIdentifier": primary},
        statistic="Minimum",
        period=FIVE_MINUTES,
        evaluation_periods=2,
        comparison_operator="LessThanThreshold",
        threshold=allocated_storage_gb * _GIB * t.db_free_storage_percent / 100,
    )
    sink.alarm(
        "db-connections",
        f"RDS primary connections above {t.db_connections_percent}% of "
        f"max_connections ({max_connections})",
        namespace="AWS/RDS",
        metric_name="DatabaseConnections",
        dimensions={"DBInstanceIdentifier": primary},
        statistic="Maximum",
        period=FIVE_MINUTES,
        evaluation_periods=2,
        comparison_operator="GreaterThanThreshold",
        threshold=max_connections * t.db_connections_percent / 100,
    )
    for index, replica in enumerate(replicas, start=1):
        sink.cpu_alarm(
            f"db-replica-{index}-cpu",
            "AWS/RDS",
            "CPUUtilization",
            {"DBInstanceIdentifier": replica},
            f"RDS replica {index} CPU high: add a replica or a bigger class",
        )
        sink.alarm(
            f"db-replica-{index}-lag",
            f"RDS replica {index} more than {t.replica_lag_seconds}s behind the primary: "
            "reads routed to it are stale",
            namespace="AWS/RDS",
            metric_name="ReplicaLag",
            dimensions={"DBInstanceIdentifier": replica},
            statistic="Maximum",
            period=ONE_MINUTE,
            evaluation_periods=5,
            comparison_operator="GreaterThanThreshold",
            threshold=t.replica_lag_seconds,
        )
