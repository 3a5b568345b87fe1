"""infra.review.impacts on crafted inputs: each impact, the refresh estimate, the summary."""

from __future__ import annotations

import pytest

from infra import catalog
from infra.review import impacts as im

RDS = "aws:rds/instance:Instance"
EC = "aws:elasticache/replicationGroup:ReplicationGroup"
ASG = "aws:autoscaling/group:Group"
EC2 = "aws:ec2/instance:Instance"


def _db(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "identifier": "movies-prod-db",
        "engine": "postgres",
        "instanceClass": "db.r7g.large",
        "multiAz": True,
        "applyImmediately": True,
        "allocatedStorage": 100,
    }
    base.update(over)
    return base


def _asg(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "minSize": 2,
        "maxSize": 6,
        "desiredCapacity": 2,
        "defaultInstanceWarmup": 120,
        "healthCheckGracePeriod": 300,
        "launchTemplate": {"id": "lt-1", "version": "1"},
        "instanceRefresh": {
            "strategy": "Rolling",
            "preferences": {"minHealthyPercentage": 100, "maxHealthyPercentage": 200},
        },
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("multi_az", "apply_now", "expected"),
    [(True, True, im.FAILOVER), (False, True, im.REBOOT), (True, False, im.DEFERRED)],
)
def test_rds_class_change_is_failover_reboot_or_deferred(
    multi_az: bool, apply_now: bool, expected: str
) -> None:
    old = _db(multiAz=multi_az, applyImmediately=apply_now)
    new = _db(multiAz=multi_az, applyImmediately=apply_now, instanceClass="db.r7g.xlarge")

    got = im.classify(RDS, old, new)

    assert got.impact == expected
    assert got.reason.startswith("instanceClass: ")
    assert got.source.startswith("https://docs.aws.amazon.com/AmazonRDS/")
    assert (got.interruption_s == (60, 120)) is (expected == im.FAILOVER)


def test_deferred_says_what_happens_in_the_window_and_that_previews_repeat_it() -> None:
    got = im.classify(
        RDS, _db(applyImmediately=False), _db(applyImmediately=False, instanceClass="db.r7g.xlarge")
    )
    assert "failover then" in got.reason and "every preview" in got.reason


def test_profile_decides_when_the_inputs_do_not_say() -> None:
    old = {"identifier": "x", "instanceClass": "db.t4g.small"}
    new = {"identifier": "x", "instanceClass": "db.t4g.medium"}
    now = im.ApplyProfile(apply_immediately=True, multi_az=False)
    window = im.ApplyProfile(apply_immediately=False, multi_az=False)

    assert im.classify(RDS, old, new, profile=now).impact == im.REBOOT
    assert im.classify(RDS, old, new, profile=window).impact == im.DEFERRED
    # AWS's own default for ApplyImmediately is false.
    assert im.classify(RDS, old, new).impact == im.DEFERRED


def test_storage_growth_is_in_place_when_applied_now() -> None:
    got = im.classify(RDS, _db(), _db(allocatedStorage=200, maxAllocatedStorage=1000))
    assert got.impact == im.IN_PLACE
    assert {f.path for f in got.findings} == {"allocatedStorage", "maxAllocatedStorage"}


def test_the_most_severe_change_names_the_impact() -> None:
    got = im.classify(RDS, _db(), _db(allocatedStorage=200, instanceClass="db.r7g.xlarge"))
    assert got.impact == im.FAILOVER
    assert [f.impact for f in got.findings] == [im.IN_PLACE, im.FAILOVER]


def test_replace_trigger_on_data_is_data_loss_and_on_a_replica_is_a_plain_replace() -> None:
    # storageEncrypted is ForceNew (rds/instance.go); identifier no longer is (below).
    primary = im.classify(RDS, _db(), _db(storageEncrypted=True))
    replica_old = {"identifier": "r-1", "replicateSourceDb": "movies-prod-db"}
    replica = im.classify(RDS, replica_old, {**replica_old, "storageEncrypted": True})

    assert primary.impact == im.REPLACE_DATA_LOSS
    assert "rds/instance.go" in primary.source
    assert replica.impact == im.REPLACE


