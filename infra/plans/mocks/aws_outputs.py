"""Realistic, deterministic outputs for the network, security, compute and release types.

The data tier (RDS, ElastiCache, S3 buckets, CloudFront, SNS, alarms, secrets) is in
`data_outputs.py`.
"""

from __future__ import annotations

from typing import Any

from infra.plans.mocks.invokes import AZ_LETTERS
from infra.plans.mocks.registry import MockContext, resource_outputs
from infra.tokens import ResourceType

# --- network ------------------------------------------------------------------------------


@resource_outputs(ResourceType.EC2_VPC)
def _vpc(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    vpc_id = ctx.physical_id("vpc")
    return {
        "id": vpc_id,
        "arn": ctx.arn("ec2", f"vpc/{vpc_id}"),
        "defaultSecurityGroupId": MockContext(ctx.stack, ctx.region, "sg", ctx.name).physical_id(
            "sg"
        ),
        "mainRouteTableId": MockContext(ctx.stack, ctx.region, "rtb", ctx.name).physical_id("rtb"),
        "defaultNetworkAclId": MockContext(ctx.stack, ctx.region, "acl", ctx.name).physical_id(
            "acl"
        ),
        "ownerId": ctx.account,
        "instanceTenancy": inputs.get("instanceTenancy", "default"),
    }


@resource_outputs(ResourceType.EC2_SUBNET)
def _subnet(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    subnet_id = ctx.physical_id("subnet")
    # The mock account maps zone names to IDs in order (us-east-1a = use1-az1, ...), as
    # getAvailabilityZones answers (invokes.py); the real mapping differs per account.
    zone_id = inputs.get("availabilityZoneId")
    az = str(inputs.get("availabilityZone") or "")
    if zone_id:
        az = f"{ctx.region}{AZ_LETTERS[int(str(zone_id).rsplit('az', 1)[1]) - 1]}"
    elif not az:
        az = f"{ctx.region}a"
    return {
        "id": subnet_id,
        "arn": ctx.arn("ec2", f"subnet/{subnet_id}"),
        "availabilityZone": az,
        "availabilityZoneId": zone_id or f"use1-az{ord(az[-1]) - ord('a') + 1}",
        "ownerId": ctx.account,
    }


@resource_outputs(ResourceType.EC2_INTERNET_GATEWAY)
def _igw(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    igw_id = ctx.physical_id("igw")
    return {
        "id": igw_id,
        "arn": ctx.arn("ec2", f"internet-gateway/{igw_id}"),
        "ownerId": ctx.account,
    }


def _public_ip(ctx: MockContext) -> str:
    # 203.0.113.0/24 and 198.51.100.0/24 are documentation ranges: realistic, never routable.
    raw = int(ctx.digest("ip"), 16)
    return f"{'203.0.113' if raw % 2 else '198.51.100'}.{raw % 250 + 2}"


def _private_ip(ctx: MockContext) -> str:
    raw = int(ctx.digest("private-ip"), 16)
    return f"10.{40 + raw % 20}.{(raw >> 8) % 200 + 10}.{(raw >> 16) % 250 + 4}"


@resource_outputs(ResourceType.EC2_EIP)
def _eip(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    alloc = ctx.physical_id("eipalloc")
    ip = _public_ip(ctx)
    return {
        "id": alloc,
        "allocationId": alloc,
        "arn": ctx.arn("ec2", f"elastic-ip/{alloc}"),
        "publicIp": ip,
        "publicDns": f"ec2-{ip.replace('.', '-')}.compute-1.amazonaws.com",
        "domain": inputs.get("domain", "vpc"),
    }


@resource_outputs(ResourceType.EC2_EIP_ASSOCIATION)
def _eip_assoc(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": ctx.physical_id("eipassoc")}


@resource_outputs(ResourceType.EC2_NAT_GATEWAY)
def _nat(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ctx.physical_id("nat"),
        "publicIp": _public_ip(ctx),
        "privateIp": _private_ip(ctx),
        "networkInterfaceId": ctx.physical_id("eni"),
        "connectivityType": inputs.get("connectivityType", "public"),
    }


@resource_outputs(ResourceType.EC2_ROUTE_TABLE)
def _route_table(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    rtb = ctx.physical_id("rtb")
    return {"id": rtb, "arn": ctx.arn("ec2", f"route-table/{rtb}"), "ownerId": ctx.account}


@resource_outputs(ResourceType.EC2_ROUTE)
def _route(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"r-{inputs.get('routeTableId', 'rtb')}{ctx.digest()[:10]}", "state": "active"}


@resource_outputs(ResourceType.EC2_ROUTE_TABLE_ASSOCIATION)
def _rtb_assoc(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": ctx.physical_id("rtbassoc")}


@resource_outputs(ResourceType.EC2_VPC_ENDPOINT)
def _vpc_endpoint(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    vpce = ctx.physical_id("vpce")
    service = str(inputs.get("serviceName", ""))
    out: dict[str, Any] = {
        "id": vpce,
        "arn": ctx.arn("ec2", f"vpc-endpoint/{vpce}"),
        "state": "available",
        "ownerId": ctx.account,
    }
    if inputs.get("vpcEndpointType") == "Gateway":
        out["prefixListId"] = ctx.physical_id("pl", 9)
        out["cidrBlocks"] = ["3.5.0.0/19", "52.216.0.0/15"]
    else:
        short = service.rsplit(".", 1)[-1]
        out["dnsEntries"] = [
            {
                "dnsName": f"{vpce}-{ctx.token(8)}.{short}.{ctx.region}.vpce.amazonaws.com",
                "hostedZoneId": "Z7HUB22UULQXV",
            }
        ]
        out["networkInterfaceIds"] = [
            MockContext(ctx.stack, ctx.region, "eni", f"{ctx.name}-{i}").physical_id("eni")
            for i, _ in enumerate(inputs.get("subnetIds") or [])
        ]
    return out


@resource_outputs(ResourceType.EC2_SECURITY_GROUP)
def _sg(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    sg = ctx.physical_id("sg")
    return {
        "id": sg,
        "arn": ctx.arn("ec2", f"security-group/{sg}"),
        "name": ctx.auto_name(inputs),
        "ownerId": ctx.account,
        "ingress": inputs.get("ingress", []),
        "egress": inputs.get("egress", []),
    }


@resource_outputs(
    ResourceType.VPC_SECURITY_GROUP_INGRESS_RULE,
    ResourceType.VPC_SECURITY_GROUP_EGRESS_RULE,
)
def _sg_rule(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    rule = ctx.physical_id("sgr")
    return {
        "id": rule,
        "securityGroupRuleId": rule,
        "arn": ctx.arn("ec2", f"security-group-rule/{rule}"),
    }


# --- compute -----------------------------------------------------------------------------


@resource_outputs(ResourceType.EC2_INSTANCE)
def _instance(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    instance_id = ctx.physical_id("i")
    private_ip = _private_ip(ctx)
    out = {
        "id": instance_id,
        "arn": ctx.arn("ec2", f"instance/{instance_id}"),
        "privateIp": private_ip,
        "privateDns": f"ip-{private_ip.replace('.', '-')}.ec2.internal",
        "primaryNetworkInterfaceId": ctx.physical_id("eni"),
        "instanceState": "running",
        "availabilityZone": inputs.get("availabilityZone", f"{ctx.region}a"),
    }
    if inputs.get("associatePublicIpAddress"):
        out["publicIp"] = _public_ip(ctx)
    return out


@resource_outputs(ResourceType.EC2_LAUNCH_TEMPLATE)
def _launch_template(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    lt = ctx.physical_id("lt")
    return {
        "id": lt,
        "arn": ctx.arn("ec2", f"launch-template/{lt}"),
        "name": ctx.auto_name(inputs),
        # A fresh template: the first version is both the latest and the default.
        "latestVersion": 1,
        "defaultVersion": 1,
    }


@resource_outputs(ResourceType.AUTOSCALING_GROUP)
def _asg(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs)
    return {
        "id": name,
        "name": name,
        "arn": ctx.arn(
            "autoscaling",
            f"autoScalingGroup:{ctx.digest()[:8]}-{ctx.digest()[8:12]}-{ctx.digest()[12:16]}-"
            f"{ctx.digest()[16:20]}-{ctx.digest()[20:32]}:autoScalingGroupName/{name}",
        ),
        "predictedCapacity": 0,
    }


@resource_outputs(ResourceType.AUTOSCALING_POLICY)
def _asg_policy(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs)
    return {
        "id": name,
        "arn": ctx.arn(
            "autoscaling",
            f"scalingPolicy:{ctx.digest()[:8]}:autoScalingGroupName/"
            f"{inputs.get('autoscalingGroupName', '')}:policyName/{name}",
        ),
    }


def _lb_name(ctx: MockContext, inputs: dict[str, Any]) -> str:
    return ctx.auto_name(inputs, limit=32)


@resource_outputs(ResourceType.LB_LOAD_BALANCER)
def _alb(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = _lb_name(ctx, inputs)
    kind = "net" if inputs.get("loadBalancerType") == "network" else "app"
    suffix = f"{kind}/{name}/{ctx.digest()[:16]}"
    arn = ctx.arn("elasticloadbalancing", f"loadbalancer/{suffix}")
    return {
        "id": arn,
        "arn": arn,
        "arnSuffix": suffix,
        "name": name,
        "dnsName": f"{name}-{int(ctx.digest()[:8], 16) % 10**10}.{ctx.region}.elb.amazonaws.com",
        "zoneId": "Z35SXDOTRQ7X7K",
        "vpcId": inputs.get("vpcId", ""),
    }


@resource_outputs(ResourceType.LB_TARGET_GROUP)
def _target_group(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = _lb_name(ctx, inputs)
    suffix = f"targetgroup/{name}/{ctx.digest()[:16]}"
    arn = ctx.arn("elasticloadbalancing", suffix)
    return {"id": arn, "arn": arn, "arnSuffix": suffix, "name": name}


@resource_outputs(ResourceType.LB_LISTENER, ResourceType.LB_LISTENER_RULE)
def _listener(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    kind = "listener-rule" if ctx.type_token.endswith("ListenerRule") else "listener"
    parent = str(inputs.get("listenerArn") or inputs.get("loadBalancerArn") or "")
    tail = parent.split("loadbalancer/", 1)[-1].split("listener/", 1)[-1]
    arn = ctx.arn("elasticloadbalancing", f"{kind}/{tail}/{ctx.digest()[:16]}")
    return {"id": arn, "arn": arn}


# --- identity and secrets -----------------------------------------------------------------


@resource_outputs(ResourceType.IAM_ROLE)
def _role(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs, limit=64)
    return {
        "id": name,
        "name": name,
        "arn": ctx.arn("iam", f"role/{name}", region=False),
        "uniqueId": f"AROA{ctx.upper_token(17)}",
    }


@resource_outputs(ResourceType.IAM_INSTANCE_PROFILE)
def _instance_profile(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs, limit=128)
    return {
        "id": name,
        "name": name,
        "arn": ctx.arn("iam", f"instance-profile/{name}", region=False),
        "uniqueId": f"AIPA{ctx.upper_token(17)}",
    }


@resource_outputs(ResourceType.IAM_ROLE_POLICY)
def _role_policy(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs, limit=128)
    return {"id": f"{inputs.get('role', '')}:{name}", "name": name}


@resource_outputs(ResourceType.IAM_ROLE_POLICY_ATTACHMENT)
def _role_policy_attachment(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{inputs.get('role', '')}-{ctx.digest()[:20]}"}


@resource_outputs(ResourceType.IAM_POLICY)
def _iam_policy(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs, limit=128)
    arn = ctx.arn("iam", f"policy/{name}", region=False)
    return {"id": arn, "arn": arn, "name": name, "policyId": f"ANPA{ctx.upper_token(17)}"}


@resource_outputs(ResourceType.RANDOM_ID)
def _random_id(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    width = int(inputs.get("byteLength", 4))
    hex_ = ctx.digest("random-id")[: width * 2]
    return {"id": hex_, "hex": hex_, "dec": str(int(hex_, 16)), "b64Url": hex_, "b64Std": hex_}


# --- storage and delivery -----------------------------------------------------------------


@resource_outputs(ResourceType.S3_BUCKET_OBJECTV2)
def _bucket_object(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    key = str(inputs.get("key", ctx.name))
    return {
        "id": key,
        "key": key,
        "etag": ctx.digest("etag")[:32],
        "versionId": ctx.token(32, "version"),
        "arn": f"arn:aws:s3:::{inputs.get('bucket', '')}/{key}",
    }


@resource_outputs(ResourceType.CLOUDWATCH_LOG_GROUP)
def _log_group(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs, limit=512)
    return {"id": name, "name": name, "arn": ctx.arn("logs", f"log-group:{name}")}


# --- data tier ----------------------------------------------------------------------------

# CloudFront's hosted zone id is the same for every distribution (Route 53 alias target).
CLOUDFRONT_HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"


def _rds_host(ctx: MockContext, identifier: str) -> str:
    # <identifier>.<12 chars per account+region>.<region>.rds.amazonaws.com
    account_token = MockContext(ctx.stack, ctx.region, "rds", "account").token(12)
    return f"{identifier}.{account_token}.{ctx.region}.rds.amazonaws.com"


def _uuid(ctx: MockContext, salt: str = "") -> str:
    d = ctx.digest(salt)
    return f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}"


@resource_outputs(ResourceType.RDS_INSTANCE)
def _rds_instance(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    identifier = ctx.auto_name(inputs, key="identifier", limit=63)
    port = int(inputs.get("port") or 5432)
    address = _rds_host(ctx, identifier)
    resource_id = f"db-{ctx.upper_token(26)}"
    outputs: dict[str, Any] = {
        "id": resource_id,
        "resourceId": resource_id,
        "identifier": identifier,
        "arn": ctx.arn("rds", f"db:{identifier}"),
        "address": address,
        "endpoint": f"{address}:{port}",
        "port": port,
        "hostedZoneId": "Z2R2ITUGPM61AM",
        "status": "available",
        "engineVersionActual": str(inputs.get("engineVersion") or "16"),
        "masterUserSecrets": [],
    }
    if inputs.get("replicateSourceDb"):
        # A replica inherits what it does not declare: engine, encryption, subnet group.
        outputs.update(engine="postgres", storageEncrypted=True)
    if inputs.get("manageMasterUserPassword"):
        outputs["masterUserSecrets"] = [
            {
                "kmsKeyId": ctx.arn("kms", f"key/{_uuid(ctx, 'kms')}"),
                "secretArn": ctx.arn(
                    "secretsmanager", f"secret:rds!db-{_uuid(ctx, 'secret')}-{ctx.token(6)}"
                ),
                "secretStatus": "active",
            }
        ]
    return outputs


@resource_outputs(ResourceType.RDS_SUBNET_GROUP, ResourceType.RDS_PARAMETER_GROUP)
def _rds_group(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs)
    kind = "subgrp" if "subnetGroup" in ctx.type_token else "pg"
    return {"id": name, "name": name, "arn": ctx.arn("rds", f"{kind}:{name}")}


def _short_region(region: str) -> str:
    # us-east-1 -> use1, eu-west-2 -> euw2: the form ElastiCache puts in endpoint names.
    area, direction, number = region.split("-")
    return f"{area}{direction[0]}{number}"


@resource_outputs(ResourceType.ELASTICACHE_REPLICATION_GROUP)
def _replication_group(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    group_id = ctx.auto_name(inputs, key="replicationGroupId", limit=40)
    count = int(inputs.get("numCacheClusters") or 1)
    host = f"{ctx.token(6, 'ec')}.ng.0001.{_short_region(ctx.region)}.cache.amazonaws.com"
    return {
        "id": group_id,
        "replicationGroupId": group_id,
        "arn": ctx.arn("elasticache", f"replicationgroup:{group_id}"),
        # TLS groups answer on master./replica. names.
        "primaryEndpointAddress": f"master.{group_id}.{host}",
        "readerEndpointAddress": f"replica.{group_id}.{host}",
        "memberClusters": [f"{group_id}-{i:03d}" for i in range(1, count + 1)],
        "engineVersionActual": f"{inputs.get('engineVersion', '7.1')}.0",
        "clusterEnabled": False,
        "port": int(inputs.get("port") or 6379),
    }


@resource_outputs(ResourceType.ELASTICACHE_SUBNET_GROUP, ResourceType.ELASTICACHE_PARAMETER_GROUP)
def _cache_group(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs)
    kind = "subnetgroup" if "subnetGroup" in ctx.type_token else "parametergroup"
    return {"id": name, "name": name, "arn": ctx.arn("elasticache", f"{kind}:{name}")}


@resource_outputs(ResourceType.SECRETSMANAGER_SECRET)
def _secret(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs, limit=512)
    # Secrets Manager appends a dash and six random characters to the name in the ARN.
    arn = ctx.arn("secretsmanager", f"secret:{name}-{ctx.token(6)}")
    return {"id": arn, "arn": arn, "name": name}


@resource_outputs(ResourceType.SECRETSMANAGER_SECRET_VERSION)
def _secret_version(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    version_id = _uuid(ctx, "version")
    return {
        "id": f"{inputs.get('secretId', '')}|{version_id}",
        "arn": inputs.get("secretId", ""),
        "versionId": version_id,
        "versionStages": ["AWSCURRENT"],
    }


@resource_outputs(ResourceType.RANDOM_PASSWORD)
def _random_password(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    """A deterministic password that honours length and the allowed specials."""
    length = int(inputs.get("length") or 16)
    specials = str(inputs.get("overrideSpecial") or "")
    body = ctx.token(max(length - 3, 0), "password")
    result = "A" + body + "7" + (specials[:1] or "x")
    return {"id": "none", "result": result[:length], "bcryptHash": f"$2a$10${ctx.token(53)}"}


@resource_outputs(ResourceType.S3_BUCKET, ResourceType.S3_BUCKET_V2)
def _bucket(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs, key="bucket", limit=63)
    return {
        "id": name,
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
        "hostedZoneId": "Z3AQBSTGFYJSTF",
        "region": ctx.region,
    }


@resource_outputs(ResourceType.CLOUDFRONT_ORIGIN_ACCESS_CONTROL)
def _oac(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"E{ctx.upper_token(13)}", "etag": f"E{ctx.upper_token(13, 'etag')}"}


@resource_outputs(
    ResourceType.CLOUDFRONT_CACHE_POLICY,
    ResourceType.CLOUDFRONT_ORIGIN_REQUEST_POLICY,
    ResourceType.CLOUDFRONT_RESPONSE_HEADERS_POLICY,
)
def _cf_policy(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": _uuid(ctx), "etag": f"E{ctx.upper_token(13)}"}


@resource_outputs(ResourceType.CLOUDFRONT_DISTRIBUTION)
def _distribution(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    dist_id = f"E{ctx.upper_token(13)}"
    return {
        "id": dist_id,
        "arn": ctx.arn("cloudfront", f"distribution/{dist_id}", region=False),
        "domainName": f"d{ctx.token(13)}.cloudfront.net",
        "hostedZoneId": CLOUDFRONT_HOSTED_ZONE_ID,
        "status": "Deployed",
        "etag": f"E{ctx.upper_token(13, 'etag')}",
        "callerReference": f"terraform-{ctx.token(20, 'caller')}",
        "inProgressValidationBatches": 0,
    }


@resource_outputs(ResourceType.SNS_TOPIC)
def _topic(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs, limit=256)
    arn = ctx.arn("sns", name)
    return {"id": arn, "arn": arn, "name": name, "owner": ctx.account}


@resource_outputs(ResourceType.SNS_TOPIC_SUBSCRIPTION)
def _topic_subscription(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    arn = f"{inputs.get('topic', ctx.arn('sns', 'topic'))}:{_uuid(ctx)}"
    return {"id": arn, "arn": arn, "ownerId": ctx.account, "pendingConfirmation": True}


@resource_outputs(ResourceType.KMS_KEY)
def _kms_key(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    key_id = _uuid(ctx)
    return {"id": key_id, "keyId": key_id, "arn": ctx.arn("kms", f"key/{key_id}")}


@resource_outputs(ResourceType.CLOUDWATCH_METRIC_ALARM)
def _alarm(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = ctx.auto_name(inputs)
    return {"id": name, "name": name, "arn": ctx.arn("cloudwatch", f"alarm:{name}")}
