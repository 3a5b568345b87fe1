"""The offline runner on the real program: all 14 stacks, planned once per session.

Zero mandatory violations and zero value-check findings is the bar; a failure here names
the stack, rule and resource to fix in infra. Mutations of real plans show the rules
see the real resource shapes (a rule that passes everything would fail these).
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from infra.config import ENVIRONMENTS, STAGES
from infra.guard.runner import StackReport, evaluate
from policies.offline import analyze, enforcement_levels, load_config

# No server, but long enough that xdist should start it early (tests/conftest.py).
pytestmark = pytest.mark.wall(17)  # seconds alone

REFS = [f"{env}/{stage}" for env in ENVIRONMENTS for stage in STAGES]


@pytest.fixture(scope="session")
def real_plans(stack_plans: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The session's 14 plans (tests/conftest.py), copied: mutations here stay here."""
    return {ref: copy.deepcopy(stack_plans[tuple(ref.split("/"))]) for ref in REFS}


@pytest.fixture(scope="session")
def real_reports(real_plans: dict[str, dict[str, Any]]) -> dict[str, StackReport]:
    return {ref: evaluate(plan) for ref, plan in real_plans.items()}


def _lines(items: list[Any]) -> list[str]:
    return [
        f"{getattr(i, 'policy', None) or i.check} {i.resource_type} {i.resource_name}: {i.message}"
        for i in items
    ]


@pytest.mark.parametrize("ref", REFS)
def test_no_mandatory_violation(real_reports: dict[str, StackReport], ref: str) -> None:
    assert _lines(real_reports[ref].mandatory) == []


@pytest.mark.parametrize("ref", REFS)
def test_no_value_check_finding(real_reports: dict[str, StackReport], ref: str) -> None:
    assert _lines(real_reports[ref].findings) == []


# Advisory in prod by its config (policy-config.prod.json): the default certificate is
# reported, and accepted, until the profile sets a domain.
PROD_ADVISORY = {"cloudfront-own-certificate"}


def test_enforcement_follows_the_environment(real_reports: dict[str, StackReport]) -> None:
    for ref, report in real_reports.items():
        for v in report.violations:
            mandatory = v.level.value == "mandatory"
            assert mandatory == (ref.startswith("prod/") and v.policy not in PROD_ADVISORY), ref


def test_every_remaining_finding_is_accepted_with_a_reason(
    real_reports: dict[str, StackReport],
) -> None:
    """What the committed stacks report is exactly what policies/accepted.yaml accepts:
    no unaccepted advisory, and each accepted one carries the file's reason."""
    for ref, report in real_reports.items():
        assert _lines(report.advisory) == [], ref
        assert all(v.accepted for v in report.accepted), ref
    counts = {ref: len(report.accepted) for ref, report in real_reports.items()}
    # From a real run (docs/policy.md's table): the prod stacks accept only the media
    # bucket's SSE-S3 and the default CloudFront certificate, at the edge stages.
    assert counts == {
        "dev/single-box": 0,
        "dev/split-db": 5,
        "dev/load-balanced": 5,
        "dev/cached": 8,
        "dev/read-replicas": 9,
        "dev/edge": 11,
        "dev/scale-5x": 11,
        "prod/single-box": 0,
        "prod/split-db": 0,
        "prod/load-balanced": 0,
        "prod/cached": 0,
        "prod/read-replicas": 0,
        "prod/edge": 2,
        "prod/scale-5x": 2,
    }


# --- mutations of real plans -----------------------------------------------------------


def _violations(plan: dict[str, Any]) -> set[tuple[str, str | None]]:
    levels = enforcement_levels(load_config(plan["env"]))
    return {(v.policy, v.resource_name) for v in analyze(plan["resources"], levels)}


def _set(resource: dict[str, Any], **values: Any) -> None:
    """Change inputs the way a code change would: the outputs echo them."""
    for key, value in values.items():
        for side in ("inputs", "outputs"):
            if value is None:
                resource[side].pop(key, None)
            elif side == "inputs" or key in resource[side]:
                resource[side][key] = value


