"""The prod security posture on the real plans (issue 22, finding 8): the artifacts bucket
under the stack's own KMS key, the role decrypting with that key only, replicas with
deletion protection and backups, and a move that drops a protected replica asking first."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from infra.review.diff.from_plans import diff_plans
from policies.offline import analyze, enforcement_levels, load_config

Plan = dict[str, Any]
KMS_KEY = "aws:kms/key:Key"
RDS = "aws:rds/instance:Instance"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


def _named(plan: Plan, name: str) -> dict[str, Any]:
    return next(r for r in plan["resources"] if r["name"] == name)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_artifacts_bucket_uses_the_stacks_own_key(stack_plans: dict, env: str) -> None:
    plan = stack_plans[(env, "load-balanced")]
    key = _named(plan, "release-artifacts-key")
    assert key["type"] == KMS_KEY and key["inputs"]["enableKeyRotation"] is True
    key_arn = key["outputs"]["arn"]
    rule = _named(plan, "release-artifacts-encryption")["inputs"]["rules"][0]
    default = rule["applyServerSideEncryptionByDefault"]
    assert default == {"kmsMasterKeyId": key_arn, "sseAlgorithm": "aws:kms"}
    assert _named(plan, "release-artifact")["inputs"]["kmsKeyId"] == key_arn
    versioning = _named(plan, "release-artifacts-versioning")["inputs"]
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    policy = json.loads(_named(plan, "release-instance-policy")["inputs"]["policy"])
    kms = [s for s in policy["Statement"] if any(a.startswith("kms:") for a in s["Action"])]
    assert kms == [
        {
            "Sid": "DecryptRelease",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [key_arn],
        }
    ]


@pytest.mark.parametrize("stage", ["read-replicas", "edge", "scale-5x"])
def test_prod_replicas_are_protected_and_backed_up(stack_plans: dict, stage: str) -> None:
    plan = stack_plans[("prod", stage)]
    replicas = [r for r in plan["resources"] if r["type"] == RDS and "replica" in r["name"]]
    assert len(replicas) == 2
    for replica in replicas:
        assert replica["inputs"]["deletionProtection"] is True
        assert replica["inputs"]["backupRetentionPeriod"] == 14  # the profile's days


def test_a_replica_without_protection_fails_prod(stack_plans: dict) -> None:
    plan = copy.deepcopy(stack_plans[("prod", "read-replicas")])
    replica = _named(plan, "database-replica-1")
    replica["inputs"]["deletionProtection"] = False
    replica["inputs"]["backupRetentionPeriod"] = 0
    levels = enforcement_levels(load_config("prod"))
    found = [(v.policy, v.resource_name, v.mandatory) for v in analyze(plan["resources"], levels)]
    assert found.count(("prod-rds-resilience", "database-replica-1", True)) == 2


def test_an_artifacts_bucket_on_the_aws_managed_key_fails_prod(stack_plans: dict) -> None:
    plan = copy.deepcopy(stack_plans[("prod", "load-balanced")])
    sse = _named(plan, "release-artifacts-encryption")
    for side in ("inputs", "outputs"):  # a stack rule reads the outputs, which echo inputs
        del sse[side]["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
    levels = enforcement_levels(load_config("prod"))
    found = {(v.policy, v.resource_name) for v in analyze(plan["resources"], levels)}
    assert ("s3-kms-cmk", "release-artifacts") in found


@pytest.mark.parametrize(("env", "blocking"), [("prod", 2), ("dev", 0)])
def test_dropping_replicas_asks_in_prod(stack_plans: dict, env: str, blocking: int) -> None:
    old, new = stack_plans[(env, "read-replicas")], stack_plans[(env, "cached")]
    d = diff_plans(old, new)
    deletes = [e for e in d.entries if e.action == "delete" and e.type == RDS]
    assert len(deletes) == (2 if env == "prod" else 1)
    assert len(d.blocking) == blocking
    allowed = diff_plans(old, new, allow_urns=[e.urn for e in deletes])
    assert allowed.blocking == []
