"""Build a stage's live resources with boto3 (in moto) and return the stack outputs a real
`pulumi up` would export for them (keys from docs/architecture.md, "Stack outputs")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from infra.config import StackConfig

PREFIX = "movies"


@cache
def _kms_key_pair(key_spec: str) -> Any:
    from moto.kms.utils import generate_private_key

    return generate_private_key(key_spec)


def one_kms_key_pair_per_spec(monkeypatch: Any) -> None:
    """moto's KMS generates a fresh RSA-2048 private key for every key it makes, even a
    symmetric one (~0.08 s of CPU each); an encrypted RDS instance makes the aws/rds key in
    every new mock. Nothing here signs or reads a public key, so keys of one spec share one
    key pair; their IDs, ARNs and aliases stay moto's own."""
    import moto.kms.models

    monkeypatch.setattr(moto.kms.models, "generate_private_key", _kms_key_pair)


def _client(service: str, region: str) -> Any:
    # Making a client parses its service model and endpoint rules (~0.1-0.4 s); moto hooks
    # botocore globally, so one client per service serves every mock_aws() context. The one
    # `infra verify` makes for itself (its process-wide cache; no endpoint: the tests unset
    # AWS_ENDPOINT_URL), not a second client of the service.
    from infra.verify import _client as verify_client

    return verify_client(service, region, None)


def _network(ec2: Any, region: str) -> tuple[str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.50.{i}.0/24", AvailabilityZone=f"{region}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    return vpc, subnets


# moto does not check that an AMI exists; listing its catalogue of real ones takes seconds.
AMI = "ami-0123456789abcdef0"


def _web(cfg: StackConfig, region: str, vpc: str, subnets: list[str]) -> dict[str, Any]:
    elb, asg, ec2 = _client("elbv2", region), _client("autoscaling", region), _client("ec2", region)
    name = f"{PREFIX}-{cfg.env.name}"
    alb = elb.create_load_balancer(Name=f"{name}-alb", Subnets=subnets, Type="application")[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=alb,
        Attributes=[
            {"Key": "idle_timeout.timeout_seconds", "Value": str(cfg.env.alb_idle_timeout_s)}
        ],
    )
    tiers = [("web", cfg.stage.web)] + ([("search", cfg.stage.search)] if cfg.stage.search else [])
    tg_arns, asg_names = [], []
    for role, tier in tiers:
        assert tier is not None
        tg = elb.create_target_group(
            Name=f"{name}-{role}",
            Protocol="HTTP",
            Port=8000,
            VpcId=vpc,
            TargetType="instance",
            HealthCheckPath="/healthz",
        )["TargetGroups"][0]["TargetGroupArn"]
        template = ec2.create_launch_template(
            LaunchTemplateName=f"{name}-{role}",
            LaunchTemplateData={"ImageId": AMI, "InstanceType": tier.instance_type},
        )["LaunchTemplate"]
        group = f"{name}-{role}-asg"
        asg.create_auto_scaling_group(
            AutoScalingGroupName=group,
            MinSize=tier.min_size,
            MaxSize=tier.max_size,
            DesiredCapacity=tier.desired_capacity,
            LaunchTemplate={
                "LaunchTemplateId": template["LaunchTemplateId"],
                "Version": str(template["LatestVersionNumber"]),
            },
            VPCZoneIdentifier=",".join(subnets),
            TargetGroupARNs=[tg],
            Tags=[{"Key": "Name", "Value": f"{name}-{role}", "PropagateAtLaunch": True}],
        )
        tg_arns.append(tg)
        asg_names.append(group)
    return {"alb_arn": alb, "target_group_arns": tg_arns, "asg_names": asg_names}


def _box(cfg: StackConfig, region: str, subnets: list[str]) -> dict[str, Any]:
    ec2 = _client("ec2", region)
    box = cfg.stage.single_box
    assert box is not None
    inst = ec2.run_instances(
        ImageId=AMI,
        InstanceType=box.instance_type,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnets[0],
    )["Instances"][0]
    return {"instance_id": inst["InstanceId"]}


def _database(cfg: StackConfig, region: str) -> dict[str, Any]:
    db = cfg.stage.database
    assert db is not None
    rds, cw = _client("rds", region), _client("cloudwatch", region)
    primary = f"{PREFIX}-{cfg.env.name}-db"
    rds.create_db_instance(
        DBInstanceIdentifier=primary,
        DBInstanceClass=db.instance_class,
        Engine="postgres",
        EngineVersion=db.engine_version,
        AllocatedStorage=db.allocated_storage_gb,
        MasterUsername="movies",
        ManageMasterUserPassword=True,
        MultiAZ=cfg.env.multi_az,
        BackupRetentionPeriod=cfg.env.backup_retention_days,
    )
    replicas = []
    for i in range(db.read_replicas):
        rid = f"{primary}-replica-{i + 1}"
        rds.create_db_instance_read_replica(
            DBInstanceIdentifier=rid,
            SourceDBInstanceIdentifier=primary,
            DBInstanceClass=db.replica_instance_class,
        )
        put_replica_lag(cw, rid, 0.4)
        replicas.append(rid)
    out: dict[str, Any] = {"db_primary_identifier": primary}
    if replicas:
        out["db_replica_identifiers"] = replicas
    return out


def put_replica_lag(cw: Any, replica: str, seconds: float) -> None:
    cw.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[{
            "MetricName": "ReplicaLag",
            "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": replica}],
            "Timestamp": datetime.now(UTC),
            "Value": seconds,
            "Unit": "Seconds",
        }],
    )  # fmt: skip