def _mutated(plan: dict[str, Any], type_: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A deep copy of the plan and the first resource of ``type_`` in it."""
    copied = copy.deepcopy(plan)
    target = next(r for r in copied["resources"] if r["type"] == type_)
    return copied, target


MUTATIONS = [
    ("aws:rds/instance:Instance", "storageEncrypted", False, "rds-encrypted"),
    ("aws:rds/instance:Instance", "publiclyAccessible", True, "db-not-public"),
    ("aws:rds/instance:Instance", "backupRetentionPeriod", 1, "prod-rds-resilience"),
    (
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "transitEncryptionEnabled",
        False,
        "elasticache-encrypted",
    ),
    (
        "aws:ec2/launchTemplate:LaunchTemplate",
        "metadataOptions",
        {"httpTokens": "optional"},
        "imdsv2-required",
    ),
    (
        "aws:cloudfront/distribution:Distribution",
        "origins",
        [{"originId": "media", "domainName": "movies-prod-media.s3.us-east-1.amazonaws.com"}],
        "cloudfront-oac",
    ),
    (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "restrictPublicBuckets",
        False,
        "s3-public-access-block",
    ),
]


@pytest.mark.parametrize(
    ("type_", "key", "value", "rule"), MUTATIONS, ids=[m[3] for m in MUTATIONS]
)
def test_a_broken_real_resource_is_caught(
    real_plans: dict[str, dict[str, Any]], type_: str, key: str, value: Any, rule: str
) -> None:
    plan, target = _mutated(real_plans["prod/edge"], type_)
    _set(target, **{key: value})
    before = _violations(real_plans["prod/edge"])
    after = _violations(plan) - before
    assert any(policy == rule for policy, _ in after), after


def test_real_tags_and_protect_are_checked(real_plans: dict[str, dict[str, Any]]) -> None:
    plan, group = _mutated(
        real_plans["prod/cached"], "aws:elasticache/replicationGroup:ReplicationGroup"
    )
    del group["inputs"]["tags"]["owner"]
    group["options"]["protect"] = False
    after = _violations(plan) - _violations(real_plans["prod/cached"])
    assert {("required-tags", group["name"]), ("prod-protect-stateful", group["name"])} <= after


def test_world_open_app_port_is_caught_on_a_real_stack(
    real_plans: dict[str, dict[str, Any]],
) -> None:
    plan = copy.deepcopy(real_plans["prod/load-balanced"])
    rule = next(
        r
        for r in plan["resources"]
        if r["type"] == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
        and r["inputs"].get("referencedSecurityGroupId")
    )
    _set(rule, referencedSecurityGroupId=None, cidrIpv4="0.0.0.0/0")
    after = _violations(plan) - _violations(real_plans["prod/load-balanced"])
    assert ("sg-no-world-ingress", rule["name"]) in after


def test_real_user_data_mutation_is_caught(real_plans: dict[str, dict[str, Any]]) -> None:
    from infra.guard import user_data

    plan, template = _mutated(
        real_plans["dev/load-balanced"], "aws:ec2/launchTemplate:LaunchTemplate"
    )
    text = base64.b64decode(template["inputs"]["userData"]).decode()
    template["inputs"]["userData"] = base64.b64encode(
        (text + "\nruncmd: not-a-list\n").encode()
    ).decode()
    assert user_data.check(plan)


def test_real_role_policy_mutation_is_caught(real_plans: dict[str, dict[str, Any]]) -> None:
    from infra.guard import iam_documents

    plan, policy = _mutated(real_plans["prod/scale-5x"], "aws:iam/rolePolicy:RolePolicy")
    document = json.loads(policy["inputs"]["policy"])
    document["Statement"][0]["Action"] = "s3:*"
    document["Statement"][0]["Resource"] = "*"
    policy["inputs"]["policy"] = json.dumps(document)
    assert any(f.resource_name == policy["name"] for f in iam_documents.check(plan))


def _ingress_rule(plan: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in plan["resources"] if r["name"] == name)


def test_edge_alb_open_to_the_world_is_caught(real_plans: dict[str, dict[str, Any]]) -> None:
    plan = copy.deepcopy(real_plans["prod/edge"])
    rule = next(r for r in plan["resources"] if r["inputs"].get("prefixListId"))
    _set(rule, prefixListId=None, cidrIpv4="0.0.0.0/0")
    after = _violations(plan) - _violations(real_plans["prod/edge"])
    assert ("sg-no-world-ingress", rule["name"]) in after


def test_single_box_on_port_80_would_pass(real_plans: dict[str, dict[str, Any]]) -> None:
    """The fix proposed for the single box's world-open app port satisfies the rule."""
    plan = copy.deepcopy(real_plans["prod/single-box"])
    rule = _ingress_rule(plan, "security-app-from-internet")
    _set(rule, fromPort=80, toPort=80)
    assert ("sg-no-world-ingress", rule["name"]) not in _violations(plan)