def test_stateless_force_new_is_a_replace() -> None:
    got = im.classify("aws:lb/targetGroup:TargetGroup", {"port": 8000}, {"port": 8080})
    assert got.impact == im.REPLACE and "target_group.go" in got.source


@pytest.mark.parametrize(("apply_now", "expected"), [(True, im.FAILOVER), (False, im.DEFERRED)])
def test_redis_node_type_scales_online_or_waits(apply_now: bool, expected: str) -> None:
    old = {"nodeType": "cache.r7g.large", "applyImmediately": apply_now, "numCacheClusters": 2}
    new = {**old, "nodeType": "cache.r7g.xlarge", "numCacheClusters": 3}

    got = im.classify(EC, old, new)

    assert got.impact == expected
    by_path = {f.path: f.impact for f in got.findings}
    assert by_path["numCacheClusters"] == im.IN_PLACE


def test_ignored_input_is_reported_ignored() -> None:
    got = im.classify(ASG, _asg(), _asg(desiredCapacity=6), ignore_changes=["desiredCapacity"])
    assert got.impact == im.IGNORED


def test_ignored_running_count_rises_only_to_the_new_minimum() -> None:
    old, new = _asg(desiredCapacity=2), _asg(minSize=4, maxSize=16, desiredCapacity=6)

    assert im.running_count(old, new, ["desiredCapacity"]) == 4
    assert im.running_count(old, new, []) == 6
    assert im.running_count(_asg(desiredCapacity=5), new, ["desiredCapacity"]) == 5


def test_launch_template_change_on_the_group_is_a_rolling_refresh() -> None:
    old = _asg()
    new = _asg(launchTemplate={"id": "lt-1", "version": "2"})

    got = im.classify(ASG, old, new)

    assert got.impact == im.ROLLING
    assert "autoscaling_group.html.markdown" in got.source


def test_refresh_estimate_launch_before_terminate() -> None:
    r = im.refresh_estimate(_asg(), 4)
    assert (r.min_healthy, r.max_healthy, r.warmup_s, r.batches) == (100, 200, 120, 1)
    assert r.full_capacity and r.duration_s == 120

    half = _asg(
        instanceRefresh={"preferences": {"minHealthyPercentage": 100, "maxHealthyPercentage": 150}}
    )
    assert im.refresh_estimate(half, 6).batches == 2  # 3 extra instances per batch
    assert im.refresh_estimate(half, 1).batches == 1  # at least one moves


def test_refresh_estimate_uses_aws_defaults_when_unset() -> None:
    bare = {"healthCheckGracePeriod": 180}
    r = im.refresh_estimate(bare, 2)
    # 90% min, 100% max: one instance below desired at a time, i.e. terminate first.
    assert (r.min_healthy, r.max_healthy, r.warmup_s) == (90, 100, 180)
    assert not r.full_capacity
    assert "terminate before launch" in r.describe()


def test_refresh_impact_carries_the_estimate_in_json() -> None:
    got = im.refresh_impact(_asg(), 2, "launch template web-lt changes (imageId)")
    data = got.as_json()
    assert data["impact"] == im.ROLLING
    assert data["refresh"]["estimatedSeconds"] == 120
    assert data["reason"].startswith("launch template web-lt changes (imageId): replaces 2")


def test_single_box_ami_is_ignored_and_user_data_stops_and_starts_it() -> None:
    old = {"ami": "ami-1", "userData": "a", "instanceType": "t4g.medium"}
    assert im.classify(EC2, old, {**old, "ami": "ami-2"}, ignore_changes=["ami"]).impact == (
        im.IGNORED
    )
    got = im.classify(EC2, old, {**old, "userData": "b"}, holds_data=False)
    assert got.impact == im.REBOOT and "ec2_instance.go" in got.source
    assert got.restarts == 1


# --- the corrected rows (issue 21, "Why" item 4) -----------------------------------------


