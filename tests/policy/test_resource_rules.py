"""Each resource rule passes a good crafted resource and fails a bad one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.policy.crafted import doc, messages, resource, tags

LT = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
RDS = "aws:rds/instance:Instance"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CF = "aws:cloudfront/distribution:Distribution"


def launch_template(**changes: Any) -> dict[str, Any]:
    inputs = {
        "blockDeviceMappings": [
            {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeType": "gp3"}}
        ],
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
        "networkInterfaces": [{"associatePublicIpAddress": "false"}],
        "instanceType": "c7g.large",
        "tags": tags(),
    }
    inputs.update(changes)
    return resource(LT, "web-lt", inputs)


def box(**changes: Any) -> dict[str, Any]:
    inputs = {
        "rootBlockDevice": {"encrypted": True, "volumeType": "gp3"},
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2},
        "instanceType": "t4g.small",
        "tags": tags(stage="single-box"),
    }
    inputs.update(changes)
    return resource(INSTANCE, "box", inputs)


def primary(env: str = "prod", **changes: Any) -> dict[str, Any]:
    inputs = {
        "storageEncrypted": True,
        "publiclyAccessible": False,
        "backupRetentionPeriod": 14,
        "multiAz": True,
        "deletionProtection": True,
        "skipFinalSnapshot": False,
        "tags": tags(env),
    }
    inputs.update(changes)
    return resource(RDS, "db-primary", inputs, protect=env == "prod")


def replica(**changes: Any) -> dict[str, Any]:
    inputs = {
        "replicateSourceDb": "movies-prod",
        "backupRetentionPeriod": 14,
        "deletionProtection": True,
        "tags": tags(),
    }
    inputs.update(changes)
    return resource(RDS, "db-replica-1", inputs)


def cache_group(env: str = "prod", **changes: Any) -> dict[str, Any]:
    inputs = {
        "atRestEncryptionEnabled": True,
        "transitEncryptionEnabled": True,
        "transitEncryptionMode": "required",
        "automaticFailoverEnabled": True,
        "multiAzEnabled": True,
        "numCacheClusters": 2,
        "tags": tags(env),
    }
    inputs.update(changes)
    return resource(GROUP, "cache-group", inputs, protect=env == "prod")


def distribution(**changes: Any) -> dict[str, Any]:
    inputs = {
        "viewerCertificate": {
            "acmCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
            "minimumProtocolVersion": "TLSv1.2_2021",
            "sslSupportMethod": "sni-only",
        },
        "defaultCacheBehavior": {"viewerProtocolPolicy": "redirect-to-https"},
        "orderedCacheBehaviors": [
            {"pathPattern": "/posters/*", "viewerProtocolPolicy": "https-only"}
        ],
        "origins": [
            {
                "originId": "media",
                "domainName": "movies-media.s3.us-east-1.amazonaws.com",
                "originAccessControlId": "E2OAC",
            },
            {
                "originId": "alb",
                "domainName": "movies-alb-1.us-east-1.elb.amazonaws.com",
                "customOriginConfig": {
                    "originProtocolPolicy": "https-only",
                    "originSslProtocols": ["TLSv1.2"],
                },
            },
        ],
        "tags": tags(stage="edge"),
    }
    inputs.update(changes)
    return resource(CF, "cdn", inputs)


def test_good_resources_pass_every_resource_rule() -> None:
    from policies.rules import RESOURCE_POLICIES

    good = [launch_template(), box(), primary(), replica(), cache_group(), distribution()]
    for policy in RESOURCE_POLICIES:
        assert messages(policy.name, *good) == [], policy.name


# --- storage encrypted ----------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        launch_template(blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {}}]),
        launch_template(
            blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]
        ),
        launch_template(blockDeviceMappings=[]),
        box(rootBlockDevice={"volumeType": "gp3"}),
        box(ebsBlockDevices=[{"deviceName": "/dev/sdf", "encrypted": False}]),
        resource("aws:ebs/volume:Volume", "data", {"size": 10, "tags": tags()}),
    ],
    ids=["lt-unset", "lt-false", "lt-no-mapping", "root-unset", "extra-volume", "volume"],
)
def test_ebs_encrypted_fails_on_unencrypted_volumes(bad: dict[str, Any]) -> None:
    assert messages("ebs-encrypted", bad)


def test_rds_encrypted() -> None:
    assert messages("rds-encrypted", primary(storageEncrypted=False))
    assert messages("rds-encrypted", primary(storageEncrypted=None))
    # A replica inherits its source's encryption; only an explicit False is wrong.
    assert messages("rds-encrypted", replica()) == []
    assert messages("rds-encrypted", replica(storageEncrypted=False))


@pytest.mark.parametrize(
    "changes",
    [
        {"atRestEncryptionEnabled": False},
        {"transitEncryptionEnabled": False},
        {"transitEncryptionMode": "preferred"},
    ],
)
def test_elasticache_encrypted_fails(changes: dict[str, Any]) -> None:
    assert messages("elasticache-encrypted", cache_group(**changes))


def test_standalone_redis_cluster_cannot_be_encrypted_at_rest() -> None:
    cluster = resource(
        "aws:elasticache/cluster:Cluster",
        "cache",
        {"engine": "redis", "transitEncryptionEnabled": True, "tags": tags()},
    )
    assert any("replication group" in m for m in messages("elasticache-encrypted", cluster))


# --- reachability ---------------------------------------------------------------------


def test_db_not_public() -> None:
    assert messages("db-not-public", primary(publiclyAccessible=True))
    assert messages("db-not-public", primary()) == []


@pytest.mark.parametrize(
    "options",
    [
        {"httpTokens": "optional", "httpPutResponseHopLimit": 1},
        {"httpPutResponseHopLimit": 1},
        {"httpTokens": "required", "httpPutResponseHopLimit": 3},
        {"httpTokens": "required"},
    ],
    ids=["optional", "tokens-unset", "hop-3", "hop-unset"],
)
def test_imdsv2_required_with_hop_limit(options: dict[str, Any]) -> None:
    assert messages("imdsv2-required", launch_template(metadataOptions=options))
    assert messages("imdsv2-required", box(metadataOptions=options))


def test_imdsv2_passes_when_the_metadata_service_is_off() -> None:
    off = {"httpEndpoint": "disabled"}
    assert messages("imdsv2-required", launch_template(metadataOptions=off)) == []


@pytest.mark.parametrize("value", ["true", True])
def test_launch_template_with_public_ip_fails(value: Any) -> None:
    bad = launch_template(networkInterfaces=[{"associatePublicIpAddress": value}])
    assert messages("launch-template-no-public-ip", bad)


# --- prod hardening -------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"backupRetentionPeriod": 6},
        {"multiAz": False},
        {"deletionProtection": False},
        {"skipFinalSnapshot": True},
    ],
)
def test_prod_rds_resilience_fails(changes: dict[str, Any]) -> None:
    assert messages("prod-rds-resilience", primary(**changes))


def test_hardening_rules_on_replicas_and_report_dev_too() -> None:
    # A replica needs no Multi-AZ, final snapshot or protect=True (it is rebuilt from its
    # source), but deletion protection and backups (a move that drops it must ask).
    assert messages("prod-rds-resilience", replica()) == []
    assert messages("prod-protect-stateful", replica()) == []
    bare = replica(backupRetentionPeriod=0, deletionProtection=False)
    assert len(messages("prod-rds-resilience", bare)) == 2
    # The rules do not look at the environment: dev's trade-offs are reported, and the
    # dev pack config makes them advisory (test_enforcement).
    dev = primary("dev", backupRetentionPeriod=1, multiAz=False, deletionProtection=False)
    assert len(messages("prod-rds-resilience", dev)) == 3
    assert messages("prod-cache-failover", cache_group("dev", numCacheClusters=1))


def test_prod_cache_failover() -> None:
    assert messages("prod-cache-failover", cache_group(automaticFailoverEnabled=False))
    assert messages("prod-cache-failover", cache_group(numCacheClusters=1))


def test_prod_protect_stateful() -> None:
    unprotected = copy.deepcopy(primary())
    unprotected["options"]["protect"] = False
    assert messages("prod-protect-stateful", unprotected)
    bucket = resource("aws:s3/bucket:Bucket", "media", {"tags": tags()})
    assert messages("prod-protect-stateful", bucket)
    disposable = resource("aws:s3/bucket:Bucket", "artifacts", {"forceDestroy": True})
    assert messages("prod-protect-stateful", disposable) == []


# --- edge -----------------------------------------------------------------------------


def test_cloudfront_tls() -> None:
    old = distribution(
        viewerCertificate={
            "acmCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
            "minimumProtocolVersion": "TLSv1.1_2016",
        }
    )
    assert messages("cloudfront-tls", old)
    plain = distribution(defaultCacheBehavior={"viewerProtocolPolicy": "allow-all"})
    assert messages("cloudfront-tls", plain)
    weak_origin = distribution()
    weak_origin["inputs"]["origins"][1]["customOriginConfig"]["originSslProtocols"] = [
        "TLSv1",
        "TLSv1.2",
    ]
    assert messages("cloudfront-tls", weak_origin)


def test_cloudfront_default_certificate_needs_no_minimum_version() -> None:
    default = distribution(viewerCertificate={"cloudfrontDefaultCertificate": True})
    assert messages("cloudfront-tls", default) == []


def test_cloudfront_oac() -> None:
    no_oac = distribution()
    del no_oac["inputs"]["origins"][0]["originAccessControlId"]
    assert messages("cloudfront-oac", no_oac)
    oai = distribution()
    oai["inputs"]["origins"][0]["s3OriginConfig"] = {"originAccessIdentity": "origin/E1"}
    assert any("legacy" in m for m in messages("cloudfront-oac", oai))
    oac = resource(
        "aws:cloudfront/originAccessControl:OriginAccessControl",
        "oac",
        {"signingBehavior": "no-override", "signingProtocol": "sigv4"},
    )
    assert messages("cloudfront-oac", oac)


# --- IAM and tags ---------------------------------------------------------------------

ADMIN = {"Effect": "Allow", "Action": "*", "Resource": "*"}
NARROW = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::media/*"}


@pytest.mark.parametrize(
    "bad",
    [
        resource("aws:iam/rolePolicy:RolePolicy", "p", {"policy": doc(ADMIN)}),
        resource("aws:iam/policy:Policy", "p", {"policy": doc(NARROW, {**ADMIN, "Action": "*:*"})}),
        resource(
            "aws:iam/role:Role",
            "r",
            {"assumeRolePolicy": doc(NARROW), "inlinePolicies": [{"policy": doc(ADMIN)}]},
        ),
        resource(
            "aws:iam/policy:Policy",
            "p",
            {"policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})},
        ),
        resource("aws:iam/policy:Policy", "p", {"policy": "{not json"}),
    ],
    ids=["star", "star-colon", "inline", "not-action", "not-json"],
)
def test_iam_no_wildcard_admin_fails(bad: dict[str, Any]) -> None:
    assert messages("iam-no-wildcard-admin", bad)


def test_iam_narrow_and_deny_statements_pass() -> None:
    deny_all = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    good = resource("aws:iam/policy:Policy", "p", {"policy": doc(NARROW, deny_all)})
    assert messages("iam-no-wildcard-admin", good) == []


def test_required_tags() -> None:
    partial = {"project": "movies", "stage": "cached", "environment": "dev"}
    bad = resource("aws:ec2/securityGroup:SecurityGroup", "sg", {"tags": partial})
    assert messages("required-tags", bad) == [
        "missing tags owner (required: project, stage, environment, owner)"
    ]
    untaggable = resource("aws:ec2/securityGroupRule:SecurityGroupRule", "rule", {})
    assert messages("required-tags", untaggable) == []
    asg_tags = [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in tags().items()]
    asg = resource("aws:autoscaling/group:Group", "asg", {"tags": asg_tags})
    assert messages("required-tags", asg) == []
    assert messages("required-tags", resource("aws:autoscaling/group:Group", "asg", {}))
