"""Declare one stage from a validated `StackConfig`: the components it has, wired together.

Logical names and parents never contain the stage, so moving a stack from stage N to N+1
keeps every surviving resource's URN; stateful physical names depend on project and
environment only (see docs/architecture.md). `declare_stage` is the stage's outline; one
helper per component turns the config into that component's args, and each component
declares its own alarms into the alarm sink it is given (components/observability.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.config import StackConfig
from infra.program.components.cache import Cache, CacheArgs
from infra.program.components.database import Database, DatabaseArgs
from infra.program.components.domain import AliasTarget, Domain, DomainArgs
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
    observability: Observability  # declared first: every component alarms into it
    network: Network
    security: Security
    # Set once the data parts it points the service at exist (declare_stage).
    release: Release = field(init=False)
    endpoints: PrivateEndpoints | None = None
    storage: MediaStorage | None = None
    database: Database | None = None
    cache: Cache | None = None
    load_balancer: LoadBalancer | None = None
    edge: Edge | None = None
    domain: Domain | None = None  # the profile's `domain`: certificates and records
    box: SingleBox | None = None
    web: WebTier | None = None
    search: WebTier | None = None


def declare_stage(
    config: StackConfig, *, artifact: str | None = None, template: Path | None = None
) -> Stage:
    """Declare every resource of `config`'s stage and export the stack outputs.

    The outline: the zones checked, the alarm sink, the network and its firewall, then
    each part the stage has; each part declares its own alarms into the sink (its args'
    `alarms`), which is closed once every part is declared. `artifact` and `template`
    override the service build name and the user-data template (tests); by default they
    come from app_image/.
    """
    spec = config.stage
    register_tagging(config.tags)
    account_id = aws.get_caller_identity().account_id
    # The profile's pinned zone IDs, checked (never replaced) against AWS's offerings for
    # the stage's instance types before any resource: a subnet's zone is ForceNew
    # (infra/program/zones.py).
    zones = stack_zones(
        stage_instance_types(spec),
        config.env.zone_ids,
        region=config.env.region,
        env=config.env.name,
    )
    alarms = _observability(config, account_id)
    network = _network(config, zones)
    stage = Stage(config, alarms, network, _security(config, network))
    if spec.web is not None:  # private compute
        stage.endpoints = _private_endpoints(stage)
    # The bucket policy names the distribution, which needs the bucket: resolved below.
    distribution_arn, resolve_distribution_arn = (
        pulumi.deferred_output() if spec.edge is not None else (None, None)
    )
    if spec.storage is not None:
        stage.storage = _storage(config, account_id, distribution_arn)
    if spec.database is not None:
        stage.database = _database(stage)
    if spec.cache is not None:
        stage.cache = _cache(stage)
    if config.env.domain is not None:  # certificates first: the ALB and CloudFront take them
        stage.domain = _domain(config)
    if spec.web is not None:
        stage.load_balancer = _load_balancer(stage)
    if spec.edge is not None:
        assert resolve_distribution_arn is not None
        stage.edge = _edge(stage)
        resolve_distribution_arn(stage.edge.distribution_arn)
    stage.release = _release(stage, account_id, artifact, template)
    if spec.single_box is not None:
        stage.box = _single_box(stage)
    else:
        for role in ("web", "search"):
            if getattr(spec, role) is not None:
                setattr(stage, role, _web_tier(stage, role))
        if stage.search is not None:
            assert stage.load_balancer is not None
            # Searches are routed to the search fleet only once it is healthy.
            stage.load_balancer.route_search(stage.search.group)
    if stage.domain is not None:
        _point_names(stage, stage.domain)
    alarms.close()
    export_outputs(stage)
    return stage


# --- one function per component: its args from the stack config and the parts it uses ---


def _prefix(config: StackConfig) -> str:
    return f"{config.project}-{config.env.name}"


def _observability(config: StackConfig, account_id: str) -> Observability:
    return Observability(
        "observability",
        ObservabilityArgs(
            project=config.project,
            environment=config.env.name,
            region=config.env.region,
            account_id=account_id,
            alarm_email=config.env.alarm_email,
            tags=config.tags,
        ),
    )


def _network(config: StackConfig, zones: list[str]) -> Network:
    env = config.env
    return Network(
        "network",
        NetworkArgs(
            name_prefix=_prefix(config),
            region=env.region,
            vpc_cidr=env.vpc_cidr,
            availability_zone_ids=zones,
            nat=env.nat,
            private_compute=config.stage.web is not None,
            tags=config.tags,
        ),
    )


def _security(config: StackConfig, network: Network) -> Security:
    env, spec = config.env, config.stage
    return Security(
        "security",
        SecurityArgs(
            name_prefix=_prefix(config),
            vpc_id=network.vpc_id,
            app_port=config.app_port,
            db_port=config.db_port,
            redis_port=config.redis_port,
            load_balancer=spec.web is not None,
            alb_from_internet=config.alb_from_internet,
            alb_from_cloudfront=spec.edge is not None,
            alb_https=_alb_https(config),
            database=spec.database is not None,
            cache=spec.cache is not None,
            private_endpoints=spec.web is not None,
            tags=config.tags,
            adopt_app=env.adopt,
        ),
    )


def _private_endpoints(stage: Stage) -> PrivateEndpoints:
    config, network, security = stage.config, stage.network, stage.security
    assert security.endpoints_sg_id is not None
    return PrivateEndpoints(
        "endpoints",
        PrivateEndpointsArgs(
            name_prefix=_prefix(config),
            region=config.env.region,
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            security_group_id=security.endpoints_sg_id,
            with_nat=config.env.nat != "none",
            tags=config.tags,
        ),
    )


def _storage(
    config: StackConfig, account_id: str, distribution_arn: pulumi.Output[str] | None
) -> MediaStorage:
    env, storage = config.env, config.stage.storage
    assert storage is not None
    return MediaStorage(
        "media",
        MediaStorageArgs(
            project=config.project,
            environment=env.name,
            account_id=account_id,
            noncurrent_version_expiration_days=storage.noncurrent_version_expiration_days,
            infrequent_access_after_days=storage.infrequent_access_after_days,
            cloudfront_distribution_arn=distribution_arn,
            force_destroy=not env.protect,
            tags=config.tags,
            protect=env.protect,
        ),
    )


def _database(stage: Stage) -> Database:
    config, network, security = stage.config, stage.network, stage.security
    env, db = config.env, config.stage.database
    assert db is not None and security.db_sg_id is not None
    return Database(
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
            tags=config.tags,
            protect=env.protect,
            alarms=stage.observability,
        ),
    )


def _cache(stage: Stage) -> Cache:
    config, network, security = stage.config, stage.network, stage.security
    env, cache = config.env, config.stage.cache
    assert cache is not None and security.redis_sg_id is not None
    return Cache(
        "cache",
        CacheArgs(
            project=config.project,
            environment=env.name,
            subnet_ids=network.data_subnet_ids,
            security_group_ids=[security.redis_sg_id],
            engine_version=cache.engine_version,
            node_type=cache.node_type,
            node_count=cache.node_count,
            multi_az=env.multi_az,
            snapshot_retention_days=min(env.backup_retention_days, 35),
            # A destroy takes a final snapshot only where the profile keeps one.
            final_snapshot=not env.skip_final_snapshot,
            apply_immediately=env.apply_immediately,
            tags=config.tags,
            protect=env.protect,
            alarms=stage.observability,
        ),
    )


def _load_balancer(stage: Stage) -> LoadBalancer:
    config, network, security = stage.config, stage.network, stage.security
    env, search = config.env, config.stage.search
    assert security.alb_sg_id is not None
    return LoadBalancer(
        "alb",
        LoadBalancerArgs(
            name_prefix=_prefix(config),
            vpc_id=network.vpc_id,
            subnet_ids=network.public_subnet_ids,
            security_group_id=security.alb_sg_id,
            app_port=config.app_port,
            certificate_arn=(
                stage.domain.alb_certificate_arn if stage.domain else env.certificate_arn
            ),
            search=SearchRoute(search.path, search.query_key) if search is not None else None,
            deletion_protection=env.deletion_protection,
            idle_timeout_s=env.alb_idle_timeout_s,
            tags=config.tags,
            alarms=stage.observability,
        ),
    )


def _edge(stage: Stage) -> Edge:
    config, storage, load_balancer = stage.config, stage.storage, stage.load_balancer
    env, edge, domain = config.env, config.stage.edge, stage.domain
    assert edge is not None and storage is not None and load_balancer is not None
    origin = env.domain.origin if env.domain else env.alb_origin_domain
    return Edge(
        "edge",
        EdgeArgs(
            project=config.project,
            environment=env.name,
            bucket_regional_domain_name=storage.bucket_regional_domain_name,
            # With a certificate CloudFront connects over HTTPS to a name it covers
            # (config demands alb_origin_domain then; with a domain, its `origin`);
            # without, over HTTP to the ALB.
            alb_domain_name=origin or load_balancer.dns_name,
            alb_https=_alb_https(config),
            price_class=edge.price_class,
            certificate_arn=domain.cdn_certificate_arn if domain else None,
            aliases=(env.domain.api,) if env.domain else (),
            tags=config.tags,
            alarms=stage.observability,
        ),
    )


def _alb_https(config: StackConfig) -> bool:
    """The ALB has an HTTPS listener: a certificate from the profile, or made for its domain."""
    return config.env.certificate_arn is not None or (
        config.env.domain is not None and config.stage.web is not None
    )


def _domain(config: StackConfig) -> Domain:
    domain, spec = config.env.domain, config.stage
    assert domain is not None
    return Domain(
        "domain",
        DomainArgs(
            name_prefix=_prefix(config),
            zone=domain.zone,
            zone_id=domain.zone_id,
            api=domain.api,
            origin=domain.origin,
            load_balancer=spec.web is not None,
            edge=spec.edge is not None,
            tags=config.tags,
        ),
    )


def _point_names(stage: Stage, domain: Domain) -> None:
    """The alias records. `api` points at CloudFront once the edge cut-over is closed (or
    offline, the stage's end state), at the ALB before (cut-over open, or no edge), at
    the box's Elastic IP at stages 1-2; `origin` at the ALB wherever there is one.
    Moving `api` to CloudFront is the DNS step of the edge runbook (docs/infra.md)."""
    config, lb, edge = stage.config, stage.load_balancer, stage.edge
    if lb is not None:
        alb = AliasTarget(lb.dns_name, lb.zone_id, evaluate_target_health=True)
        domain.point_origin(alb)
        if edge is not None and config.edge_cutover != "open":
            domain.point_api(
                AliasTarget(
                    edge.domain_name, edge.hosted_zone_id, evaluate_target_health=False, ipv6=True
                )
            )
        else:
            domain.point_api(alb)
    elif stage.box is not None:
        domain.point_api_at_address(stage.box.public_ip)


def _release(stage: Stage, account_id: str, artifact: str | None, template: Path | None) -> Release:
    config = stage.config
    env, spec = config.env, config.stage
    return Release(
        "release",
        ReleaseArgs(
            project=config.project,
            environment=env.name,
            stage=spec.name,
            region=env.region,
            account_id=account_id,
            app_port=config.service_port,
            local_postgres=spec.local_postgres,
            endpoints=_endpoints(config, stage.database, stage.cache, stage.storage, stage.edge),
            log_retention_days=env.log_retention_days,
            artifact_name=artifact or artifact_name(),
            metrics_allow_cidrs=(env.vpc_cidr,),
            # Longer than the ALB's idle timeout by construction (EnvProfile).
            http_keepalive_s=env.http_keepalive_s,
            template_path=template or TEMPLATE_PATH,
            protect=env.protect,
            tags=config.tags,
        ),
    )


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


def _single_box(stage: Stage) -> SingleBox:
    config, network, release = stage.config, stage.network, stage.release
    box = config.stage.single_box
    assert box is not None
    return SingleBox(
        "box",
        SingleBoxArgs(
            name_prefix=_prefix(config),
            instance_type=box.instance_type,
            root_volume_gb=box.root_volume_gb,
            ami_id=dict(config.env.ami_ids)[architecture(box.instance_type)],
            subnet_id=network.public_subnet_ids[0],
            security_group_ids=[stage.security.app_sg_id],
            instance_profile_name=release.instance_profile_name,
            user_data=release.user_data,
            holds_data=config.stage.local_postgres,
            protect=config.env.protect,
            # Its boot reaches S3 (artifact) and the internet (packages) this way.
            boot_dependencies=network.public_boot_dependencies,
            tags=config.tags,
            adopt=config.env.adopt,
            alarms=stage.observability,
        ),
    )


def _web_tier(stage: Stage, role: str) -> WebTier:
    config, network, release, lb = stage.config, stage.network, stage.release, stage.load_balancer
    tier = getattr(config.stage, role)
    assert tier is not None and lb is not None
    group = lb.target_groups[role]
    # An instance booting before its NAT route and endpoints exist retries for minutes and
    # fails its health checks; the groups wait for them.
    boot = [
        *network.private_boot_dependencies,
        *(stage.endpoints.boot_dependencies if stage.endpoints else []),
    ]
    return WebTier(
        role,
        WebTierArgs(
            name_prefix=_prefix(config),
            role=role,
            instance_type=tier.instance_type,
            min_size=tier.min_size,
            max_size=tier.max_size,
            desired_capacity=tier.desired_capacity,
            scale_target_per_minute=tier.scale_target_per_minute,
            root_volume_gb=tier.root_volume_gb,
            ami_id=dict(config.env.ami_ids)[architecture(tier.instance_type)],
            subnet_ids=network.private_subnet_ids,
            security_group_ids=[stage.security.app_sg_id],
            instance_profile_name=release.instance_profile_name,
            user_data=release.user_data,
            target_group_arn=group.arn,
            target_group_arn_suffix=group.arn_suffix,
            alb_arn_suffix=lb.alb_arn_suffix,
            boot_dependencies=boot,
            attachments=lb.attachments[role],
            tags=config.tags,
            alarms=stage.observability,
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
    if config.env.domain is not None:
        # The name viewers use: HTTPS wherever a certificate is (an ALB on), HTTP at the box.
        scheme = "https" if stage.load_balancer is not None else "http"
        out[StackOutput.URL] = f"{scheme}://{config.env.domain.api}"
    for key, value in out.items():
        pulumi.export(key.value, value)
    return out