def test_each_stop_requiring_attribute_costs_its_own_stop_and_start() -> None:
    # ec2_instance.go resourceInstanceUpdate: one modifyInstanceAttributeWithStopStart per
    # changed instance_type / user_data / user_data_base64.
    old = {"ami": "ami-1", "userData": "a", "instanceType": "t4g.medium", "monitoring": True}
    both = im.classify(
        EC2, old, {**old, "userData": "b", "instanceType": "t4g.small"}, holds_data=False
    )
    assert both.impact == im.REBOOT and both.restarts == 2
    assert "2 stop/start cycle(s)" in both.reason and "10 min" in both.reason
    assert both.as_json()["restarts"] == 2
    # An attribute changed without a stop (monitoring) adds no restart; an ignored one none.
    one = im.classify(
        EC2,
        old,
        {**old, "instanceType": "t4g.small", "monitoring": False},
        holds_data=False,
    )
    assert one.restarts == 1
    ignored = im.classify(
        EC2,
        old,
        {**old, "userData": "b", "instanceType": "t4g.small"},
        ignore_changes=["userData"],
        holds_data=False,
    )
    assert ignored.restarts == 1
    line = im.summarize([(EC2, both)]).line()
    assert line == (
        "restarts 1 EC2 instance(s) 2 time(s) (a stop and start each, down until it has "
        "booted again), loses no data"
    )


@pytest.mark.parametrize(("apply_now", "expected"), [(True, im.REBOOT), (False, im.DEFERRED)])
def test_an_rds_rename_is_in_place_reboots_and_warns_of_the_new_endpoint(
    apply_now: bool, expected: str
) -> None:
    # Provider PR #32687: identifier is no longer ForceNew; ModifyDBInstance
    # NewDBInstanceIdentifier reboots the instance (now or in the window), Multi-AZ or not.
    old = _db(applyImmediately=apply_now)
    got = im.classify(RDS, old, {**old, "identifier": "movies-prod-db2"})

    assert got.impact == expected
    assert got.impact not in (im.REPLACE, im.REPLACE_DATA_LOSS, im.FAILOVER)
    assert "API_ModifyDBInstance" in got.source
    assert len(got.warnings) == 1 and "endpoint changes" in got.warnings[0]
    assert "identifier" not in catalog.triggers_for(RDS, old)
    prefix = im.classify(RDS, old, {**old, "identifierPrefix": "movies-"})
    assert prefix.impact == expected


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("redis", "valkey", im.FAILOVER),  # in place (with its nodeType change below)
        ("valkey", "redis", im.REPLACE_DATA_LOSS),
    ],
)
def test_a_cache_engine_change_replaces_only_when_it_is_not_redis_to_valkey(
    before: str, after: str, expected: str
) -> None:
    old = {"engine": before, "nodeType": "cache.t4g.small", "applyImmediately": True}
    got = im.classify(EC, old, {**old, "engine": after, "nodeType": "cache.t4g.medium"})
    assert got.impact == expected
    by_path = {f.path: f.impact for f in got.findings}
    if before == "redis":
        assert by_path["engine"] == im.IN_PLACE


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [("7.0", "7.1", im.FAILOVER), ("7.1", "6.2", im.REPLACE_DATA_LOSS), ("7.x", "6.2", None)],
)
def test_a_cache_engine_version_downgrade_replaces(
    before: str, after: str, expected: str | None
) -> None:
    old = {"engine": "redis", "engineVersion": before, "applyImmediately": True}
    got = im.classify(EC, old, {**old, "engineVersion": after})
    # "7.x" needs engine_version_actual to order, which a plan lacks: not called a downgrade.
    assert got.impact == (expected or im.FAILOVER)


def test_a_redis_node_type_change_says_how_long_pulumi_up_waits() -> None:
    old = {"nodeType": "cache.r7g.large", "applyImmediately": True}
    got = im.classify(EC, old, {**old, "nodeType": "cache.r7g.xlarge"})
    assert got.waits_s == 40 * 60 and "40 min" in got.reason
    line = im.summarize([(EC, got)]).line()
    assert "seconds" not in line
    assert (
        "fails over 1 Redis group(s) (online; pulumi up waits until available, up to 40 min)"
        in (line)
    )
    deferred = im.classify(
        EC, {**old, "applyImmediately": False}, {**old, "applyImmediately": False, "nodeType": "x"}
    )
    assert deferred.waits_s is None