def _cache(cfg: StackConfig, region: str) -> dict[str, Any]:
    spec = cfg.stage.cache
    assert spec is not None
    group = f"{PREFIX}-{cfg.env.name}-redis"
    _client("elasticache", region).create_replication_group(
        ReplicationGroupId=group,
        ReplicationGroupDescription="movies cache",
        Engine="redis",
        EngineVersion=spec.engine_version,
        CacheNodeType=spec.node_type,
        # moto 5.2.5 ignores NumCacheClusters outside cluster mode and always makes one
        # node; ReplicasPerNodeGroup (as valid for AWS) gives it the spec's node count.
        ReplicasPerNodeGroup=spec.node_count - 1,
        AutomaticFailoverEnabled=cfg.env.multi_az,
        MultiAZEnabled=cfg.env.multi_az,
        TransitEncryptionEnabled=True,
    )
    return {"redis_replication_group_id": group}


def _bucket(cfg: StackConfig, region: str) -> dict[str, Any]:
    s3 = _client("s3", region)
    bucket = f"{PREFIX}-{cfg.env.name}-media-123456789012"
    s3.create_bucket(Bucket=bucket)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={flag: True for flag in (
            "BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"
        )},
    )  # fmt: skip
    # The TLS-only policy the storage component declares: not a public policy.
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
            "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }))  # fmt: skip
    return {"media_bucket": bucket}


def _cdn(bucket: str) -> dict[str, Any]:
    cf = _client("cloudfront", "us-east-1")
    dist = cf.create_distribution(
        DistributionConfig={
            "CallerReference": "movies-verify-test",
            "Comment": "movies",
            "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{
                "Id": "media", "DomainName": f"{bucket}.s3.amazonaws.com",
                "S3OriginConfig": {"OriginAccessIdentity": ""},
            }]},
            "DefaultCacheBehavior": {
                "TargetOriginId": "media", "ViewerProtocolPolicy": "redirect-to-https",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            },
        }
    )["Distribution"]  # fmt: skip
    return {"cdn_distribution_id": dist["Id"], "cdn_domain": dist["DomainName"]}


def _alarms(cfg: StackConfig, region: str, outputs: dict[str, Any]) -> list[str]:
    cw = _client("cloudwatch", region)
    name = f"{PREFIX}-{cfg.env.name}"
    alarms = [f"{name}-{part}" for part in ("app-cpu", "alb-5xx", "db-cpu", "redis-memory")]
    alarms = alarms[: 1 if cfg.stage.single_box else len(alarms)]
    for alarm in alarms:
        cw.put_metric_alarm(
            AlarmName=alarm,
            MetricName="CPUUtilization",
            Namespace="AWS/EC2",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=3,
            Threshold=80.0,
            ComparisonOperator="GreaterThanThreshold",
        )
        cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="deployed")
    return alarms


def deploy(cfg: StackConfig) -> dict[str, Any]:
    """Create cfg's resources in the current moto backend; return the stack outputs."""
    region = cfg.env.region
    ec2 = _client("ec2", region)
    vpc, subnets = _network(ec2, region)
    outputs: dict[str, Any] = {
        "stage": cfg.stage.name,
        "environment": cfg.env.name,
        "vpc_id": vpc,
    }
    if cfg.stage.single_box is not None:
        outputs.update(_box(cfg, region, subnets))
    if cfg.stage.web is not None:
        outputs.update(_web(cfg, region, vpc, subnets))
    if cfg.stage.database is not None:
        outputs.update(_database(cfg, region))
    if cfg.stage.cache is not None:
        outputs.update(_cache(cfg, region))
    if cfg.stage.storage is not None:
        outputs.update(_bucket(cfg, region))
    if cfg.stage.edge is not None:
        outputs.update(_cdn(outputs["media_bucket"]))
    outputs["alarm_names"] = _alarms(cfg, region, outputs)
    return outputs
