"""Declare one stage from a validated `StackConfig`: the components it has, wired together.

Logical names and parents never contain the stage, so moving a stack from stage N to N+1
keeps every surviving resource's URN; stateful physical names depend on project and
environment only (see docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.config import StackConfig
from infra.program.components.cache import Cache, CacheArgs
from infra.program.components.database import Database, DatabaseArgs, default_max_connections
from infra.program.components.edge import Edge, EdgeArgs
from infra.program.components.instance import architecture
from infra.program.components.load_balancer import LoadBalancer, LoadBalancerArgs, SearchRoute
from infra.program.components.network import (
    Network,
    NetworkArgs,
    PrivateEndpoints,
    PrivateEndpointsArgs,
)
from infra.program.components.observability import Observability, ObservabilityArgs
from infra.program.components.release import (
    TEMPLATE_PATH,
    Endpoints,
    Release,
    ReleaseArgs,
    artifact_name,
)
from infra.program.components.security import Security, SecurityArgs
from infra.program.components.single_box import SingleBox, SingleBoxArgs
from infra.program.components.storage import MediaStorage, MediaStorageArgs
from infra.program.components.web_tier import WebTier, WebTierArgs
from infra.program.outputs import StackOutput
from infra.program.tags import register_tagging
from infra.program.zones import stack_zones, stage_instance_types


@dataclass
class Stage:
    """What `declare_stage` built, for tests and for exports."""

    config: StackConfig
    network: Network
    security: Security
    release: Release
    observability: Observability | None = None  # declared last: it watches everything
    endpoints: PrivateEndpoints | None = None
    storage: MediaStorage | None = None
    database: Database | None = None
    cache: Cache | None = None
    load_balancer: LoadBalancer | None = None
    edge: Edge | None = None
    box: SingleBox | None = None
    web: WebTier | None = None
    search: WebTier | None = None


def declare_stage(
    config: StackConfig, *, artifact: str | None = None, template: Path | None = None
) -> Stage:
    """Declare every resource of `config`'s stage and export the stack outputs.

    `artifact` and `template` override the service build name and the user-data template
    (tests); by default they come from app_image/.
    """
    env, spec = config.env, config.stage
    tags = config.tags
    register_tagging(tags)
    prefix = f"{config.project}-{env.name}"
    account_id = aws.get_caller_identity().account_id
    private_compute = spec.web is not None
    # The profile's pinned zone IDs, checked (never replaced) against AWS's offerings for
    # the stage's instance types: a subnet's zone is ForceNew (infra/program/zones.py).
    zones = stack_zones(stage_instance_types(spec), env.zone_ids, region=env.region, env=env.name)

    network = Network(
        "network",
        NetworkArgs(
            name_prefix=prefix,
            region=env.region,
            vpc_cidr=env.vpc_cidr,
            availability_zone_ids=zones,
            nat=env.nat,
            private_compute=private_compute,
            tags=tags,
        ),
    )
    security = Security(
        "security",
        SecurityArgs(
            name_prefix=prefix,
            vpc_id=network.vpc_id,
            app_port=config.app_port,
            db_port=config.db_port,
            redis_port=config.redis_port,
            load_balancer=spec.web is not None,
            alb_ingress="cloudfront" if spec.edge is not None else "internet",
            alb_https=env.certificate_arn is not None,
            database=spec.database is not None,
            cache=spec.cache is not None,
            private_endpoints=private_compute,
            tags=tags,
            adopt_app=env.adopt,
        ),
    )
    endpoints = None
    if private_compute:
        assert security.endpoints_sg_id is not None
        endpoints = PrivateEndpoints(
            "endpoints",
            PrivateEndpointsArgs(
                name_prefix=prefix,
                region=env.region,
                vpc_id=network.vpc_id,
                subnet_ids=network.private_subnet_ids,
                security_group_id=security.endpoints_sg_id,
                with_nat=env.nat != "none",
                tags=tags,
            ),
        )

    storage = None
    distribution_arn, resolve_distribution_arn = None, None
    if spec.edge is not None:
        # The bucket policy names the distribution, which needs the bucket: resolved below.
        distribution_arn, resolve_distribution_arn = pulumi.deferred_output()
    if spec.storage is not None:
        storage = MediaStorage(
            "media",
            MediaStorageArgs(
                project=config.project,
                environment=env.name,
                account_id=account_id,
                noncurrent_version_expiration_days=spec.storage.noncurrent_version_expiration_days,
                infrequent_access_after_days=spec.storage.infrequent_access_after_days,
                cloudfront_distribution_arn=distribution_arn,
                force_destroy=not env.protect,
                tags=tags,
                protect=env.protect,
            ),
        )

    database = None
    if spec.database is not None:
        assert security.db_sg_id is not None
        db = spec.database
        database = Database(
            "database",
            DatabaseArgs(
                project=config.project,
                environment=env.name,
                vpc_id=network.vpc_id,
                subnet_ids=network.data_subnet_ids,
                security_group_ids=[security.db_sg_id],
                engine_version=db.engine_version,
                instance_class=db.instance_class,
                allocated_storage_gb=db.allocated_storage_gb,
                max_allocated_storage_gb=db.max_allocated_storage_gb,
                db_name=db.db_name,
                multi_az=env.multi_az,
                backup_retention_days=env.backup_retention_days,
                deletion_protection=env.deletion_protection,
                skip_final_snapshot=env.skip_final_snapshot,
                # The profile's apply_changes: a class change now (failover or reboot) or
                # queued for the maintenance window; the diff states which.
                apply_immediately=env.apply_immediately,
                read_replicas=db.read_replicas,
                replica_instance_class=db.replica_instance_class,
                log_retention_days=env.log_retention_days,
                tags=tags,
                protect=env.protect,
            ),
        )

    cache = None
    if spec.cache is not None:
        assert security.redis_sg_id is not None
        cache = Cache(
            "cache",
            CacheArgs(
                project=config.project,
                environment=env.name,
                subnet_ids=network.data_subnet_ids,
                security_group_ids=[security.redis_sg_id],
                engine_version=spec.cache.engine_version,
                node_type=spec.cache.node_type,
                node_count=spec.cache.node_count,
                multi_az=env.multi_az,
                snapshot_retention_days=min(env.backup_retention_days, 35),
                # A destroy takes a final snapshot only where the profile keeps one.
                final_snapshot=not env.skip_final_snapshot,
                apply_immediately=env.apply_immediately,
                tags=tags,
                protect=env.protect,
            ),
        )

    load_balancer = None
    if spec.web is not None:
        assert security.alb_sg_id is not None
        load_balancer = LoadBalancer(
            "alb",
            LoadBalancerArgs(
                name_prefix=prefix,
                vpc_id=network.vpc_id,
                subnet_ids=network.public_subnet_ids,
                security_group_id=security.alb_sg_id,
                app_port=config.app_port,
                certificate_arn=env.certificate_arn,
                search=(
                    SearchRoute(spec.search.path, spec.search.query_key)
                    if spec.search is not None
                    else None
                ),
                deletion_protection=env.deletion_protection,
                idle_timeout_s=env.alb_idle_timeout_s,
                tags=tags,
            ),
        )

    edge = None
    if spec.edge is not None:
        assert storage is not None and load_balancer is not None
        assert resolve_distribution_arn is not None
        edge = Edge(
            "edge",
            EdgeArgs(
                project=config.project,
                environment=env.name,
                bucket_regional_domain_name=storage.bucket_regional_domain_name,
                # With a certificate CloudFront connects over HTTPS to a name it covers
                # (config demands alb_origin_domain then); without, over HTTP to the ALB.
                alb_domain_name=env.alb_origin_domain or load_balancer.dns_name,
                alb_https=env.certificate_arn is not None,
                price_class=spec.edge.price_class,
                tags=tags,
            ),
        )
        resolve_distribution_arn(edge.distribution_arn)

    release = Release(
        "release",
        ReleaseArgs(
            project=config.project,
            environment=env.name,
            stage=spec.name,
            region=env.region,
            account_id=account_id,
            app_port=config.service_port,
            local_postgres=spec.local_postgres,
            endpoints=_endpoints(config, database, cache, storage, edge),
            log_retention_days=env.log_retention_days,
            artifact_name=artifact or artifact_name(),
            metrics_allow_cidrs=(env.vpc_cidr,),
            # Longer than the ALB's idle timeout by construction (EnvProfile).
            http_keepalive_s=env.http_keepalive_s,
            template_path=template or TEMPLATE_PATH,
            protect=env.protect,
            tags=tags,
        ),
    )

    stage = Stage(
        config=config,
        network=network,
        security=security,
        release=release,
        endpoints=endpoints,
        storage=storage,
        database=database,
        cache=cache,
        load_balancer=load_balancer,
        edge=edge,
    )
    _declare_compute(stage, prefix)
    stage.observability = _declare_observability(stage, account_id)
    export_outputs(stage)
    return stage


def _endpoints(
    config: StackConfig,
    database: Database | None,
    cache: Cache | None,
    storage: MediaStorage | None,
    edge: Edge | None,
) -> Endpoints:
    spec = config.stage
    if database is None:
        # PostgreSQL on the box itself (single-box); the password is local peer auth.
        db = {"db_host": "127.0.0.1" if spec.local_postgres else "", "db_port": config.db_port}
    else:
        db = {
            "db_host": database.address,
            "db_port": database.port,
            "db_reader_host": database.reader_endpoint or "",
            "db_secret_arn": database.secret_arn,
        }
    return Endpoints(
        **db,
        db_name=spec.database.db_name if spec.database else config.project,
        redis_host=cache.primary_endpoint if cache else "",
        redis_port=config.redis_port,
        redis_auth_secret_arn=cache.auth_secret_arn if cache else "",
        media_bucket=storage.bucket_name if storage else "",
        media_bucket_arn=storage.bucket_arn if storage else "",
        cdn_base_url=edge.domain_name.apply(lambda d: f"https://{d}") if edge else "",
    )


def _declare_compute(stage: Stage, prefix: str) -> None:
    config, spec, net, sec, rel = (
        stage.config,
        stage.config.stage,
        stage.network,
        stage.security,
        stage.release,
    )
    tags = config.tags
    pins = dict(config.env.ami_ids)
    if spec.single_box is not None:
        box = spec.single_box
        stage.box = SingleBox(
            "box",
            SingleBoxArgs(
                name_prefix=prefix,
                instance_type=box.instance_type,
                root_volume_gb=box.root_volume_gb,
                ami_id=pins[architecture(box.instance_type)],
                subnet_id=net.public_subnet_ids[0],
                security_group_ids=[sec.app_sg_id],
                instance_profile_name=rel.instance_profile_name,
                user_data=rel.user_data,
                holds_data=spec.local_postgres,
                protect=config.env.protect,
                # Its boot reaches S3 (artifact) and the internet (packages) this way.
                boot_dependencies=net.public_boot_dependencies,
                tags=tags,
                adopt=config.env.adopt,
            ),
        )
        return
    assert spec.web is not None and stage.load_balancer is not None
    lb = stage.load_balancer
    tiers = [("web", spec.web)] + ([("search", spec.search)] if spec.search else [])
    # An instance booting before its NAT route and endpoints exist retries for minutes and
    # fails its health checks; the groups wait for them.
    boot = [
        *net.private_boot_dependencies,
        *(stage.endpoints.boot_dependencies if stage.endpoints else []),
    ]
    for role, tier in tiers:
        group = lb.target_groups[role]
        web_tier = WebTier(
            role,
            WebTierArgs(
                name_prefix=prefix,
                role=role,
                instance_type=tier.instance_type,
                min_size=tier.min_size,
                max_size=tier.max_size,
                desired_capacity=tier.desired_capacity,
                scale_target_per_minute=tier.scale_target_per_minute,
                root_volume_gb=tier.root_volume_gb,
                ami_id=pins[architecture(tier.instance_type)],
                subnet_ids=net.private_subnet_ids,
                security_group_ids=[sec.app_sg_id],
                instance_profile_name=rel.instance_profile_name,
                user_data=rel.user_data,
                target_group_arn=group.arn,
                target_group_arn_suffix=group.arn_suffix,
                alb_arn_suffix=lb.alb_arn_suffix,
                boot_dependencies=boot,
                tags=tags,
            ),
        )
        setattr(stage, role, web_tier)


def _declare_observability(stage: Stage, account_id: str) -> Observability:
    config = stage.config
    spec = config.stage
    lb = stage.load_balancer
    db = stage.database
    tiers = {role: t for role, t in (("web", stage.web), ("search", stage.search)) if t}
    return Observability(
        "observability",
        ObservabilityArgs(
            project=config.project,
            environment=config.env.name,
            region=config.env.region,
            account_id=account_id,
            alarm_email=config.env.alarm_email,
            instance_id=stage.box.instance_id if stage.box else None,
            alb_arn_suffix=lb.alb_arn_suffix if lb else None,
            target_group_arn_suffixes=(
                {role: lb.target_groups[role].arn_suffix for role in tiers} if lb else {}
            ),
            asg_names={role: t.asg_name for role, t in tiers.items()},
            db_identifier=db.identifier if db else None,
            db_replica_identifiers=db.replica_identifiers if db else (),
            db_allocated_storage_gb=spec.database.allocated_storage_gb if spec.database else None,
            db_max_connections=(
                default_max_connections(spec.database.instance_class) if spec.database else None
            ),
            redis_node_ids=stage.cache.node_ids if stage.cache else (),
            cloudfront_distribution_id=stage.edge.distribution_id if stage.edge else None,
            tags=config.tags,
        ),
    )


def export_outputs(stage: Stage) -> dict[str, Any]:
    """The stack outputs named in docs/architecture.md; absent when the stage lacks the part."""
    config = stage.config
    out: dict[StackOutput, Any] = {
        StackOutput.STAGE: config.stage.name,
        StackOutput.ENVIRONMENT: config.env.name,
        StackOutput.VPC_ID: stage.network.vpc_id,
    }
    if stage.observability is not None:
        out[StackOutput.SNS_TOPIC_ARN] = stage.observability.topic_arn
        out[StackOutput.ALARM_NAMES] = stage.observability.alarm_names
    if stage.box is not None:
        out[StackOutput.INSTANCE_ID] = stage.box.instance_id
        out[StackOutput.PUBLIC_IP] = stage.box.public_ip
        # The box serves on port 80 (config.service_port): no port in the URL.
        out[StackOutput.URL] = stage.box.public_ip.apply(lambda ip: f"http://{ip}")
    if stage.load_balancer is not None:
        lb = stage.load_balancer
        out[StackOutput.ALB_ARN] = lb.alb_arn
        out[StackOutput.ALB_DNS_NAME] = lb.dns_name
        out[StackOutput.TARGET_GROUP_ARNS] = [tg.arn for _, tg in sorted(lb.target_groups.items())]
        out[StackOutput.ASG_NAMES] = [
            t.asg_name for t in (stage.web, stage.search) if t is not None
        ]
        out[StackOutput.URL] = lb.url
    if stage.database is not None:
        db = stage.database
        out[StackOutput.DB_PRIMARY_IDENTIFIER] = db.identifier
        out[StackOutput.DB_REPLICA_IDENTIFIERS] = db.replica_identifiers
        out[StackOutput.DB_ENDPOINT] = db.endpoint
        out[StackOutput.DB_SECRET_ARN] = db.secret_arn
        if db.reader_endpoint is not None:
            out[StackOutput.DB_READER_ENDPOINT] = db.reader_endpoint
    if stage.cache is not None:
        out[StackOutput.REDIS_REPLICATION_GROUP_ID] = stage.cache.replication_group_id
        out[StackOutput.REDIS_PRIMARY_ENDPOINT] = stage.cache.primary_endpoint
        out[StackOutput.REDIS_READER_ENDPOINT] = stage.cache.reader_endpoint
        out[StackOutput.REDIS_AUTH_SECRET_ARN] = stage.cache.auth_secret_arn
    if stage.storage is not None:
        out[StackOutput.MEDIA_BUCKET] = stage.storage.bucket_name
    if stage.edge is not None:
        out[StackOutput.CDN_DOMAIN] = stage.edge.domain_name
        out[StackOutput.CDN_DISTRIBUTION_ID] = stage.edge.distribution_id
        out[StackOutput.URL] = stage.edge.domain_name.apply(lambda d: f"https://{d}")
    for key, value in out.items():
        pulumi.export(key.value, value)
    return out
