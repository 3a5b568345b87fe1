"""Each known pitfall of the design as a test that fails if it comes back (every stage, env)."""

from __future__ import annotations

import json
import re

import pytest

from infra.config import ENVIRONMENTS, STAGES
from infra.plans.build import dumps_plan
from infra.plans.mocks import RESOURCE_OUTPUTS, MockContext
from tests.program.planq import (
    ALB,
    ASG,
    BUCKET,
    CLOUDFRONT,
    EC2,
    INGRESS,
    LT,
    RDS,
    REDIS,
    SG,
    exports,
    of_type,
    one,
    user_data,
)

ALL = [(e, s) for e in ENVIRONMENTS for s in STAGES]
PASSWORD = "random:index/randomPassword:RandomPassword"


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_asg_uses_the_template_latest_version_not_dollar_latest(plans, env, stage) -> None:
    plan = plans[(env, stage)]
    for asg in of_type(plan, ASG):
        spec = asg["inputs"]["launchTemplate"]
        lt = next(t for t in of_type(plan, LT) if t["id"] == spec["id"])
        assert spec["version"] not in ("$Latest", "$Default")
        assert spec["version"] == str(lt["outputs"]["latestVersion"])
        assert asg["inputs"]["instanceRefresh"]["strategy"] == "Rolling"


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_imdsv2_required_everywhere(plans, env, stage) -> None:
    plan = plans[(env, stage)]
    hosts = of_type(plan, LT) + of_type(plan, EC2)
    assert hosts
    for host in hosts:
        meta = host["inputs"]["metadataOptions"]
        assert meta["httpTokens"] == "required"
        assert meta["httpPutResponseHopLimit"] == 1


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_volumes_are_encrypted_gp3_and_no_public_ip_in_asgs(plans, env, stage) -> None:
    plan = plans[(env, stage)]
    for lt in of_type(plan, LT):
        for mapping in lt["inputs"]["blockDeviceMappings"]:
            assert mapping["ebs"]["encrypted"] == "true"
            assert mapping["ebs"]["volumeType"] == "gp3"
        assert [n["associatePublicIpAddress"] for n in lt["inputs"]["networkInterfaces"]] == [
            "false"
        ]
    for box in of_type(plan, EC2):
        assert box["inputs"]["rootBlockDevice"]["encrypted"] is True
        assert box["inputs"]["rootBlockDevice"]["volumeType"] == "gp3"
        assert box["inputs"]["associatePublicIpAddress"] is False
        assert "keyName" not in box["inputs"], "SSM, not SSH"
    private = {
        s["id"]
        for s in of_type(plan, "aws:ec2/subnet:Subnet")
        if s["inputs"]["tags"]["tier"] == "private"
    }
    for asg in of_type(plan, ASG):
        assert set(asg["inputs"]["vpcZoneIdentifiers"]) <= private


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_replicas_declared_from_source_only(plans, env, stage) -> None:
    plan = plans[(env, stage)]
    replicas = [r for r in of_type(plan, RDS) if "replicateSourceDb" in r["inputs"]]
    for replica in replicas:
        for key in (
            "engine",
            "engineVersion",
            "username",
            "password",
            "dbName",
            "dbSubnetGroupName",
        ):
            assert key not in replica["inputs"], key
    if replicas:
        primary = one(plan, RDS, "database-primary")
        assert primary["inputs"]["backupRetentionPeriod"] >= 1


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_final_snapshot_unless_dev(plans, env, stage) -> None:
    for rds in of_type(plans[(env, stage)], RDS):
        if "replicateSourceDb" in rds["inputs"]:
            continue
        if env == "dev":
            assert rds["inputs"]["skipFinalSnapshot"] is True
        else:
            assert rds["inputs"]["skipFinalSnapshot"] is False
            assert rds["inputs"]["finalSnapshotIdentifier"].startswith("movies-prod-")


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_no_publicly_reachable_db_or_cache(plans, env, stage) -> None:
    plan = plans[(env, stage)]
    data_subnets = {
        s["id"]
        for s in of_type(plan, "aws:ec2/subnet:Subnet")
        if s["inputs"]["tags"]["tier"] == "data"
    }
    groups = {g["outputs"]["name"]: g for g in of_type(plan, "aws:rds/subnetGroup:SubnetGroup")}
    groups |= {
        g["outputs"]["name"]: g for g in of_type(plan, "aws:elasticache/subnetGroup:SubnetGroup")
    }
    for rds in of_type(plan, RDS):
        assert rds["inputs"]["publiclyAccessible"] is False
        if "dbSubnetGroupName" in rds["inputs"]:
            assert (
                set(groups[rds["inputs"]["dbSubnetGroupName"]]["inputs"]["subnetIds"])
                <= data_subnets
            )
    for cache in of_type(plan, REDIS):
        assert (
            set(groups[cache["inputs"]["subnetGroupName"]]["inputs"]["subnetIds"]) <= data_subnets
        )
        assert cache["inputs"]["transitEncryptionEnabled"] is True
        assert cache["inputs"]["atRestEncryptionEnabled"] is True
    # The data subnets' route table has no route at all (no internet, no NAT).
    data_rt = one(plan, "aws:ec2/routeTable:RouteTable", "network-data-rt")
    assert not [
        r
        for r in of_type(plan, "aws:ec2/route:Route")
        if r["inputs"]["routeTableId"] == data_rt["id"]
    ]
    sg_by_id = {g["id"]: g["name"] for g in of_type(plan, SG)}
    for rule in of_type(plan, INGRESS):
        if sg_by_id[rule["inputs"]["securityGroupId"]] in ("security-db", "security-redis"):
            assert rule["inputs"].get("cidrIpv4") is None


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stage", ["edge", "scale-5x"])
def test_cloudfront_reads_the_bucket_through_oac(plans, env, stage) -> None:
    plan = plans[(env, stage)]
    dist = one(plan, CLOUDFRONT)
    oac = one(plan, "aws:cloudfront/originAccessControl:OriginAccessControl")
    bucket = one(plan, BUCKET, "media-bucket")
    origins = {o["domainName"]: o for o in dist["inputs"]["origins"]}
    s3_origin = origins[bucket["outputs"]["bucketRegionalDomainName"]]
    assert s3_origin["originAccessControlId"] == oac["id"]
    assert "s3OriginConfig" not in s3_origin or not s3_origin["s3OriginConfig"].get(
        "originAccessIdentity"
    )
    assert "s3-website" not in json.dumps(dist["inputs"])
    assert one(plan, ALB)["outputs"]["dnsName"] in origins
    block = next(
        r
        for r in of_type(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        if r["inputs"]["bucket"] == bucket["id"]
    )
    assert all(
        block["inputs"][k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    policy = json.loads(
        next(
            r
            for r in of_type(plan, "aws:s3/bucketPolicy:BucketPolicy")
            if r["inputs"]["bucket"] == bucket["id"]
        )["inputs"]["policy"]
    )
    reads = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert reads and all(s["Principal"] == {"Service": "cloudfront.amazonaws.com"} for s in reads)
    assert all(
        s["Condition"]["StringEquals"]["AWS:SourceArn"] == dist["outputs"]["arn"] for s in reads
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stage", STAGES)
def test_alb_accepts_only_cloudfront_at_the_edge_stages(plans, env, stage) -> None:
    plan = plans[(env, stage)]
    albs = [g for g in of_type(plan, SG) if g["name"] == "security-alb"]
    if not albs:
        return
    rules = [r for r in of_type(plan, INGRESS) if r["inputs"]["securityGroupId"] == albs[0]["id"]]
    if stage in ("edge", "scale-5x"):
        assert [r["inputs"].get("prefixListId") for r in rules] == ["pl-3b927c52"]
        assert all("cidrIpv4" not in r["inputs"] for r in rules)
    else:
        assert [r["inputs"]["cidrIpv4"] for r in rules] == ["0.0.0.0/0"]


def _secret_values(plan) -> list[str]:
    """The plaintext the mocks generated for every secret-producing resource in the plan."""
    values = []
    for password in of_type(plan, PASSWORD):
        ctx = MockContext(plan["env"], "us-east-1", PASSWORD, password["name"])
        values.append(RESOURCE_OUTPUTS[PASSWORD](ctx, password["inputs"])["result"])
    return values


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_no_plaintext_secret_in_inputs_user_data_or_outputs(plans, env, stage) -> None:
    plan = plans[(env, stage)]
    text = dumps_plan(plan)
    secrets = _secret_values(plan)
    assert len(secrets) == len(of_type(plan, REDIS)), "one auth token per cache"
    for secret in secrets:
        assert len(secret) >= 16
        assert secret not in text
        for data in user_data(plan):
            assert secret not in data
    for password in of_type(plan, PASSWORD):
        assert password["outputs"]["result"] == "[secret]"
    for rds in of_type(plan, RDS):
        assert "password" not in rds["inputs"]
        if "replicateSourceDb" not in rds["inputs"]:
            assert rds["inputs"]["manageMasterUserPassword"] is True
    for cache in of_type(plan, REDIS):
        assert cache["inputs"]["authToken"] == "[secret]"
    out = exports(plan)
    assert not [k for k in out if re.search(r"password|token", k)]
    # And no literal credential assignment of any kind (values come from Secrets Manager).
    literal = re.compile(
        r"(?i)(password|passwd|auth_?token|secret)\s*[:=]\s*['\"]?[A-Za-z0-9]{12,}"
    )
    for data in user_data(plan):
        assert not literal.search(data)


@pytest.mark.parametrize(("env", "stage"), ALL)
def test_every_input_key_is_a_schema_name(plans, env, stage) -> None:
    """A snake_case key in a plain dict input is silently not translated: a typo the provider
    would reject or ignore (e.g. `query_string` for `query_strings`)."""
    free_form = {"tags", "tagsAll", "variables", "environment"}

    def walk(value, path):
        if isinstance(value, dict):
            for key, inner in value.items():
                if path and path[-1] in free_form:
                    continue
                assert "_" not in key or key.isupper(), f"{'.'.join([*path, key])}"
                walk(inner, [*path, key])
        elif isinstance(value, list):
            for inner in value:
                walk(inner, path)

    for resource in plans[(env, stage)]["resources"]:
        walk(resource["inputs"], [resource["name"]])
