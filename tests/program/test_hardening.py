"""Prod hardening and dev cheapness, per stage: Multi-AZ, deletion protection, protect=True."""

from __future__ import annotations

import pytest

from infra.config import STAGES, load_stack_config
from tests.program.planq import ALB, BUCKET, EC2, RDS, REDIS, of_type, one

STATEFUL = (RDS, REDIS)


def stateful(plan) -> list[dict]:
    found = [
        r for t in STATEFUL for r in of_type(plan, t) if "replicateSourceDb" not in r["inputs"]
    ]
    found += [b for b in of_type(plan, BUCKET) if b["name"] == "media-bucket"]
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_prod_stateful_resources_are_protected(plans, stage: str) -> None:
    plan = plans[("prod", stage)]
    for resource in stateful(plan):
        assert resource["options"]["protect"] is True, resource["urn"]
    for rds in of_type(plan, RDS):
        if "replicateSourceDb" not in rds["inputs"]:
            assert rds["inputs"]["multiAz"] is True
            assert rds["inputs"]["deletionProtection"] is True
            assert rds["inputs"]["skipFinalSnapshot"] is False
            assert rds["inputs"]["finalSnapshotIdentifier"]
            assert rds["inputs"]["backupRetentionPeriod"] >= 7
    for group in of_type(plan, REDIS):
        assert group["inputs"]["automaticFailoverEnabled"] is True
        assert group["inputs"]["multiAzEnabled"] is True
        assert group["inputs"]["numCacheClusters"] >= 2
    for alb in of_type(plan, ALB):
        assert alb["inputs"]["enableDeletionProtection"] is True


def test_prod_single_box_holding_postgres_is_protected(plans) -> None:
    box = one(plans[("prod", "single-box")], EC2)
    assert box["options"]["protect"] is True
    assert box["inputs"]["disableApiTermination"] is True
    assert box["inputs"]["rootBlockDevice"]["deleteOnTermination"] is False
    # The update that moves PostgreSQL to RDS must not lift protect: Pulumi allows a
    # replace in the same update that drops it, while the volume still holds the data.
    later = one(plans[("prod", "split-db")], EC2)
    assert later["options"]["protect"] is True
    assert later["inputs"]["disableApiTermination"] is True
    assert later["urn"] == box["urn"]


@pytest.mark.parametrize("stage", STAGES)
def test_dev_is_cheap_and_destroyable(plans, stage: str) -> None:
    plan = plans[("dev", stage)]
    assert not any(r["options"]["protect"] for r in plan["resources"])
    for rds in of_type(plan, RDS):
        assert rds["inputs"].get("multiAz") in (False, None)
        assert rds["inputs"].get("deletionProtection") in (False, None)
        assert rds["inputs"]["skipFinalSnapshot"] is True
    for group in of_type(plan, REDIS):
        assert group["inputs"]["automaticFailoverEnabled"] is False
    nat = of_type(plan, "aws:ec2/natGateway:NatGateway")
    assert len(nat) <= 1


def test_scale_5x_prod_is_multi_az_everywhere(plans) -> None:
    plan = plans[("prod", "scale-5x")]
    cfg = load_stack_config("prod", "scale-5x")
    subnets_by_id = {
        s["id"]: s["inputs"]["availabilityZoneId"] for s in of_type(plan, "aws:ec2/subnet:Subnet")
    }
    for asg in of_type(plan, "aws:autoscaling/group:Group"):
        zones = {subnets_by_id[s] for s in asg["inputs"]["vpcZoneIdentifiers"]}
        assert len(zones) == cfg.env.az_count >= 2
        assert asg["inputs"]["minSize"] >= 2
    alb = one(plan, ALB)
    assert len({subnets_by_id[s] for s in alb["inputs"]["subnets"]}) >= 2
    assert len(of_type(plan, "aws:ec2/natGateway:NatGateway")) == cfg.env.az_count
