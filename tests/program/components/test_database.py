"""Database component under the mocks: primary hardening, replicas, reader endpoint, URNs."""

from __future__ import annotations

import dataclasses

import pulumi
import pytest

from infra.program.components.database import Database, DatabaseArgs, default_max_connections

INSTANCE = "aws:rds/instance:Instance"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
# What a replica inherits from its source and must therefore not declare.
INHERITED = (
    "engine",
    "engineVersion",
    "username",
    "password",
    "manageMasterUserPassword",
    "dbName",
    "storageEncrypted",
    "kmsKeyId",
    "dbSubnetGroupName",
)


def args(env: str = "dev", **overrides) -> DatabaseArgs:
    base = DatabaseArgs(
        project="movies",
        environment=env,
        vpc_id="vpc-0abc",
        subnet_ids=["subnet-data-a", "subnet-data-b"],
        security_group_ids=["sg-db"],
        engine_version="16",
        instance_class="db.t4g.small" if env == "dev" else "db.r7g.large",
        allocated_storage_gb=20 if env == "dev" else 100,
        max_allocated_storage_gb=50 if env == "dev" else 500,
        db_name="movies",
        multi_az=env == "prod",
        backup_retention_days=1 if env == "dev" else 14,
        deletion_protection=env == "prod",
        skip_final_snapshot=env == "dev",
        apply_immediately=env == "dev",
        tags={"project": "movies", "environment": env},
        protect=env == "prod",
    )
    return dataclasses.replace(base, **overrides)


def declare(db_args: DatabaseArgs) -> None:
    db = Database("db", db_args)
    pulumi.export("secret_arn", db.secret_arn)
    pulumi.export("reader", db.reader_endpoint)
    pulumi.export("replicas", db.replica_identifiers)
    pulumi.export("endpoint", db.endpoint)


