"""Each value check catches a crafted bad value and passes a good one."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from infra.guard import iam_documents, instance_types, node_classes, user_data
from infra.guard.checks import run_checks
from tests.policy.crafted import doc, resource


def plan(*resources: dict[str, Any], env: str = "prod") -> dict[str, Any]:
    return {"env": env, "stage": "test", "resources": list(resources)}


def subnet(zone: str) -> dict[str, Any]:
    key = "availabilityZone" if zone.startswith("us-") else "availabilityZoneId"
    return resource("aws:ec2/subnet:Subnet", f"private-{zone}", {key: zone}, id_=f"subnet-{zone}")


def box(instance_type: str, zone: str) -> dict[str, Any]:
    return resource(
        "aws:ec2/instance:Instance",
        "box",
        {"instanceType": instance_type, "subnetId": f"subnet-{zone}"},
    )


# --- instance types (moto's catalogue, by zone ID) ------------------------------------


def test_catalogue_is_read_from_moto_not_copied() -> None:
    assert len(instance_types.known_types()) > 500
    assert "use1-az1" in instance_types.offerings("us-east-1")["t4g.small"]
    assert instance_types.region_of("use1-az3") == "us-east-1"


def test_known_type_offered_in_its_zone_passes() -> None:
    assert instance_types.check(plan(subnet("use1-az1"), box("t4g.small", "use1-az1"))) == []


def test_unknown_instance_type_is_caught_with_a_suggestion() -> None:
    found = instance_types.check(plan(subnet("use1-az1"), box("t4g.smal", "use1-az1")))
    assert len(found) == 1
    assert "'t4g.smal' does not exist" in found[0].message and "t4g.small" in found[0].message


def test_type_not_offered_in_the_zone_is_caught() -> None:
    # moto's us-east-1 offerings list no Graviton type in use1-az3.
    assert "use1-az3" not in instance_types.offerings("us-east-1")["c7g.large"]
    found = instance_types.check(plan(subnet("use1-az3"), box("c7g.large", "use1-az3")))
    assert [f.message.split(" (")[0] for f in found] == ["c7g.large is not offered in use1-az3"]


def test_a_zone_given_by_name_only_is_a_finding() -> None:
    # A name is a different physical zone in each account: the offering cannot be known.
    found = instance_types.check(plan(subnet("us-east-1a"), box("t4g.small", "us-east-1a")))
    assert len(found) == 1
    assert "zone(s) given by name only (us-east-1a)" in found[0].message


def test_launch_template_type_is_checked_in_its_asg_zones() -> None:
    template = resource(
        "aws:ec2/launchTemplate:LaunchTemplate", "web-lt", {"instanceType": "c7g.large"}, id_="lt-1"
    )
    group = resource(
        "aws:autoscaling/group:Group",
        "web",
        {
            "launchTemplate": {"id": "lt-1", "version": "1"},
            "vpcZoneIdentifiers": ["subnet-use1-az1", "subnet-use1-az3"],
        },
    )
    zones = (subnet("use1-az1"), subnet("use1-az3"))
    found = instance_types.check(plan(template, group, *zones))
    assert len(found) == 1 and "use1-az3" in found[0].message


# --- node classes (kept list) -------------------------------------------------------


def test_kept_list_names_its_source_and_review_date() -> None:
    for service in ("rds", "elasticache"):
        table = node_classes.kept_list()[service]
        assert table["source"].startswith("https://docs.aws.amazon.com/")
        assert table["reviewed"]


@pytest.mark.parametrize(
    ("service", "node_class", "engine", "version", "needle"),
    [
        ("rds", "db.r7g.huge", "postgres", "16", "no size 'huge'"),
        ("rds", "db.x9.large", "postgres", "16", "family 'db.x9' is not in the list"),
        ("rds", "db.r7g.large", "postgres", "12", "needs postgres 13 or newer"),
        ("rds", "db.r7g.large", "sqlserver-ee", "16", "does not run engine"),
        ("elasticache", "cache.r7g.large", "redis", "6.0", "needs redis 6.2 or newer"),
        ("elasticache", "cache.t4g.nano", "redis", "7.1", "no size 'nano'"),
    ],
)
def test_bad_node_classes_are_caught(
    service: str, node_class: str, engine: str, version: str, needle: str
) -> None:
    problems = node_classes.problems(service, node_class, engine, version)
    assert any(needle in problem for problem in problems), problems


def test_good_node_classes_pass_and_replicas_use_the_source_engine() -> None:
    primary = resource(
        "aws:rds/instance:Instance",
        "db-primary",
        {
            "identifier": "movies-prod",
            "engine": "postgres",
            "engineVersion": "12",
            "instanceClass": "db.t4g.small",
        },
    )
    replica = resource(
        "aws:rds/instance:Instance",
        "db-replica-1",
        {"replicateSourceDb": "movies-prod", "instanceClass": "db.r7g.large"},
    )
    cache = resource(
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "cache",
        {"engine": "redis", "engineVersion": "7.1", "nodeType": "cache.r7g.large"},
    )
    found = node_classes.check(plan(primary, replica, cache))
    # The replica runs its source's PostgreSQL 12, which db.r7g does not support.
    assert [(f.resource_name, "needs postgres 13" in f.message) for f in found] == [
        ("db-replica-1", True)
    ]


# --- user data (cloud-init schema) --------------------------------------------------

GOOD_CLOUD_CONFIG = "#cloud-config\npackages: [python3]\nruncmd:\n  - [systemctl, start, movies]\n"


def template(text: str, *, encode: bool = True) -> dict[str, Any]:
    data = base64.b64encode(text.encode()).decode() if encode else text
    return resource("aws:ec2/launchTemplate:LaunchTemplate", "web-lt", {"userData": data})


def test_valid_cloud_config_passes() -> None:
    plain = resource("aws:ec2/instance:Instance", "box", {"userData": GOOD_CLOUD_CONFIG})
    assert user_data.check(plan(template(GOOD_CLOUD_CONFIG), plain)) == []


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (template("#cloud-config\npackages: python3\n"), "is not of type 'array'"),
        (template("#cloud-config\nwrite_files:\n  - pathh: /x\n"), "'path' is a required"),
        (template("#!/bin/bash\necho hi\n"), "is not #cloud-config"),
        (template("#cloud-config\n", encode=False), "not base64"),
        (resource("aws:ec2/instance:Instance", "box", {"userData": "[secret]"}), "secret"),
    ],
    ids=["wrong-type", "unknown-key", "shell-script", "not-base64", "masked"],
)
def test_invalid_user_data_is_caught(bad: dict[str, Any], needle: str) -> None:
    found = user_data.check(plan(bad))
    assert len(found) == 1 and needle in found[0].message, found


# --- IAM documents (parliament) -----------------------------------------------------

NARROW = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::media/*"}


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObjectt", "Resource": "arn:aws:s3:::media/*"},
    ],
    ids=["star-star", "service-star", "unknown-action"],
)
def test_wildcard_or_wrong_identity_policy_is_caught(statement: dict[str, Any]) -> None:
    bad = resource("aws:iam/rolePolicy:RolePolicy", "p", {"policy": doc(NARROW, statement)})
    assert iam_documents.check(plan(bad))


def test_trust_and_resource_policies_are_judged_for_what_they_are() -> None:
    trust = {
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    role = resource(
        "aws:iam/role:Role",
        "r",
        {"assumeRolePolicy": doc(trust)},
        outputs={"arn": "arn:aws:iam::123456789012:role/r"},
    )
    deny_tls = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::media", "arn:aws:s3:::media/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    bucket_policy = resource("aws:s3/bucketPolicy:BucketPolicy", "bp", {"policy": doc(deny_tls)})
    identity = resource("aws:iam/rolePolicy:RolePolicy", "p", {"policy": doc(NARROW)})
    assert iam_documents.check(plan(role, bucket_policy, identity)) == []


def test_kms_key_policy_star_means_the_key() -> None:
    arn = "arn:aws:kms:us-east-1:123456789012:key/k"
    root = {"AWS": "arn:aws:iam::123456789012:root"}
    admin = {"Effect": "Allow", "Principal": root, "Action": "kms:*", "Resource": "*"}
    narrow = {
        "Effect": "Allow",
        "Principal": root,
        "Resource": "*",
        "Action": ["kms:DescribeKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"],
    }
    key = resource("aws:kms/key:Key", "k", {"policy": doc(admin)}, outputs={"arn": arn})
    found = iam_documents.check(plan(key))
    assert found and all("RESOURCE_MISMATCH" in f.message for f in found)
    key["inputs"]["policy"] = doc(narrow)
    assert iam_documents.check(plan(key)) == []


def test_run_checks_rejects_an_unknown_check_name() -> None:
    with pytest.raises(ValueError, match="unknown checks \\['spelling'\\]"):
        run_checks(plan(), ["spelling"])


def test_policy_documents_in_outputs_only_are_not_checked() -> None:
    computed = resource(
        "aws:sns/topic:Topic", "t", {}, outputs={"policy": json.dumps({"Statement": "junk"})}
    )
    assert iam_documents.check(plan(computed)) == []
