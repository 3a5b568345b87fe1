"""The CrossGuard rules of the movies blueprint, importable without starting the pack.

Resource rules read one resource's inputs (camelCase, as the engine passes them); stack
rules relate resources (a bucket to its policy, a security group to the ALB that uses
it). No rule sets an enforcement level and no rule looks at the environment: the pack's
configuration does (mandatory in prod, advisory in dev; ``policies/policy-config.*.json``).
So the ``prod-*`` hardening rules report on dev too, as advisories: that list is what
dev knowingly trades for cost (``docs/policy.md``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from infra.catalog import must_protect
from infra.config import EDGE_CUTOVER_TAG
from infra.tokens import ResourceType
from policies.documents import policy_documents
from policies.props import (
    REQUIRED_TAGS,
    WORLD_CIDRS,
    as_list,
    as_mapping,
    explicitly_false,
    first,
    is_taggable,
    parse_document,
    port_range,
    single_allowed_port,
    stage_of,
    statements,
    tags_of,
    truthy,
)
from policies.relations import of_type, referenced, referencing, refers_to, safe_get

LAUNCH_TEMPLATE = ResourceType.EC2_LAUNCH_TEMPLATE
EC2_INSTANCE = ResourceType.EC2_INSTANCE
EBS_VOLUME = ResourceType.EBS_VOLUME
RDS_INSTANCE = ResourceType.RDS_INSTANCE
RDS_CLUSTER = ResourceType.RDS_CLUSTER
RDS_CLUSTER_INSTANCE = ResourceType.RDS_CLUSTER_INSTANCE
CACHE_GROUP = ResourceType.ELASTICACHE_REPLICATION_GROUP
CACHE_CLUSTER = ResourceType.ELASTICACHE_CLUSTER
BUCKETS = (ResourceType.S3_BUCKET, ResourceType.S3_BUCKET_V2)
BUCKET_SSE = (
    ResourceType.S3_BUCKET_SERVER_SIDE_ENCRYPTION_CONFIGURATION,
    ResourceType.S3_BUCKET_SERVER_SIDE_ENCRYPTION_CONFIGURATION_V2,
)
BUCKET_PAB = ResourceType.S3_BUCKET_PUBLIC_ACCESS_BLOCK
BUCKET_POLICY = ResourceType.S3_BUCKET_POLICY
SECURITY_GROUP = ResourceType.EC2_SECURITY_GROUP
SG_RULE = ResourceType.EC2_SECURITY_GROUP_RULE
SG_INGRESS_RULE = ResourceType.VPC_SECURITY_GROUP_INGRESS_RULE
LOAD_BALANCERS = (ResourceType.LB_LOAD_BALANCER, ResourceType.ALB_LOAD_BALANCER)
LISTENERS = (ResourceType.LB_LISTENER, ResourceType.ALB_LISTENER)
ASG = ResourceType.AUTOSCALING_GROUP
SUBNET = ResourceType.EC2_SUBNET
EIP = ResourceType.EC2_EIP
DB_SUBNET_GROUPS = (ResourceType.RDS_SUBNET_GROUP, ResourceType.ELASTICACHE_SUBNET_GROUP)
CLOUDFRONT = ResourceType.CLOUDFRONT_DISTRIBUTION
CLOUDFRONT_OAC = ResourceType.CLOUDFRONT_ORIGIN_ACCESS_CONTROL

PACK_NAME = "movies-guardrails"
# Without a config file the pack is strict; policy-config.dev.json lowers it to advisory.
DEFAULT_ENFORCEMENT = EnforcementLevel.MANDATORY

EDGE_STAGE = "edge"
ALB_WORLD_PORTS = frozenset({80, 443})
MIN_PROD_BACKUP_DAYS = 7
CLOUDFRONT_MIN_TLS = frozenset({"TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"})
SSE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)

Validate = Callable[[ResourceValidationArgs, ReportViolation], None]


def _for_types(*types: str) -> Callable[[Validate], Validate]:
    """Run a resource validation only on the given types."""

    def wrap(check: Validate) -> Validate:
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if args.resource_type in types:
                check(args, report)

        validate.__name__ = check.__name__
        return validate

    return wrap


def _is_replica(props: Mapping[str, Any]) -> bool:
    return bool(props.get("replicateSourceDb"))


# --- storage encrypted ---------------------------------------------------------------


@_for_types(LAUNCH_TEMPLATE, EC2_INSTANCE, EBS_VOLUME)
def _ebs_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    if args.resource_type == EBS_VOLUME:
        if not truthy(props.get("encrypted")):
            report("EBS volume is not encrypted: set encrypted=True")
        return
    if args.resource_type == LAUNCH_TEMPLATE:
        mappings = [m for m in as_list(props.get("blockDeviceMappings")) if m.get("ebs")]
        if not mappings:
            report(
                "launch template declares no EBS block device, so the root volume takes "
                "the AMI's (unencrypted) setting: map the root device with ebs.encrypted=true"
            )
        for mapping in mappings:
            if not truthy(first(mapping.get("ebs")).get("encrypted")):
                report(f"EBS volume {mapping.get('deviceName')!r} is not encrypted: set encrypted")
        return
    root = first(props.get("rootBlockDevice"))
    if not truthy(root.get("encrypted")):
        report("instance root volume is not encrypted: set rootBlockDevice.encrypted=True")
    for device in as_list(props.get("ebsBlockDevices")):
        if not truthy(device.get("encrypted")):
            report(f"EBS volume {device.get('deviceName')!r} is not encrypted")


@_for_types(RDS_INSTANCE, RDS_CLUSTER)
def _rds_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    encrypted = args.props.get("storageEncrypted")
    if args.resource_type == RDS_INSTANCE and _is_replica(args.props):
        # A replica inherits the source's encryption; only an explicit False is wrong.
        if explicitly_false(encrypted):
            report("read replica sets storageEncrypted=False")
        return
    if not truthy(encrypted):
        report("RDS storage is not encrypted: set storageEncrypted=True (replaces the DB)")


@_for_types(CACHE_GROUP, CACHE_CLUSTER)
def _elasticache_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    if args.resource_type == CACHE_CLUSTER:
        if props.get("replicationGroupId"):
            return  # a member of a replication group takes the group's settings
        if str(props.get("engine", "")).lower() in {"redis", "valkey"}:
            report(
                "a stand-alone Redis cluster cannot encrypt at rest: "
                "use a replication group with atRestEncryptionEnabled"
            )
        if not truthy(props.get("transitEncryptionEnabled")):
            report("ElastiCache cluster without TLS: set transitEncryptionEnabled=True")
        return
    if not truthy(props.get("atRestEncryptionEnabled")):
        report("ElastiCache group not encrypted at rest: set atRestEncryptionEnabled=True")
    if not truthy(props.get("transitEncryptionEnabled")):
        report("ElastiCache group without TLS: set transitEncryptionEnabled=True")
    elif str(props.get("transitEncryptionMode") or "required") != "required":
        report("transitEncryptionMode 'preferred' still accepts plaintext: set 'required'")


# --- reachability --------------------------------------------------------------------


@_for_types(RDS_INSTANCE, RDS_CLUSTER_INSTANCE)
def _db_not_public(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if truthy(args.props.get("publiclyAccessible")):
        report("database is publicly accessible: set publiclyAccessible=False")


@_for_types(LAUNCH_TEMPLATE, EC2_INSTANCE)
def _imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    options = first(args.props.get("metadataOptions"))
    if str(options.get("httpEndpoint", "enabled")) == "disabled":
        return  # no metadata service at all: nothing to steal
    if options.get("httpTokens") != "required":
        report(
            f"IMDSv1 allowed (httpTokens={options.get('httpTokens')!r}): "
            "set metadataOptions.httpTokens='required'"
        )
    hop_limit = options.get("httpPutResponseHopLimit")
    if hop_limit not in (1, 2):
        report(
            f"metadata hop limit is {hop_limit!r}: set httpPutResponseHopLimit to 1 "
            "(2 only when containers need the instance role)"
        )


@_for_types(LAUNCH_TEMPLATE)
def _launch_template_no_public_ip(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for index, interface in enumerate(as_list(args.props.get("networkInterfaces"))):
        if truthy(interface.get("associatePublicIpAddress")):
            report(
                f"networkInterfaces[{index}] associates a public IP: ASG instances sit in "
                "private subnets behind the ALB; set associatePublicIpAddress='false'"
            )


# --- prod hardening ------------------------------------------------------------------


@_for_types(RDS_INSTANCE, RDS_CLUSTER)
def _prod_rds_resilience(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    if _is_replica(props):
        # What a scanner asks of every instance (checkov CKV_AWS_293 deletion protection,
        # CKV_AWS_133 backups): a replica serves reads, and a move that drops it must ask.
        # Backups on a replica need PostgreSQL >= 14.1 (database.replica_backup_days).
        if not truthy(props.get("deletionProtection")):
            report("prod read replica without deletion protection: set deletionProtection=True")
        if int(props.get("backupRetentionPeriod") or 0) < 1:
            report("prod read replica without automated backups: backupRetentionPeriod >= 1")
        return
    retention = props.get("backupRetentionPeriod") or 0
    if int(retention) < MIN_PROD_BACKUP_DAYS:
        report(f"backupRetentionPeriod={retention}: prod keeps >= {MIN_PROD_BACKUP_DAYS} days")
    if args.resource_type == RDS_INSTANCE and not truthy(props.get("multiAz")):
        report("prod primary is single-AZ: set multiAz=True")
    if not truthy(props.get("deletionProtection")):
        report("prod database without deletion protection: set deletionProtection=True")
    if truthy(props.get("skipFinalSnapshot")):
        report("prod database would be destroyed without a final snapshot")


@_for_types(CACHE_GROUP)
def _prod_cache_failover(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    if not truthy(props.get("automaticFailoverEnabled")) or not truthy(props.get("multiAzEnabled")):
        report("prod cache has no Multi-AZ failover: set automaticFailoverEnabled/multiAzEnabled")
    if int(props.get("numCacheClusters") or 1) < 2:
        report("prod cache has one node: failover needs numCacheClusters >= 2")


def _prod_protect_stateful(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not must_protect(args.resource_type, args.props):
        return
    if not args.opts.protect:
        report("stateful resource without protect=True: a stray destroy would lose data")


# --- edge ----------------------------------------------------------------------------


def _cache_behaviors(props: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    default = first(props.get("defaultCacheBehavior"))
    return [default, *as_list(props.get("orderedCacheBehaviors"))] if default else []


@_for_types(CLOUDFRONT)
def _cloudfront_tls(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    certificate = first(props.get("viewerCertificate"))
    custom = certificate.get("acmCertificateArn") or certificate.get("iamCertificateId")
    if custom:
        minimum = certificate.get("minimumProtocolVersion")
        if minimum not in CLOUDFRONT_MIN_TLS:
            allowed = ", ".join(sorted(CLOUDFRONT_MIN_TLS))
            report(f"minimumProtocolVersion={minimum!r}: use one of {allowed}")
        if certificate.get("sslSupportMethod") != "sni-only":
            # vip costs a dedicated IP per edge location; static-ip is legacy.
            report(f"sslSupportMethod={certificate.get('sslSupportMethod')!r}: use sni-only")
    elif as_list(props.get("aliases")):
        report(
            f"aliases {sorted(as_list(props.get('aliases')))} without a certificate of their "
            "own: set viewerCertificate.acmCertificateArn (ACM, us-east-1)"
        )
    for behavior in _cache_behaviors(props):
        policy = behavior.get("viewerProtocolPolicy")
        if policy not in {"redirect-to-https", "https-only"}:
            report(
                f"cache behaviour {behavior.get('pathPattern', 'default')!r} serves plain "
                f"HTTP (viewerProtocolPolicy={policy!r}): use redirect-to-https"
            )
    for origin in as_list(props.get("origins")):
        custom = first(origin.get("customOriginConfig"))
        if custom and custom.get("originProtocolPolicy") != "http-only":
            legacy = set(as_list(custom.get("originSslProtocols"))) - {"TLSv1.2"}
            if legacy:
                report(f"origin {origin.get('originId')!r} allows {sorted(legacy)} to the origin")


@_for_types(CLOUDFRONT)
def _cloudfront_own_certificate(args: ResourceValidationArgs, report: ReportViolation) -> None:
    certificate = first(args.props.get("viewerCertificate"))
    if truthy(certificate.get("cloudfrontDefaultCertificate")):
        # CloudFront sets the security policy to TLSv1 whenever the default certificate is
        # used, whatever minimumProtocolVersion says (CloudFront developer guide, "Supported
        # protocols and ciphers between viewers and CloudFront").
        report(
            "the default *.cloudfront.net certificate: viewers may negotiate TLSv1/TLSv1.1; "
            "set the profile's domain for a certificate with TLSv1.2_2021"
        )


def _is_s3_origin(origin: Mapping[str, Any]) -> bool:
    domain = str(origin.get("domainName") or "")
    return bool(origin.get("s3OriginConfig")) or (".s3." in domain or ".s3-" in domain)


@_for_types(CLOUDFRONT, CLOUDFRONT_OAC)
def _cloudfront_oac(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    if args.resource_type == CLOUDFRONT_OAC:
        if props.get("signingBehavior") != "always" or props.get("signingProtocol") != "sigv4":
            report("origin access control must sign always with sigv4")
        return
    for origin in as_list(props.get("origins")):
        if not _is_s3_origin(origin):
            continue
        name = origin.get("originId")
        if "s3-website" in str(origin.get("domainName") or ""):
            report(f"origin {name!r} is an S3 website endpoint: it needs a public bucket")
        if not origin.get("originAccessControlId"):
            report(f"S3 origin {name!r} has no originAccessControlId (OAC)")
        if first(origin.get("s3OriginConfig")).get("originAccessIdentity"):
            report(f"S3 origin {name!r} uses a legacy origin access identity: use OAC")


# --- IAM -----------------------------------------------------------------------------


def _allows_everything(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    resources = set(as_list(statement.get("Resource")))
    if "*" not in resources:
        return False
    actions = set(as_list(statement.get("Action")))
    return bool(actions & {"*", "*:*"}) or "NotAction" in statement


def _iam_no_wildcard_admin(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for document in policy_documents(args.resource_type, args.props):
        try:
            parsed = parse_document(document.raw)
        except ValueError as error:
            report(f"{document.where} is not a JSON policy document: {error}")
            continue
        if parsed is None:
            continue
        for index, statement in enumerate(statements(parsed)):
            if _allows_everything(statement):
                report(
                    f"{document.where} Statement[{index}] allows every action on every "
                    "resource: name the actions and resource ARNs"
                )


# --- tags ----------------------------------------------------------------------------


def _required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_taggable(args.resource_type):
        return
    tags = tags_of(args.props)
    missing = [key for key in REQUIRED_TAGS if not tags.get(key)]
    if missing:
        report(f"missing tags {', '.join(missing)} (required: {', '.join(REQUIRED_TAGS)})")


# --- stack rules: S3 -----------------------------------------------------------------


def _bucket_children(
    resources: list[PolicyResource], bucket: PolicyResource, *types: str
) -> list[PolicyResource]:
    return referencing(resources, bucket, "bucket", *types)


def _sse_algorithms(rules: Any) -> set[str]:
    algorithms = set()
    for rule in as_list(rules):
        default = first(rule.get("applyServerSideEncryptionByDefault"))
        if default.get("sseAlgorithm"):
            algorithms.add(str(default["sseAlgorithm"]))
    return algorithms


def _s3_encrypted(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in of_type(args.resources, *BUCKETS):
        # The deprecated inline block counts too; the separate resource is the norm.
        inline = first(safe_get(bucket, "serverSideEncryptionConfiguration"))
        found = _sse_algorithms(inline.get("rule"))
        for config in _bucket_children(args.resources, bucket, *BUCKET_SSE):
            found |= _sse_algorithms(safe_get(config, "rules"))
        if not found & SSE_ALGORITHMS:
            report(
                f"bucket {bucket.name!r} has no server-side encryption configuration "
                "(BucketServerSideEncryptionConfiguration with AES256 or aws:kms)",
                bucket.urn,
            )


def _kms_keys(rules: Any) -> set[str]:
    keys = set()
    for rule in as_list(rules):
        default = first(rule.get("applyServerSideEncryptionByDefault"))
        if str(default.get("sseAlgorithm", "")).startswith("aws:kms") and default.get(
            "kmsMasterKeyId"
        ):
            keys.add(str(default["kmsMasterKeyId"]))
    return keys


def _s3_kms_cmk(args: StackValidationArgs, report: ReportViolation) -> None:
    # checkov CKV_AWS_145: default encryption with a KMS key. "aws:kms" without a key id is
    # the AWS managed aws/s3 key, whose policy nobody here controls: a customer key is asked.
    for bucket in of_type(args.resources, *BUCKETS):
        inline = first(safe_get(bucket, "serverSideEncryptionConfiguration"))
        keys = _kms_keys(inline.get("rule"))
        for config in _bucket_children(args.resources, bucket, *BUCKET_SSE):
            keys |= _kms_keys(safe_get(config, "rules"))
        if not keys:
            report(
                f"bucket {bucket.name!r} is not encrypted with a customer-managed KMS key "
                "(SSE-S3 or the AWS managed aws/s3 key)",
                bucket.urn,
            )


def _s3_public_access_block(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in of_type(args.resources, *BUCKETS):
        blocks = _bucket_children(args.resources, bucket, BUCKET_PAB)
        if not blocks:
            report(f"bucket {bucket.name!r} has no BucketPublicAccessBlock", bucket.urn)
        for block in blocks:
            off = [flag for flag in PUBLIC_ACCESS_FLAGS if not truthy(safe_get(block, flag))]
            if off:
                report(f"public access block {block.name!r} leaves {', '.join(off)} off", block.urn)


def _secure_transport_denied(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    principal = statement.get("Principal")
    if principal != "*" and "*" not in as_list(as_mapping(principal).get("AWS")):
        return False
    if not set(as_list(statement.get("Action"))) & {"s3:*", "*"}:
        return False
    resources = [str(resource) for resource in as_list(statement.get("Resource"))]
    if not (any(r.endswith("/*") for r in resources) and any("/" not in r for r in resources)):
        return False
    for operator, conditions in as_mapping(statement.get("Condition")).items():
        if operator != "Bool":
            continue
        for key, value in as_mapping(conditions).items():
            if key.lower() == "aws:securetransport" and [
                str(v).lower() for v in as_list(value)
            ] == ["false"]:
                return True
    return False


def _s3_deny_insecure_transport(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in of_type(args.resources, *BUCKETS):
        policies = _bucket_children(args.resources, bucket, BUCKET_POLICY)
        documents, unknown = [], False
        for policy in policies:
            try:
                documents.append(parse_document(policy.props.get("policy")))
            except UnknownValueError:
                unknown = True  # computed during preview: judged on the run with values
            except ValueError as error:
                report(f"bucket policy {policy.name!r} is not JSON: {error}", policy.urn)
        if not unknown and not any(
            _secure_transport_denied(statement)
            for document in documents
            if document is not None
            for statement in statements(document)
        ):
            report(
                f"bucket {bucket.name!r} has no policy denying requests without TLS "
                "(Deny s3:* to * on the bucket and bucket/* when aws:SecureTransport is false)",
                bucket.urn,
            )


# --- stack rules: network ------------------------------------------------------------


def _stack_stage(resources: Iterable[PolicyResource]) -> str | None:
    stages = Counter(stage for r in resources if (stage := _safe_stage(r)))
    return stages.most_common(1)[0][0] if stages else None


def _safe_stage(resource: PolicyResource) -> str | None:
    try:
        return stage_of(resource.props)
    except UnknownValueError:
        return None


def _ingress_rules(
    resources: list[PolicyResource],
) -> Iterable[tuple[PolicyResource, PolicyResource | None, Mapping[str, Any]]]:
    """(rule owner, its security group if known, normalised rule) for every ingress."""
    for group in of_type(resources, SECURITY_GROUP):
        for rule in as_list(safe_get(group, "ingress")):
            yield group, group, rule
    for rule in of_type(resources, SG_RULE):
        if safe_get(rule, "type") == "ingress":
            groups = referenced(resources, rule, "securityGroupId", SECURITY_GROUP)
            yield rule, groups[0] if groups else None, rule.props
    for rule in of_type(resources, SG_INGRESS_RULE):
        groups = referenced(resources, rule, "securityGroupId", SECURITY_GROUP)
        normalised = {
            "cidrBlocks": as_list(safe_get(rule, "cidrIpv4")),
            "ipv6CidrBlocks": as_list(safe_get(rule, "cidrIpv6")),
            "fromPort": safe_get(rule, "fromPort"),
            "toPort": safe_get(rule, "toPort"),
            "protocol": safe_get(rule, "ipProtocol"),
        }
        yield rule, groups[0] if groups else None, normalised


def _public_alb_groups(resources: list[PolicyResource]) -> set[str]:
    urns = set()
    for balancer in of_type(resources, *LOAD_BALANCERS):
        kind = safe_get(balancer, "loadBalancerType") or "application"
        if kind != "application" or truthy(safe_get(balancer, "internal")):
            continue
        for group in referenced(resources, balancer, "securityGroups", SECURITY_GROUP):
            urns.add(group.urn)
    return urns


def _single_box_groups(resources: list[PolicyResource]) -> set[str]:
    """Groups of the public instance of a stage without a load balancer (single box).

    Such a stage has no ALB, so its one public instance is the entry point and takes
    the ALB's place in the rule: world ingress on 80/443 only.
    """
    if of_type(resources, *LOAD_BALANCERS):
        return set()
    addresses = of_type(resources, EIP)
    urns = set()
    for instance in of_type(resources, EC2_INSTANCE):
        has_eip = any(refers_to(address, "instance", instance) for address in addresses)
        if not (has_eip or truthy(safe_get(instance, "associatePublicIpAddress"))):
            continue
        for key in ("vpcSecurityGroupIds", "securityGroups"):
            urns |= {g.urn for g in referenced(resources, instance, key, SECURITY_GROUP)}
    return urns


def _cutover_open(rule: PolicyResource) -> bool:
    """A rule the program keeps open through an edge cut-over: tagged `edge-cutover: open`
    (EDGE_CUTOVER_TAG; infra/program/components/security.py sets it)."""
    tags = safe_get(rule, "tags")
    return isinstance(tags, Mapping) and tags.get(EDGE_CUTOVER_TAG) == "open"


def _sg_no_world_ingress(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    alb_groups = _public_alb_groups(resources)
    box_groups = _single_box_groups(resources)
    stack_stage = _stack_stage(resources)
    for owner, group, rule in _ingress_rules(resources):
        world = set(as_list(rule.get("cidrBlocks"))) | set(as_list(rule.get("ipv6CidrBlocks")))
        world &= WORLD_CIDRS
        stage = (group and _safe_stage(group)) or _safe_stage(owner) or stack_stage
        on_alb = group is not None and group.urn in alb_groups
        low, high = port_range(rule.get("fromPort"), rule.get("toPort"), rule.get("protocol"))
        ports = f"{low}" if low == high else f"{low}-{high}"
        where = f"{owner.name!r} port {ports}"
        # The internet rules an edge cut-over keeps while DNS still points at the ALB
        # (movies:edgeCutover open; the program tags them): an entry point until closed.
        cutover = on_alb and stage == EDGE_STAGE and _cutover_open(owner)
        if on_alb and stage == EDGE_STAGE and rule.get("cidrBlocks") and not cutover:
            report(
                f"{where}: at the edge stage the ALB accepts CloudFront's prefix list only, "
                f"not CIDRs {sorted(as_list(rule.get('cidrBlocks')))}",
                owner.urn,
            )
            continue
        if not world:
            continue
        on_box = group is not None and group.urn in box_groups
        entry = (on_alb and (stage != EDGE_STAGE or cutover)) or on_box
        if entry and single_allowed_port(low, high, ALB_WORLD_PORTS):
            continue
        if on_alb or on_box:
            target = "the ALB" if on_alb else "the single box"
            fix = "open 80/443 only" if stage != EDGE_STAGE or on_box else "use the prefix list"
            report(f"{where}: ingress from {sorted(world)} to {target}: {fix}", owner.urn)
        else:
            report(
                f"{where}: ingress from {sorted(world)} to a group that is no public entry "
                "point (internet-facing ALB, or the single box of a stage without one)",
                owner.urn,
            )


def _maps_public_ip(subnets: Iterable[PolicyResource]) -> list[str]:
    return [s.name for s in subnets if truthy(safe_get(s, "mapPublicIpOnLaunch"))]


def _asg_private_subnets(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    for group in of_type(resources, ASG):
        public = _maps_public_ip(referenced(resources, group, "vpcZoneIdentifiers", SUBNET))
        if public:
            report(
                f"ASG {group.name!r} launches into subnets that map public IPs: "
                f"{', '.join(public)}; use the private subnets",
                group.urn,
            )


def _db_cache_private_subnets(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    for group in of_type(resources, *DB_SUBNET_GROUPS):
        public = _maps_public_ip(referenced(resources, group, "subnetIds", SUBNET))
        if public:
            report(
                f"subnet group {group.name!r} includes public subnets: {', '.join(public)}",
                group.urn,
            )


def _redirects_to_https(listener: PolicyResource) -> bool:
    for action in as_list(safe_get(listener, "defaultActions")):
        redirect = first(action.get("redirect"))
        if action.get("type") == "redirect" and redirect.get("protocol") == "HTTPS":
            return True
    return False


def _alb_https(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    for balancer in of_type(resources, *LOAD_BALANCERS):
        listeners = referencing(resources, balancer, "loadBalancerArn", *LISTENERS)
        secure = [
            listener
            for listener in listeners
            if safe_get(listener, "certificateArn") or safe_get(listener, "protocol") == "HTTPS"
        ]
        if not secure:
            continue  # no certificate configured: plain HTTP is the only listener
        for listener in listeners:
            if safe_get(listener, "protocol") == "HTTP" and not _redirects_to_https(listener):
                report(
                    f"listener {listener.name!r} serves HTTP although the ALB has a "
                    "certificate: redirect to HTTPS (HTTP_301)",
                    listener.urn,
                )
        if not truthy(safe_get(balancer, "dropInvalidHeaderFields")):
            report(
                f"ALB {balancer.name!r} forwards invalid header fields: "
                "set dropInvalidHeaderFields=True",
                balancer.urn,
            )


# --- the policies --------------------------------------------------------------------

_HIGH, _CRITICAL, _MEDIUM = Severity.HIGH, Severity.CRITICAL, Severity.MEDIUM

RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="ebs-encrypted",
        description="EBS volumes of instances and launch templates are encrypted.",
        validate=_ebs_encrypted,
        severity=_HIGH,
    ),
    ResourceValidationPolicy(
        name="rds-encrypted",
        description="RDS storage is encrypted at rest.",
        validate=_rds_encrypted,
        severity=_HIGH,
    ),
    ResourceValidationPolicy(
        name="elasticache-encrypted",
        description="ElastiCache encrypts at rest and requires TLS in transit.",
        validate=_elasticache_encrypted,
        severity=_HIGH,
    ),
    ResourceValidationPolicy(
        name="db-not-public",
        description="Databases are not publicly accessible.",
        validate=_db_not_public,
        severity=_CRITICAL,
    ),
    ResourceValidationPolicy(
        name="imdsv2-required",
        description="Instances require IMDSv2 tokens with a hop limit of 1 or 2.",
        validate=_imdsv2,
        severity=_HIGH,
    ),
    ResourceValidationPolicy(
        name="launch-template-no-public-ip",
        description="Launch templates (ASG instances) associate no public IP.",
        validate=_launch_template_no_public_ip,
        severity=_HIGH,
    ),
    ResourceValidationPolicy(
        name="prod-rds-resilience",
        description=(
            "Prod RDS primaries: >= 7 days of backups, Multi-AZ, deletion protection; "
            "replicas: deletion protection and backups."
        ),
        validate=_prod_rds_resilience,
        severity=_HIGH,
    ),
    ResourceValidationPolicy(
        name="prod-cache-failover",
        description="Prod ElastiCache groups fail over across AZs.",
        validate=_prod_cache_failover,
        severity=_MEDIUM,
    ),
    ResourceValidationPolicy(
        name="prod-protect-stateful",
        description="Prod stateful resources (RDS, ElastiCache, S3 buckets) have protect=True.",
        validate=_prod_protect_stateful,
        severity=_HIGH,
    ),
    ResourceValidationPolicy(
        name="cloudfront-tls",
        description="CloudFront serves HTTPS only, with TLS 1.2 or newer.",
        validate=_cloudfront_tls,
        severity=_HIGH,
    ),
    ResourceValidationPolicy(
        name="cloudfront-own-certificate",
        description=(
            "CloudFront serves its own ACM certificate (the default one allows TLSv1); "
            "advisory in prod until the profile sets a domain."
        ),
        validate=_cloudfront_own_certificate,
        severity=_MEDIUM,
    ),
    ResourceValidationPolicy(
        name="cloudfront-oac",
        description="CloudFront reads S3 origins through an origin access control.",
        validate=_cloudfront_oac,
        severity=_HIGH,
    ),
    ResourceValidationPolicy(
        name="iam-no-wildcard-admin",
        description='No IAM policy document allows "*" actions on "*" resources.',
        validate=_iam_no_wildcard_admin,
        severity=_CRITICAL,
    ),
    ResourceValidationPolicy(
        name="required-tags",
        description="Taggable resources carry project, stage, environment and owner tags.",
        validate=_required_tags,
        severity=_MEDIUM,
    ),
]

STACK_POLICIES: list[StackValidationPolicy] = [
    StackValidationPolicy(
        name="s3-encrypted",
        description="Every S3 bucket has default server-side encryption configured.",
        validate=_s3_encrypted,
        severity=_HIGH,
    ),
    StackValidationPolicy(
        name="s3-kms-cmk",
        description="Every S3 bucket's default encryption uses a customer-managed KMS key.",
        validate=_s3_kms_cmk,
        severity=_MEDIUM,
    ),
    StackValidationPolicy(
        name="s3-public-access-block",
        description="Every S3 bucket blocks public ACLs and policies (all four flags).",
        validate=_s3_public_access_block,
        severity=_CRITICAL,
    ),
    StackValidationPolicy(
        name="s3-deny-insecure-transport",
        description="Every S3 bucket policy denies requests that do not use TLS.",
        validate=_s3_deny_insecure_transport,
        severity=_HIGH,
    ),
    StackValidationPolicy(
        name="sg-no-world-ingress",
        description=(
            "No ingress from 0.0.0.0/0 or ::/0 except to the public entry point on 80/443 "
            "(the ALB; the single box at stages without one); at the edge stage the ALB "
            "takes CloudFront's prefix list only."
        ),
        validate=_sg_no_world_ingress,
        severity=_CRITICAL,
    ),
    StackValidationPolicy(
        name="asg-private-subnets",
        description="Autoscaling groups launch into subnets that do not map public IPs.",
        validate=_asg_private_subnets,
        severity=_HIGH,
    ),
    StackValidationPolicy(
        name="db-cache-private-subnets",
        description="DB and cache subnet groups use private subnets only.",
        validate=_db_cache_private_subnets,
        severity=_CRITICAL,
    ),
    StackValidationPolicy(
        name="alb-https",
        description=(
            "An ALB with a certificate redirects HTTP to HTTPS and drops invalid headers."
        ),
        validate=_alb_https,
        severity=_MEDIUM,
    ),
]

ALL_POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    *RESOURCE_POLICIES,
    *STACK_POLICIES,
]
