"""Cache component under the mocks: TLS, at-rest encryption, auth secret, failover, URNs."""

from __future__ import annotations

import dataclasses

import pulumi
import pytest

from infra.plans.mocks import RESOURCE_OUTPUTS, MockContext
from infra.program.components.cache import AUTH_TOKEN_SPECIALS, Cache, CacheArgs

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
PASSWORD = "random:index/randomPassword:RandomPassword"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def args(env: str = "dev", **overrides) -> CacheArgs:
    base = CacheArgs(
        project="movies",
        environment=env,
        subnet_ids=["subnet-data-a", "subnet-data-b"],
        security_group_ids=["sg-redis"],
        engine_version="7.1",
        node_type="cache.t4g.micro" if env == "dev" else "cache.r7g.large",
        node_count=1 if env == "dev" else 2,
        multi_az=env == "prod",
        snapshot_retention_days=0 if env == "dev" else 7,
        apply_immediately=env == "dev",
        final_snapshot=env == "prod",
        tags={"project": "movies"},
        protect=env == "prod",
    )
    return dataclasses.replace(base, **overrides)


def declare(cache_args: CacheArgs) -> None:
    cache = Cache("cache", cache_args)
    pulumi.export("primary", cache.primary_endpoint)
    pulumi.export("reader", cache.reader_endpoint)
    pulumi.export("auth_secret_arn", cache.auth_secret_arn)
    pulumi.export("group_id", cache.replication_group_id)