def test_class_and_storage_in_one_modification_warn_of_the_six_hour_rule() -> None:
    both = im.classify(RDS, _db(), _db(instanceClass="db.r7g.xlarge", allocatedStorage=200))
    assert len(both.warnings) == 1
    assert "six hours" in both.warnings[0] and "class change fails with it" in both.warnings[0]
    assert not im.classify(RDS, _db(), _db(instanceClass="db.r7g.xlarge")).warnings
    assert not im.classify(RDS, _db(), _db(allocatedStorage=200)).warnings


def test_a_parameter_without_apply_method_is_sent_immediate() -> None:
    params = "aws:rds/parameterGroup:ParameterGroup"
    old = {"parameters": [{"name": "work_mem", "value": "4096"}]}
    new = {"parameters": [{"name": "work_mem", "value": "8192"}]}
    got = im.classify(params, old, new)
    assert got.impact == im.IN_PLACE
    assert "work_mem: no applyMethod" in got.reason and "fails if static" in got.reason
    said = {"parameters": [{"name": "work_mem", "value": "8192", "applyMethod": "immediate"}]}
    assert im.classify(params, old, said).reason.endswith("dynamic parameters apply at once")


def test_unknown_input_is_in_place_and_says_no_rule_names_it() -> None:
    got = im.classify("aws:sns/topic:Topic", {"displayName": "a"}, {"displayName": "b"})
    assert got.impact == im.IN_PLACE and "no rule names this input" in got.reason


def test_every_rule_and_trigger_names_a_source_page() -> None:
    for rule in im.RULES:
        assert rule.source.startswith("https://"), rule
    for paths, source in im.REPLACE_TRIGGERS.values():
        assert paths and source.startswith("https://github.com/hashicorp/terraform-provider-aws")


def test_summary_line_counts_each_kind() -> None:
    fleet = im.refresh_impact(_asg(), 4, "launch template changes")
    db_failover = im.classify(RDS, _db(), _db(instanceClass="db.r7g.xlarge"))
    replica_reboot = im.classify(
        RDS,
        {
            "identifier": "r",
            "replicateSourceDb": "p",
            "instanceClass": "a",
            "applyImmediately": True,
        },
        {
            "identifier": "r",
            "replicateSourceDb": "p",
            "instanceClass": "b",
            "applyImmediately": True,
        },
    )
    deferred = im.classify(
        EC,
        {"nodeType": "a", "applyImmediately": False},
        {"nodeType": "b", "applyImmediately": False},
    )

    line = im.summarize(
        [(ASG, fleet), (RDS, db_failover), (RDS, replica_reboot), (EC, deferred)]
    ).line()

    assert line == (
        "refreshes 1 fleet(s) (~2 min, full capacity), fails over 1 DB instance(s) "
        "(~1-2 min each), reboots 1 DB instance(s), defers 1 change(s) to the window, "
        "loses no data"
    )


def test_summary_of_nothing_and_of_data_loss() -> None:
    assert im.summarize([]).line() == "interrupts nothing, loses no data"
    loss = im.classify(RDS, _db(), _db(dbName="other"))
    assert im.summarize([(RDS, loss)]).line().endswith("LOSES DATA in 1 resource(s)")


def test_backups_switched_on_or_off_restart_the_instance_other_retentions_do_not() -> None:
    on = im.classify(RDS, _db(backupRetentionPeriod=0), _db(backupRetentionPeriod=7))
    longer = im.classify(RDS, _db(backupRetentionPeriod=7), _db(backupRetentionPeriod=14))
    assert on.impact == im.FAILOVER  # Multi-AZ
    assert longer.impact == im.IN_PLACE


def test_a_static_parameter_needs_a_reboot_a_dynamic_one_does_not() -> None:
    params = "aws:rds/parameterGroup:ParameterGroup"
    old = {"parameters": [{"name": "log_min_duration_statement", "value": "500"}]}
    dynamic = {"parameters": [{"name": "log_min_duration_statement", "value": "250"}]}
    static = {
        "parameters": [
            *old["parameters"],
            {"name": "shared_buffers", "value": "65536", "applyMethod": "pending-reboot"},
        ]
    }
    assert im.classify(params, old, dynamic).impact == im.IN_PLACE  # (sent immediate)
    got = im.classify(params, old, static)
    assert got.impact == im.REBOOT and "pending-reboot" in got.reason
