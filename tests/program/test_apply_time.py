"""Issue 11's ten apply-time faults, each checked over all 14 plans so it cannot come back.

What AWS does while a change is applied is invisible to the mocks; these tests pin the
inputs that decide it (see docs/infra.md, "Apply-time behaviour").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.program.planq import ALB, ASG, EC2, LT, RDS, REDIS, STACKS, of_type, one, user_data

REPO = Path(__file__).resolve().parents[2]
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
RANDOM_ID = "random:index/randomId:RandomId"
BUCKET = "aws:s3/bucket:Bucket"
_KEEPALIVE = re.compile(r"^\s*MOVIES_HTTP_KEEPALIVE_S=(\d+)\s*$", re.M)


def profile(env: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "stacks" / "env" / f"{env}.yaml").read_text())


def _stack_ids(stacks: list[tuple[str, str]]) -> list[str]:
    return [f"{env}/{stage}" for env, stage in stacks]


ALL = pytest.mark.parametrize(("env", "stage"), STACKS, ids=_stack_ids(STACKS))


# 1. Rollouts launch before they terminate ----------------------------------------------


@ALL
def test_every_instance_refresh_launches_before_it_terminates(plans, env, stage) -> None:
    for group in of_type(plans[(env, stage)], ASG):
        prefs = group["inputs"]["instanceRefresh"]["preferences"]
        assert prefs["minHealthyPercentage"] == 100, group["name"]
        assert 100 < prefs["maxHealthyPercentage"] <= 200, group["name"]


# 2. The AMI is pinned in the environment profile ---------------------------------------


@ALL
def test_every_image_is_the_pinned_ami_of_its_architecture(plans, env, stage) -> None:
    from infra.program.components.instance import architecture

    pins = profile(env)["ami_ids"]
    plan = plans[(env, stage)]
    images = [(r["inputs"]["imageId"], r["inputs"]["instanceType"]) for r in of_type(plan, LT)]
    images += [(r["inputs"]["ami"], r["inputs"]["instanceType"]) for r in of_type(plan, EC2)]
    assert images
    for image, instance_type in images:
        assert image == pins[architecture(instance_type)], (instance_type, image)


# 3. The service's keep-alive outlives the ALB's idle timeout -------------------------------


def keepalive_faults(plan: dict[str, Any]) -> list[str]:
    """Each instance whose keep-alive is not longer than the idle timeout in front of it."""
    keepalives = []
    for text in user_data(plan):
        found = _KEEPALIVE.findall(text)
        if len(found) != 1:
            return [f"user data renders MOVIES_HTTP_KEEPALIVE_S {len(found)} times"]
        keepalives.append(int(found[0]))
    faults = []
    for alb in of_type(plan, ALB):
        idle = int(alb["inputs"]["idleTimeout"])
        faults += [f"keep-alive {k} s <= idle timeout {idle} s" for k in keepalives if k <= idle]
    return faults


@ALL
def test_keepalive_is_longer_than_the_alb_idle_timeout(plans, env, stage) -> None:
    plan = plans[(env, stage)]
    assert keepalive_faults(plan) == []
    idle = profile(env)["alb_idle_timeout_s"]
    for alb in of_type(plan, ALB):
        assert alb["inputs"]["idleTimeout"] == idle


def test_the_keepalive_check_catches_an_idle_timeout_at_or_above_the_keepalive(plans) -> None:
    import copy

    plan = copy.deepcopy(plans[("prod", "scale-5x")])
    keepalive = int(_KEEPALIVE.findall(user_data(plan)[0])[0])
    one(plan, ALB)["inputs"]["idleTimeout"] = keepalive
    assert keepalive_faults(plan) == [f"keep-alive {keepalive} s <= idle timeout {keepalive} s"] * 2


# 4. Final snapshots: none of a dev cache, unique names where one is taken ------------------


@ALL
def test_final_snapshots_are_unique_or_not_taken(plans, env, stage) -> None:
    plan = plans[(env, stage)]
    keep = not profile(env)["skip_final_snapshot"]
    suffixes = {r["outputs"]["hex"] for r in of_type(plan, RANDOM_ID)}
    for res in [r for r in of_type(plan, RDS) if not r["inputs"].get("replicateSourceDb")] + (
        of_type(plan, REDIS)
    ):
        name = res["inputs"].get("finalSnapshotIdentifier")
        if not keep:
            assert name is None, res["name"]
            continue
        # <identifier>-final-<random hex>: a second destroy finds no snapshot of that name.
        base = res["inputs"].get("identifier") or res["inputs"]["replicationGroupId"]
        match = re.fullmatch(re.escape(base) + r"-final-([0-9a-f]{8})", name or "")
        assert match and match.group(1) in suffixes, (res["name"], name)


# 5. When resizes apply is an explicit profile setting ---------------------------------------


@ALL
def test_resizes_apply_as_the_profile_says(plans, env, stage) -> None:
    setting = profile(env)["apply_changes"]
    assert setting in ("immediately", "maintenance-window")
    for res in of_type(plans[(env, stage)], RDS) + of_type(plans[(env, stage)], REDIS):
        assert res["inputs"]["applyImmediately"] is (setting == "immediately"), res["name"]


# 7. Zones are chosen by zone ID among those offering every instance type ----------------


@ALL
def test_subnets_name_zone_ids_that_offer_every_instance_type(plans, env, stage) -> None:
    from moto.utilities.utils import load_resource

    plan = plans[(env, stage)]
    region = profile(env)["region"]
    rows = load_resource(
        f"ec2/resources/instance_type_offerings/availability-zone-id/{region}.json"
    )
    types = {r["inputs"]["instanceType"] for r in of_type(plan, LT) + of_type(plan, EC2)}
    zones = set()
    for subnet in of_type(plan, SUBNET):
        assert "availabilityZone" not in subnet["inputs"], subnet["name"]
        zones.add(subnet["inputs"]["availabilityZoneId"])
    assert len(zones) == profile(env)["az_count"]
    for zone in zones:
        offered = {r["InstanceType"] for r in rows if r["Location"] == zone}
        assert types <= offered, (zone, types - offered)


# 8. Instances boot after the network they need, with a grace period from the boot time ------


@ALL
def test_instances_depend_on_their_routes_and_endpoints(plans, env, stage) -> None:
    from infra.program.components.instance import BOOT_SECONDS, HEALTHY_AFTER_SECONDS

    plan = plans[(env, stage)]
    urns = {r["urn"]: r for r in plan["resources"]}
    for res in of_type(plan, ASG) + of_type(plan, EC2):
        deps = [urns[u] for u in res["dependencies"]]
        assert any(d["type"] == ENDPOINT for d in deps), res["name"]
        routes = [d for d in deps if d["type"] == ROUTE]
        if res["type"] == ASG:
            assert routes and all(d["inputs"].get("natGatewayId") for d in routes), res["name"]
            assert {d["urn"] for d in of_type(plan, ENDPOINT)} <= set(res["dependencies"])
            grace = res["inputs"]["healthCheckGracePeriod"]
            assert grace == BOOT_SECONDS + HEALTHY_AFTER_SECONDS
            assert int(res["inputs"]["instanceRefresh"]["preferences"]["instanceWarmup"]) >= grace
        else:
            assert routes and all(d["inputs"].get("gatewayId") for d in routes), res["name"]


# 9. The release artifacts bucket is protected where stateful resources are ------------------


@ALL
def test_artifacts_bucket_is_protected_in_prod(plans, env, stage) -> None:
    bucket = one(plans[(env, stage)], BUCKET, "release-artifacts")
    assert bucket["options"]["protect"] is profile(env)["protect"]


# 10. The edge runbook moves DNS to the distribution before the ALB closes ------------------


def test_edge_runbook_moves_dns_before_the_alb_closes_to_the_internet() -> None:
    text = (REPO / "docs" / "infra.md").read_text()
    section = text.split("### Stage 5 → 6", 1)[1].split("\n### ", 1)[0]
    dns = section.index("DNS")
    up = section.index("pulumi up")
    assert dns < up, "the runbook must move DNS to the distribution before the up"


def test_healthy_after_is_the_target_groups_health_check(plans) -> None:
    from infra.program.components.instance import HEALTHY_AFTER_SECONDS

    groups = of_type(plans[("prod", "scale-5x")], "aws:lb/targetGroup:TargetGroup")
    assert groups
    for group in groups:
        check = group["inputs"]["healthCheck"]
        assert check["healthyThreshold"] * check["interval"] == HEALTHY_AFTER_SECONDS


def test_an_ami_bump_in_the_profile_is_a_refresh_of_every_fleet(plans) -> None:
    import copy

    from infra.review import diff, impacts

    old = plans[("prod", "scale-5x")]
    new = copy.deepcopy(old)
    for template in of_type(new, LT):
        template["inputs"]["imageId"] = "ami-0123456789abcdef0"
    d = diff.diff_plans(old, new)
    kinds = {e.name: e.impact.impact for e in d.entries}
    assert kinds == {
        "web-lt": impacts.IN_PLACE,
        "search-lt": impacts.IN_PLACE,
        "web-asg": impacts.ROLLING,
        "search-asg": impacts.ROLLING,
    }
    assert d.move_summary().line().startswith("refreshes 2 fleet(s)")