def test_replicas_declared_by_source_with_instance_settings_only(runner):
    run = runner(lambda: declare(args(read_replicas=2, replica_instance_class="db.t4g.small")))
    primary = runner.one(run, INSTANCE, "db-primary")
    replicas = [r for r in run.by_type(INSTANCE) if r.name != "db-primary"]
    assert [r.name for r in replicas] == ["db-replica-1", "db-replica-2"]
    for replica in replicas:
        assert replica.inputs["replicateSourceDb"] == primary.outputs["identifier"]
        assert replica.inputs["instanceClass"] == "db.t4g.small"
        assert replica.inputs["publiclyAccessible"] is False
        declared = sorted(key for key in INHERITED if key in replica.inputs)
        assert declared == [], f"{replica.name} declares inherited settings {declared}"
        assert primary.urn in replica.dependencies
    assert run.exports["replicas"] == ["movies-dev-db-replica-1", "movies-dev-db-replica-2"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_primary_is_encrypted_private_managed_secret(runner, env):
    run = runner(lambda: declare(args(env)), env=env)
    primary = runner.one(run, INSTANCE, "db-primary").inputs
    assert primary["storageEncrypted"] is True
    assert primary["storageType"] == "gp3"
    assert primary["publiclyAccessible"] is False
    assert primary["manageMasterUserPassword"] is True
    assert "password" not in primary and "passwordWo" not in primary
    assert primary["engine"] == "postgres" and primary["engineVersion"] == "16"
    assert primary["identifier"] == f"movies-{env}-db"
    assert primary["dbSubnetGroupName"] == f"movies-{env}-db"
    assert primary["copyTagsToSnapshot"] is True
    assert primary["multiAz"] is (env == "prod")
    assert primary["deletionProtection"] is (env == "prod")
    assert primary["applyImmediately"] is (env == "dev")
    assert run.exports["secret_arn"].startswith(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-"
    )


def test_final_snapshot_unless_skip(runner):
    run = runner(lambda: declare(args("prod")), env="prod")
    prod = runner.one(run, INSTANCE, "db-primary")
    assert prod.inputs["skipFinalSnapshot"] is False
    suffix = runner.one(run, "random:index/randomId:RandomId")
    assert suffix.inputs["keepers"] == {"identifier": "movies-prod-db"}
    assert prod.inputs["finalSnapshotIdentifier"] == f"movies-prod-db-final-{suffix.outputs['hex']}"
    dev = runner.one(runner(lambda: declare(args("dev"))), INSTANCE, "db-primary")
    assert dev.inputs["skipFinalSnapshot"] is True
    assert "finalSnapshotIdentifier" not in dev.inputs


def test_parameter_group_family_matches_engine_and_forces_tls(runner):
    run = runner(lambda: declare(args(engine_version="16.4")))
    group = runner.one(run, "aws:rds/parameterGroup:ParameterGroup").inputs
    assert group["family"] == "postgres16"
    params = {p["name"]: p["value"] for p in group["parameters"]}
    assert params["rds.force_ssl"] == "1"
    assert params["log_min_duration_statement"] == "500"
    primary = runner.one(run, INSTANCE, "db-primary").inputs
    assert primary["parameterGroupName"] == group["name"]
    with pytest.raises(ValueError, match=r"engine_version: '9\.6'"):
        args(engine_version="9.6")


@pytest.mark.parametrize(("env", "protected"), [("prod", True), ("dev", False)])
def test_protect_on_stateful_resources(runner, env, protected):
    run = runner(lambda: declare(args(env)), env=env)
    assert runner.one(run, INSTANCE, "db-primary").options["protect"] is protected
    assert runner.one(run, "aws:rds/subnetGroup:SubnetGroup").options["protect"] is protected


def test_reader_endpoint_is_weighted_private_dns_over_replicas(runner):
    run = runner(lambda: declare(args(read_replicas=2, replica_instance_class="db.t4g.small")))
    zone = runner.one(run, "aws:route53/zone:Zone").inputs
    assert zone["name"] == "movies.internal"
    assert zone["vpcs"] == [{"vpcId": "vpc-0abc"}], "the zone must be private to the VPC"
    records = sorted(run.by_type("aws:route53/record:Record"), key=lambda r: r.name)
    replicas = {r.name: r for r in run.by_type(INSTANCE) if r.name != "db-primary"}
    assert len(records) == 2
    for index, record in enumerate(records, start=1):
        assert record.inputs["name"] == "db-reader.movies.internal"
        assert record.inputs["type"] == "CNAME"
        assert record.inputs["weightedRoutingPolicies"] == [{"weight": 1}]
        assert record.inputs["records"] == [replicas[f"db-replica-{index}"].outputs["address"]]
    assert len({r.inputs["setIdentifier"] for r in records}) == 2
    assert run.exports["reader"] == "db-reader.movies.internal"


def test_no_replicas_no_reader(runner):
    run = runner(lambda: declare(args()))
    assert run.by_type("aws:route53/zone:Zone") == []
    assert run.exports["reader"] is None
    assert len(run.by_type(INSTANCE)) == 1


def test_adding_replicas_keeps_primary_urn_and_identity(runner):
    before = runner.one(runner(lambda: declare(args("prod")), env="prod"), INSTANCE, "db-primary")
    after_run = runner(
        lambda: declare(args("prod", read_replicas=2, replica_instance_class="db.r7g.large")),
        env="prod",
    )
    after = runner.one(after_run, INSTANCE, "db-primary")
    assert after.urn == before.urn
    for key in ("identifier", "engine", "dbSubnetGroupName", "storageEncrypted", "username"):
        assert after.inputs[key] == before.inputs[key], key


def test_default_max_connections_follows_class_memory():
    assert default_max_connections("db.t4g.small") == 225
    assert default_max_connections("db.r7g.large") == 1802
    with pytest.raises(ValueError, match=r"db\.x9\.huge"):
        default_max_connections("db.x9.huge")


def test_exported_logs_go_to_groups_that_expire(runner):
    run = runner(lambda: declare(args(log_retention_days=7)))
    primary = runner.one(run, INSTANCE, "db-primary")
    groups = {g.inputs["name"]: g for g in run.by_type("aws:cloudwatch/logGroup:LogGroup")}
    assert sorted(groups) == [
        f"/aws/rds/instance/movies-dev-db/{kind}"
        for kind in sorted(primary.inputs["enabledCloudwatchLogsExports"])
    ]
    for group in groups.values():
        assert group.inputs["retentionInDays"] == 7
        assert group.urn in primary.dependencies


def test_database_declares_its_alarms_on_its_own_instances(runner, alarm_sink):
    def program() -> None:
        sink = alarm_sink()
        declare(args(read_replicas=2, replica_instance_class="db.t4g.small", alarms=sink))
        sink.close()

    run = runner(program)
    alarms = {a.inputs["name"].removeprefix("movies-dev-"): a.inputs for a in run.by_type(ALARM)}
    assert set(alarms) == {
        "db-primary-cpu",
        "db-free-storage",
        "db-connections",
        "db-replica-1-cpu",
        "db-replica-1-lag",
        "db-replica-2-cpu",
        "db-replica-2-lag",
    }
    primary = runner.one(run, INSTANCE, "db-primary").outputs["identifier"]
    for suffix in ("db-primary-cpu", "db-free-storage", "db-connections"):
        assert alarms[suffix]["dimensions"] == {"DBInstanceIdentifier": primary}
    for index in (1, 2):
        replica = runner.one(run, INSTANCE, f"db-replica-{index}").outputs["identifier"]
        for kind in ("cpu", "lag"):
            dimensions = alarms[f"db-replica-{index}-{kind}"]["dimensions"]
            assert dimensions == {"DBInstanceIdentifier": replica}
    # Sizes from the component's own args: 10% of 20 GiB, 80% of the class's connections.
    assert alarms["db-free-storage"]["threshold"] == pytest.approx(2 * 1024**3)
    assert alarms["db-connections"]["threshold"] == pytest.approx(
        0.8 * default_max_connections("db.t4g.small")
    )
    assert runner(lambda: declare(args(read_replicas=0))).by_type(ALARM) == []
