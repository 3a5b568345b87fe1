"""Each stack rule (relations between resources) passes a good stack and fails a bad one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy.crafted import doc, messages, resource, tags

BUCKET = "aws:s3/bucket:Bucket"
SG = "aws:ec2/securityGroup:SecurityGroup"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
SUBNET = "aws:ec2/subnet:Subnet"


def bucket_stack(
    *, flags: dict[str, bool] | None = None, statement: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    bucket = resource(
        BUCKET,
        "media",
        {"bucket": "movies-prod-media", "tags": tags()},
        id_="movies-prod-media",
        protect=True,
    )
    deny = statement or {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::movies-prod-media", "arn:aws:s3:::movies-prod-media/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    all_on = {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    return [
        bucket,
        resource(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "media-sse",
            {
                "bucket": "movies-prod-media",
                "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}],
            },
        ),
        resource(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "media-pab",
            {"bucket": "movies-prod-media", **all_on, **(flags or {})},
        ),
        resource(
            "aws:s3/bucketPolicy:BucketPolicy",
            "media-policy",
            {"bucket": "movies-prod-media", "policy": doc(deny)},
        ),
    ]


S3_RULES = ("s3-encrypted", "s3-public-access-block", "s3-deny-insecure-transport")


@pytest.mark.parametrize("rule", S3_RULES)
def test_s3_rules_pass_a_complete_bucket(rule: str) -> None:
    assert messages(rule, *bucket_stack()) == []


@pytest.mark.parametrize("rule", S3_RULES)
def test_s3_rules_fail_a_bare_bucket(rule: str) -> None:
    assert messages(rule, bucket_stack()[0])


def test_s3_rules_relate_children_to_their_own_bucket() -> None:
    other = resource(
        BUCKET, "logs", {"bucket": "movies-prod-logs", "tags": tags()}, id_="movies-prod-logs"
    )
    for rule in S3_RULES:
        found = messages(rule, *bucket_stack(), other)
        assert found and all("'logs'" in message for message in found), rule


def test_s3_relation_falls_back_to_a_plain_dependency() -> None:
    stack = bucket_stack()
    bucket = stack[0]
    for child in stack[1:]:  # the child's input is unknown / different, but it depends on it
        child["inputs"]["bucket"] = "computed-elsewhere"
        child["dependencies"] = [bucket["urn"]]
    assert messages("s3-encrypted", *stack) == []


def test_public_access_block_needs_all_four_flags() -> None:
    found = messages("s3-public-access-block", *bucket_stack(flags={"ignorePublicAcls": False}))
    assert found == ["public access block 'media-pab' leaves ignorePublicAcls off"]


@pytest.mark.parametrize(
    "statement",
    [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::movies-prod-media/*",
        },
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::movies-prod-media/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::movies-prod-media", "arn:aws:s3:::movies-prod-media/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        },
    ],
    ids=["no-deny", "objects-only", "wrong-condition"],
)
def test_bucket_policy_must_deny_insecure_transport(statement: dict[str, Any]) -> None:
    assert messages("s3-deny-insecure-transport", *bucket_stack(statement=statement))


# --- security groups ------------------------------------------------------------------


def sg(name: str, ingress: list[dict[str, Any]], stage: str = "load-balanced") -> dict[str, Any]:
    return resource(SG, name, {"ingress": ingress, "tags": tags(stage=stage)}, id_=f"sg-{name}")


def alb(groups: list[str], **changes: Any) -> dict[str, Any]:
    inputs = {
        "loadBalancerType": "application",
        "internal": False,
        "securityGroups": groups,
        "tags": tags(),
    }
    inputs.update(changes)
    return resource(LB, "alb", inputs, outputs={"arn": "arn:aws:elasticloadbalancing:alb"})


WORLD_443 = {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}
WORLD_80_V6 = {"protocol": "tcp", "fromPort": 80, "toPort": 80, "ipv6CidrBlocks": ["::/0"]}
CLOUDFRONT = {"protocol": "tcp", "fromPort": 80, "toPort": 80, "prefixListIds": ["pl-3b927c52"]}


def test_world_ingress_to_the_alb_on_80_and_443_passes() -> None:
    group = sg("alb", [WORLD_443, WORLD_80_V6])
    assert messages("sg-no-world-ingress", group, alb(["sg-alb"])) == []


@pytest.mark.parametrize(
    "rule",
    [
        {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]},
        {"protocol": "tcp", "fromPort": 80, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
        {"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]},
    ],
    ids=["ssh", "range", "all"],
)
def test_world_ingress_on_other_ports_of_the_alb_fails(rule: dict[str, Any]) -> None:
    assert messages("sg-no-world-ingress", sg("alb", [rule]), alb(["sg-alb"]))


def test_world_ingress_to_a_group_that_is_not_the_albs_fails() -> None:
    assert messages("sg-no-world-ingress", sg("app", [WORLD_443]), alb(["sg-alb"]), sg("alb", []))
    internal = alb(["sg-alb"], internal=True)
    assert messages("sg-no-world-ingress", sg("alb", [WORLD_443]), internal)


def test_edge_stage_alb_takes_the_cloudfront_prefix_list_only() -> None:
    edge_alb = alb(["sg-alb"])
    assert messages("sg-no-world-ingress", sg("alb", [CLOUDFRONT], stage="edge"), edge_alb) == []
    assert messages("sg-no-world-ingress", sg("alb", [WORLD_443], stage="edge"), edge_alb)


def test_separate_rule_resources_are_checked_too() -> None:
    group = sg("app", [])
    old_style = resource(
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "app-ssh",
        {
            "type": "ingress",
            "securityGroupId": "sg-app",
            "protocol": "tcp",
            "fromPort": 22,
            "toPort": 22,
            "cidrBlocks": ["0.0.0.0/0"],
        },
    )
    new_style = resource(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "app-ssh-v6",
        {
            "securityGroupId": "sg-app",
            "ipProtocol": "tcp",
            "fromPort": 22,
            "toPort": 22,
            "cidrIpv6": "::/0",
            "tags": tags(),
        },
    )
    assert len(messages("sg-no-world-ingress", group, old_style, new_style)) == 2
    allowed = resource(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "alb-https",
        {
            "securityGroupId": "sg-alb",
            "ipProtocol": "tcp",
            "fromPort": 443,
            "toPort": 443,
            "cidrIpv4": "0.0.0.0/0",
            "tags": tags(),
        },
    )
    assert messages("sg-no-world-ingress", sg("alb", []), alb(["sg-alb"]), allowed) == []


# --- subnets --------------------------------------------------------------------------


def subnet(name: str, public: bool) -> dict[str, Any]:
    return resource(
        SUBNET, name, {"mapPublicIpOnLaunch": public, "tags": tags()}, id_=f"subnet-{name}"
    )


def test_asg_in_public_subnets_fails() -> None:
    asg = resource(
        "aws:autoscaling/group:Group",
        "web",
        {"vpcZoneIdentifiers": ["subnet-public-a", "subnet-private-a"]},
    )
    found = messages(
        "asg-private-subnets", asg, subnet("public-a", True), subnet("private-a", False)
    )
    assert found and "public-a" in found[0] and "private-a" not in found[0]
    asg["inputs"]["vpcZoneIdentifiers"] = ["subnet-private-a"]
    assert messages("asg-private-subnets", asg, subnet("private-a", False)) == []


def test_db_subnet_group_with_public_subnets_fails() -> None:
    group = resource("aws:rds/subnetGroup:SubnetGroup", "db", {"subnetIds": ["subnet-public-a"]})
    assert messages("db-cache-private-subnets", group, subnet("public-a", True))
    group["inputs"]["subnetIds"] = ["subnet-data-a"]
    assert messages("db-cache-private-subnets", group, subnet("data-a", False)) == []


# --- ALB HTTPS ------------------------------------------------------------------------


def listener(name: str, protocol: str, **extra: Any) -> dict[str, Any]:
    inputs = {
        "loadBalancerArn": "arn:aws:elasticloadbalancing:alb",
        "protocol": protocol,
        "port": 443 if protocol == "HTTPS" else 80,
        **extra,
    }
    return resource(LISTENER, name, inputs)


REDIRECT = [
    {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
]
FORWARD = [{"type": "forward", "targetGroupArn": "arn:tg"}]
CERT = {"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x"}


def test_alb_with_certificate_redirects_and_drops_invalid_headers() -> None:
    good = [
        alb([], dropInvalidHeaderFields=True),
        listener("https", "HTTPS", **CERT),
        listener("http", "HTTP", defaultActions=REDIRECT),
    ]
    assert messages("alb-https", *good) == []
    forwards = [
        alb([], dropInvalidHeaderFields=True),
        listener("https", "HTTPS", **CERT),
        listener("http", "HTTP", defaultActions=FORWARD),
    ]
    assert messages("alb-https", *forwards)
    keeps_headers = [
        alb([]),
        listener("https", "HTTPS", **CERT),
        listener("http", "HTTP", defaultActions=REDIRECT),
    ]
    assert messages("alb-https", *keeps_headers)


def test_alb_without_certificate_may_serve_http() -> None:
    assert messages("alb-https", alb([]), listener("http", "HTTP", defaultActions=FORWARD)) == []


def test_policy_unknown_during_preview_defers_only_its_own_bucket() -> None:
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    stack = bucket_stack()
    stack[3]["inputs"]["policy"] = UNKNOWN_STRING_VALUE  # the engine's "computed later"
    other = resource(
        BUCKET, "logs", {"bucket": "movies-prod-logs", "tags": tags()}, id_="movies-prod-logs"
    )
    found = messages("s3-deny-insecure-transport", *stack, other)
    assert len(found) == 1 and "'logs'" in found[0]


def single_box(ingress: list[dict[str, Any]]) -> list[dict[str, Any]]:
    box = resource(
        "aws:ec2/instance:Instance", "box", {"vpcSecurityGroupIds": ["sg-app"]}, id_="i-box"
    )
    eip = resource("aws:ec2/eip:Eip", "box-eip", {"instance": "i-box"})
    return [sg("app", ingress, stage="single-box"), box, eip]


def test_single_box_is_the_entry_point_when_there_is_no_alb() -> None:
    assert messages("sg-no-world-ingress", *single_box([WORLD_443, WORLD_80_V6])) == []
    app_port = {"protocol": "tcp", "fromPort": 8000, "toPort": 8000, "cidrBlocks": ["0.0.0.0/0"]}
    assert messages("sg-no-world-ingress", *single_box([app_port]))
    # With a load balancer in the stack the box is no entry point any more.
    assert messages("sg-no-world-ingress", *single_box([WORLD_443]), alb(["sg-alb"]))
    # Without a public address it is no entry point either.
    private = single_box([WORLD_443])[:2]
    assert messages("sg-no-world-ingress", *private)