def token_value(run, resource) -> str:
    """The token the mocks generated for this run (what a real stack would hold)."""
    ctx = MockContext(run.stack, "us-east-1", PASSWORD, resource.name)
    return RESOURCE_OUTPUTS[PASSWORD](ctx, resource.inputs)["result"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_tls_at_rest_and_auth_token(runner, env):
    run = runner(lambda: declare(args(env)), env=env)
    group = runner.one(run, GROUP).inputs
    assert group["transitEncryptionEnabled"] is True
    assert group["transitEncryptionMode"] == "required"
    assert group["atRestEncryptionEnabled"] is True
    assert group["authToken"] == "[secret]"
    assert group["engine"] == "redis"
    assert group["replicationGroupId"] == f"movies-{env}-redis"
    assert group["subnetGroupName"] == f"movies-{env}-redis"
    assert group["securityGroupIds"] == ["sg-redis"]


def test_no_plaintext_token_in_any_input_output_or_export(runner):
    run = runner(lambda: declare(args("prod")), env="prod")
    password = runner.one(run, PASSWORD)
    token = token_value(run, password)
    assert len(token) == 32
    assert token not in runner.dump(run)
    secret_value = runner.one(run, "aws:secretsmanager/secretVersion:SecretVersion")
    assert secret_value.inputs["secretString"] == "[secret]"
    assert run.exports["auth_secret_arn"].startswith(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:movies-prod-redis-auth-"
    )
    assert "auth_secret_arn" not in run.secret_exports


def test_token_uses_only_characters_elasticache_accepts(runner):
    run = runner(lambda: declare(args()))
    password = runner.one(run, PASSWORD).inputs
    assert 16 <= password["length"] <= 128
    assert password["special"] is True
    assert set(password["overrideSpecial"]) <= set("!&#$^<>-")
    assert not set(password["overrideSpecial"]) & set('@"/ ')
    assert password["overrideSpecial"] == AUTH_TOKEN_SPECIALS


@pytest.mark.parametrize(
    ("multi_az", "nodes", "failover"), [(True, 2, True), (False, 2, False), (False, 1, False)]
)
def test_failover_follows_flag_and_nodes(runner, multi_az, nodes, failover):
    run = runner(lambda: declare(args(multi_az=multi_az, node_count=nodes)))
    group = runner.one(run, GROUP).inputs
    assert group["numCacheClusters"] == nodes
    assert group["automaticFailoverEnabled"] is failover
    assert group["multiAzEnabled"] is failover


def test_parameter_group_family_and_lru_policy(runner):
    run = runner(lambda: declare(args()))
    params = runner.one(run, "aws:elasticache/parameterGroup:ParameterGroup").inputs
    assert params["family"] == "redis7"
    assert {p["name"]: p["value"] for p in params["parameters"]} == {
        "maxmemory-policy": "allkeys-lru"
    }
    with pytest.raises(ValueError, match=r"redis '6\.2'"):
        args(engine_version="6.2")
    valkey = runner(lambda: declare(args(engine="valkey", engine_version="8.0")))
    assert (
        runner.one(valkey, "aws:elasticache/parameterGroup:ParameterGroup").inputs["family"]
        == "valkey8"
    )


@pytest.mark.parametrize(("env", "protected"), [("prod", True), ("dev", False)])
def test_protect_and_snapshots_in_prod(runner, env, protected):
    run = runner(lambda: declare(args(env)), env=env)
    group = runner.one(run, GROUP)
    assert group.options["protect"] is protected
    assert (
        runner.one(run, "aws:elasticache/subnetGroup:SubnetGroup").options["protect"] is protected
    )
    assert runner.one(run, "aws:secretsmanager/secret:Secret").options["protect"] is protected
    assert group.inputs["snapshotRetentionLimit"] == (7 if env == "prod" else 0)
    assert ("finalSnapshotIdentifier" in group.inputs) is protected
    if protected:
        # Unique per life of the stack: a second destroy finds no snapshot of that name.
        suffix = runner.one(run, "random:index/randomId:RandomId").outputs["hex"]
        assert group.inputs["finalSnapshotIdentifier"] == f"movies-prod-redis-final-{suffix}"


def test_no_final_snapshot_of_a_cache_that_keeps_daily_snapshots_unless_asked(runner):
    # dev keeps automatic snapshots a day; a destroy must still leave none behind.
    run = runner(lambda: declare(args("dev", snapshot_retention_days=1)), env="dev")
    assert "finalSnapshotIdentifier" not in runner.one(run, GROUP).inputs


def test_growing_the_group_keeps_urn_and_replacing_inputs(runner):
    small = runner.one(runner(lambda: declare(args("prod")), env="prod"), GROUP)
    big = runner.one(
        runner(
            lambda: declare(args("prod", node_count=3, node_type="cache.r7g.xlarge")), env="prod"
        ),
        GROUP,
    )
    assert big.urn == small.urn
    for key in (
        "replicationGroupId",
        "engine",
        "subnetGroupName",
        "atRestEncryptionEnabled",
        "port",
    ):
        assert big.inputs[key] == small.inputs[key], key
    assert big.inputs["numCacheClusters"] == 3


def test_endpoints_exposed(runner):
    run = runner(lambda: declare(args("prod")), env="prod")
    assert run.exports["primary"].startswith("master.movies-prod-redis.")
    assert run.exports["reader"].startswith("replica.movies-prod-redis.")
    assert run.exports["group_id"] == "movies-prod-redis"


def test_cache_declares_its_alarms_on_its_own_nodes(runner, alarm_sink):
    def program() -> None:
        sink = alarm_sink("prod")
        declare(args("prod", node_count=3, alarms=sink))
        sink.close()

    run = runner(program, env="prod")
    alarms = {a.inputs["name"].removeprefix("movies-prod-"): a.inputs for a in run.by_type(ALARM)}
    nodes = [f"movies-prod-redis-00{i}" for i in (1, 2, 3)]
    assert set(alarms) == {
        "redis-evictions",
        "redis-hit-rate",
        *(f"redis-node-{i}-engine-cpu" for i in (1, 2, 3)),
    }
    for i, node in enumerate(nodes, start=1):
        assert alarms[f"redis-node-{i}-engine-cpu"]["dimensions"] == {"CacheClusterId": node}
    read = {
        q["metric"]["dimensions"]["CacheClusterId"]
        for q in alarms["redis-hit-rate"]["metricQueries"]
        if "metric" in q
    }
    assert read == set(nodes)
    assert runner(lambda: declare(args("prod")), env="prod").by_type(ALARM) == []
