"""Moving a stack from stage N to N+1 keeps every stateful resource: same URN, same
replace-triggering inputs (identifier, engine, subnet group, encryption, KMS key, ...)."""

from __future__ import annotations

import copy
import itertools

import pytest

from infra import catalog as stateful_types
from infra.config import ENVIRONMENTS, STAGES
from infra.review.diff import diff_plans
from tests.program.planq import BUCKET, EC2, LT, RDS, REDIS, of_type, one

# Inputs whose change makes the provider replace the resource (data loss for these types).
REPLACE_TRIGGERS = {
    RDS: (
        "identifier",
        "engine",
        "dbSubnetGroupName",
        "storageEncrypted",
        "kmsKeyId",
        "username",
        "dbName",
        "availabilityZone",
    ),
    REDIS: (
        "replicationGroupId",
        "engine",
        "subnetGroupName",
        "atRestEncryptionEnabled",
        "kmsKeyId",
        "port",
    ),
    BUCKET: ("bucket", "bucketPrefix"),
}
STATEFUL_NAMES = {RDS: "database-primary", REDIS: "cache-group", BUCKET: "media-bucket"}
PAIRS = [(env, a, b) for env in ENVIRONMENTS for a, b in itertools.pairwise(STAGES)]


def stateful(plan) -> dict[str, dict]:
    return {
        r["urn"]: r
        for type_token, name in STATEFUL_NAMES.items()
        for r in of_type(plan, type_token)
        if r["name"] == name
    }


@pytest.mark.parametrize(("env", "before", "after"), PAIRS)
def test_upgrade_keeps_stateful_resources(plans, env: str, before: str, after: str) -> None:
    old, new = stateful(plans[(env, before)]), stateful(plans[(env, after)])
    # Nothing stateful disappears, so nothing is deleted.
    assert set(old) <= set(new), set(old) - set(new)
    for urn, was in old.items():
        now = new[urn]
        assert now["parent"] == was["parent"]
        for key in REPLACE_TRIGGERS[was["type"]]:
            assert now["inputs"].get(key) == was["inputs"].get(key), (urn, key)
        assert now["options"]["protect"] == was["options"]["protect"]


def test_upgrade_chain_covers_every_stateful_resource(plans) -> None:
    """The pairwise check above must actually see the three stateful kinds."""
    for env in ENVIRONMENTS:
        final = stateful(plans[(env, STAGES[-1])])
        assert sorted(r["name"] for r in final.values()) == sorted(STATEFUL_NAMES.values())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_stateful_physical_names_depend_on_environment_only(plans, env: str) -> None:
    for stage in STAGES:
        for resource in stateful(plans[(env, stage)]).values():
            inputs = resource["inputs"]
            physical = (
                inputs.get("identifier") or inputs.get("replicationGroupId") or inputs["bucket"]
            )
            assert physical.startswith(f"movies-{env}-"), physical
            assert not any(s in physical for s in STAGES), physical
    for stage in STAGES:
        for resource in plans[(env, stage)]["resources"]:
            # No logical name carries the stack's stage. ("edge" is also the name of the
            # Edge component, which keeps that name at scale-5x.)
            if stage == "edge" and resource["name"].startswith("edge"):
                continue
            assert stage not in resource["name"], resource["urn"]


def test_dev_and_prod_never_share_a_physical_name(plans) -> None:
    dev = {r["inputs"].get("bucket") for r in of_type(plans[("dev", "scale-5x")], BUCKET)}
    prod = {r["inputs"].get("bucket") for r in of_type(plans[("prod", "scale-5x")], BUCKET)}
    assert not dev & prod


NETWORK_TRIGGERS = {
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZoneId", "vpcId"),
    "aws:ec2/securityGroup:SecurityGroup": ("description", "vpcId"),
}


@pytest.mark.parametrize(("env", "before", "after"), PAIRS)
def test_upgrade_keeps_the_network_and_groups(plans, env: str, before: str, after: str) -> None:
    """A replaced VPC, subnet or security group would take its dependents down with it."""
    old = {r["urn"]: r for r in plans[(env, before)]["resources"] if r["type"] in NETWORK_TRIGGERS}
    new = {r["urn"]: r for r in plans[(env, after)]["resources"] if r["type"] in NETWORK_TRIGGERS}
    assert set(old) <= set(new), set(old) - set(new)
    for urn, was in old.items():
        for key in NETWORK_TRIGGERS[was["type"]]:
            assert new[urn]["inputs"].get(key) == was["inputs"].get(key), (urn, key)


def shrink_warnings(old: dict, new: dict) -> list[str]:
    """infra.review.diff's WARN lines for sizes AWS cannot shrink (EBS root volume, RDS storage)."""
    return [w for e in diff_plans(old, new).entries for w in e.warnings if " shrinks " in w]


def template_volumes(plan) -> dict[str, int]:
    return {
        lt["urn"]: m["ebs"]["volumeSize"]
        for lt in of_type(plan, LT)
        for m in lt["inputs"]["blockDeviceMappings"]
    }


@pytest.mark.parametrize(("env", "before", "after"), PAIRS)
def test_upgrade_never_shrinks_a_volume(plans, env: str, before: str, after: str) -> None:
    old, new = plans[(env, before)], plans[(env, after)]
    assert shrink_warnings(old, new) == []
    # Launch templates too: a smaller root volume would make every refreshed instance
    # smaller than the one it replaces.
    was, now = template_volumes(old), template_volumes(new)
    assert all(now[urn] >= size for urn, size in was.items() if urn in now), (was, now)


def test_shrink_check_sees_the_box_and_the_database(plans) -> None:
    """Not vacuous: the WARN fires on the real resources of the stages that have them."""
    for env in ENVIRONMENTS:
        old = plans[(env, "single-box")]
        new = copy.deepcopy(plans[(env, "split-db")])
        box = one(new, EC2)
        box["inputs"]["rootBlockDevice"]["volumeSize"] -= 1
        assert [w for w in shrink_warnings(old, new) if "rootBlockDevice.volumeSize" in w]
        old, new = plans[(env, "cached")], copy.deepcopy(plans[(env, "read-replicas")])
        primary = one(new, RDS, "database-primary")
        primary["inputs"]["allocatedStorage"] -= 1
        assert [w for w in shrink_warnings(old, new) if "allocatedStorage" in w]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_move_to_rds_updates_the_box_in_place(plans, env: str) -> None:
    """single-box -> split-db: the box is updated (type, user data), never replaced, and
    in prod stays protect=True through that update."""
    old, new = plans[(env, "single-box")], plans[(env, "split-db")]
    box_old, box_new = one(old, EC2), one(new, EC2)
    assert box_new["urn"] == box_old["urn"]
    for key in stateful_types.triggers_for(EC2, box_new["inputs"]):
        head, _, leaf = key.partition(".")
        a, b = box_old["inputs"].get(head), box_new["inputs"].get(head)
        if leaf:
            a, b = (a or {}).get(leaf), (b or {}).get(leaf)
        assert a == b, key
    assert box_new["inputs"]["userDataReplaceOnChange"] is False
    assert box_new["options"]["protect"] is box_old["options"]["protect"] is (env == "prod")
    assert not diff_plans(old, new).of("replace")
