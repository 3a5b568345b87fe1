"""The diff's impact column and move summaries: crafted plans and every real N -> N+1 move."""

from __future__ import annotations

import copy
import itertools
import json

import pytest

from infra.config import ENVIRONMENTS, STAGES
from infra.review import diff, impacts
from tests.plans.fake import plan, res, write

LT = "aws:ec2/launchTemplate:LaunchTemplate"
ASG = "aws:autoscaling/group:Group"
RDS = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def _template(**inputs: object) -> dict:
    base = {"imageId": "ami-00000001", "instanceType": "c7g.large", "userData": "YQ=="}
    return res(LT, "web-lt", {**base, **inputs}, id_="lt-0001")


def _group(**inputs: object) -> dict:
    base = {
        "minSize": 2,
        "maxSize": 6,
        "desiredCapacity": 2,
        "launchTemplate": {"id": "lt-0001", "version": "1"},
        "defaultInstanceWarmup": 270,
        "instanceRefresh": {
            "strategy": "Rolling",
            "preferences": {
                "minHealthyPercentage": 100,
                "maxHealthyPercentage": 200,
                "instanceWarmup": "270",
            },
        },
    }
    return res(ASG, "web-asg", {**base, **inputs}, options={"ignoreChanges": ["desiredCapacity"]})


def _entry(d: diff.PlanDiff, name: str) -> diff.Entry:
    [found] = [e for e in d.entries if e.name == name]
    return found


def test_an_ami_bump_refreshes_the_group_that_uses_the_template() -> None:
    old = plan("edge", [_template(), _group()])
    new = plan("edge", [_template(imageId="ami-00000002"), _group()])

    d = diff.diff_plans(old, new)

    group = _entry(d, "web-asg")
    assert group.changes == []  # nothing of its own changes (the mocks keep version 1)
    assert group.impact is not None and group.impact.impact == impacts.ROLLING
    assert group.impact.reason.startswith("launch template web-lt changes (imageId): replaces 2")
    assert group.impact.refresh is not None and group.impact.refresh.full_capacity
    assert _entry(d, "web-lt").impact.impact == impacts.IN_PLACE
    assert diff.impact_line(d) == (
        "applying it refreshes 1 fleet(s) (~4.5 min, full capacity), loses no data"
    )


def test_a_group_with_an_untouched_template_does_not_refresh() -> None:
    old = plan("edge", [_template(), _group()])
    new = plan("edge", [_template(), _group(maxSize=8)])

    d = diff.diff_plans(old, new)

    assert _entry(d, "web-asg").impact.impact == impacts.IN_PLACE
    assert d.move_summary().refreshes == []


def test_ignored_desired_capacity_is_shown_as_what_aws_runs() -> None:
    old = plan("edge", [_template(), _group()])
    new = plan(
        "scale-5x",
        [_template(instanceType="c7g.xlarge"), _group(minSize=4, maxSize=16, desiredCapacity=6)],
    )

    d = diff.diff_plans(old, new)

    group = _entry(d, "web-asg")
    assert group.notes["desiredCapacity"] == (
        "ignored: AWS keeps the running count, raised to a new minimum: 4"
    )
    assert group.impact.refresh.instances == 4
    desired = next(f for f in group.impact.findings if f.path == "desiredCapacity")
    assert desired.impact == impacts.IGNORED
    markdown = diff.render_markdown(d)
    assert "desiredCapacity: 2 → 6 (ignored: AWS keeps the running count" in markdown


@pytest.mark.parametrize(
    ("apply_now", "db", "cache"),
    [(True, impacts.FAILOVER, impacts.FAILOVER), (False, impacts.DEFERRED, impacts.DEFERRED)],
)
def test_resizes_apply_now_or_in_the_window_as_the_inputs_say(
    apply_now: bool, db: str, cache: str
) -> None:
    def stack(db_class: str, node: str) -> dict:
        return plan(
            "edge",
            [
                res(
                    RDS,
                    "database-primary",
                    {
                        "identifier": "movies-prod-db",
                        "instanceClass": db_class,
                        "multiAz": True,
                        "applyImmediately": apply_now,
                    },
                ),
                res(
                    REDIS,
                    "cache-group",
                    {
                        "replicationGroupId": "movies-prod-redis",
                        "nodeType": node,
                        "applyImmediately": apply_now,
                        "automaticFailoverEnabled": True,
                    },
                ),
            ],
            env="prod",
        )

    d = diff.diff_plans(
        stack("db.r7g.large", "cache.r7g.large"), stack("db.r7g.xlarge", "cache.r7g.xlarge")
    )

    assert _entry(d, "database-primary").impact.impact == db
    assert _entry(d, "cache-group").impact.impact == cache
    if not apply_now:
        assert "defers 2 change(s) to the window" in diff.impact_line(d)


def test_json_gives_urn_type_impact_reason_source_per_change(tmp_path, capsys) -> None:
    old = write(tmp_path, "old", plan("edge", [_template(), _group()]))
    new = write(tmp_path, "new", plan("edge", [_template(imageId="ami-00000002"), _group()]))

    assert diff.main([old, new, "--format", "json"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert data["impactSummary"].startswith("refreshes 1 fleet(s)")
    for entry in data["entries"]:
        assert {"urn", "type", "impact", "reason", "source"} <= set(entry)
        assert entry["source"].startswith("https://")
    group = next(e for e in data["entries"] if e["name"] == "web-asg")
    assert group["impact"] == "rolling refresh"
    assert group["refresh"]["minHealthyPercentage"] == 100
    assert group["refresh"]["estimatedSeconds"] == 270


def test_markdown_and_table_carry_the_impact(tmp_path, capsys) -> None:
    old = write(tmp_path, "old", plan("edge", [_template(), _group()]))
    new = write(tmp_path, "new", plan("edge", [_template(imageId="ami-00000002"), _group()]))

    assert diff.main([old, new, "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| | type | name | impact | what changes |" in markdown
    assert "**applying it refreshes 1 fleet(s)" in markdown
    assert "rolling refresh: launch template web-lt changes (imageId)" in markdown

    assert diff.main([old, new]) == 0
    table = capsys.readouterr().out
    assert "rolling refresh" in table and "applying it refreshes 1 fleet(s)" in table


def test_ending_public_ingress_is_a_warning() -> None:
    open_rule = res(RULE, "security-alb-from-internet-http", {"cidrIpv4": "0.0.0.0/0"})
    cloudfront = res(RULE, "security-alb-from-cloudfront-http", {"prefixListId": "pl-1"})

    d = diff.diff_plans(plan("read-replicas", [open_rule]), plan("edge", [cloudfront]))

    assert [line.split(": ", 1)[0] for line in diff.loud_lines(d)] == ["WARN"]
    assert "public ingress ends with this update" in diff.loud_lines(d)[0]
    assert not diff.diff_plans(plan("edge", [cloudfront]), plan("edge", [])).entries[0].warnings


# --- every real stage move ------------------------------------------------------------

SUMMARIES = {
    # instanceType and userData change: one stop/start each (ec2_instance.go).
    ("dev", "single-box"): (
        "restarts 1 EC2 instance(s) 2 time(s) (a stop and start each, down until it has "
        "booted again), loses no data"
    ),
    ("dev", "split-db"): "deletes 6 resource(s), loses no data",
    ("dev", "load-balanced"): "refreshes 1 fleet(s) (~4.5 min, full capacity), loses no data",
    ("dev", "cached"): "refreshes 1 fleet(s) (~4.5 min, full capacity), loses no data",
    ("dev", "read-replicas"): (
        "refreshes 1 fleet(s) (~4.5 min, full capacity), deletes 1 resource(s), loses no data"
    ),
    ("dev", "edge"): "refreshes 1 fleet(s) (~4.5 min, full capacity), loses no data",
    # prod keeps the box's instance type: only userData changes, one stop/start.
    ("prod", "single-box"): (
        "restarts 1 EC2 instance(s) 1 time(s) (a stop and start each, down until it has "
        "booted again), loses no data"
    ),
    ("prod", "split-db"): "deletes 6 resource(s), loses no data",
    ("prod", "load-balanced"): "refreshes 1 fleet(s) (~4.5 min, full capacity), loses no data",
    ("prod", "cached"): "refreshes 1 fleet(s) (~4.5 min, full capacity), loses no data",
    ("prod", "read-replicas"): (
        "refreshes 1 fleet(s) (~4.5 min, full capacity), deletes 1 resource(s), loses no data"
    ),
    ("prod", "edge"): (
        "refreshes 1 fleet(s) (~4.5 min, full capacity), fails over 1 DB instance(s) "
        "(~1-2 min each), fails over 1 Redis group(s) (online; pulumi up waits until "
        "available, up to 40 min), reboots 2 DB instance(s), loses no data"
    ),
}
MOVES = [(env, a, b) for env in ENVIRONMENTS for a, b in itertools.pairwise(STAGES)]


@pytest.mark.parametrize(("env", "before", "after"), MOVES)
def test_summary_of_every_stage_move(stack_plans, env: str, before: str, after: str) -> None:
    d = diff.diff_plans(stack_plans[(env, before)], stack_plans[(env, after)])
    assert d.move_summary().line() == SUMMARIES[(env, before)]


def test_single_box_to_split_db_restarts_the_dev_box_twice(stack_plans, tmp_path, capsys) -> None:
    # dev resizes the box (t4g.medium -> t4g.small) and rewrites its user data: two
    # stop/start cycles; prod keeps its type: one.
    for env, changed in (("dev", "instanceType, userData"), ("prod", "userData")):
        d = diff.diff_plans(stack_plans[(env, "single-box")], stack_plans[(env, "split-db")])
        box = _entry(d, "box-instance")
        assert box.impact.impact == impacts.REBOOT
        assert box.impact.restarts == len(changed.split(", "))
        assert box.impact.reason.startswith(f"{changed}: ")
    # The CLI says it too (the same plans through `python -m infra diff`'s entry point).
    old = write(tmp_path, "old", stack_plans[("dev", "single-box")])
    new = write(tmp_path, "new", stack_plans[("dev", "split-db")])
    assert diff.main([old, new]) == 0
    assert "restarts 1 EC2 instance(s) 2 time(s)" in " ".join(capsys.readouterr().out.split())


def _db_stack(**inputs: object) -> dict:
    base = {
        "identifier": "movies-prod-db",
        "engine": "postgres",
        "instanceClass": "db.r7g.large",
        "allocatedStorage": 100,
        "multiAz": True,
        "applyImmediately": True,
    }
    return plan("edge", [res(RDS, "database-primary", {**base, **inputs})], env="prod")


def test_an_rds_rename_is_in_place_with_the_endpoint_warning_and_does_not_block(
    tmp_path, capsys
) -> None:
    d = diff.diff_plans(_db_stack(), _db_stack(identifier="movies-prod-db-2"))
    [entry] = d.entries
    assert entry.action == "change" and not entry.blocking and not d.blocking
    assert entry.impact.impact == impacts.REBOOT
    assert [w.split(":")[0] for w in entry.warnings] == ["identifier"]
    assert "endpoint changes" in entry.warnings[0]
    assert d.move_summary().line() == "reboots 1 DB instance(s), loses no data"

    old = write(tmp_path, "old", _db_stack())
    new = write(tmp_path, "new", _db_stack(identifier="movies-prod-db-2"))
    assert diff.main([old, new, "--format", "json"]) == 0  # 0: nothing blocks
    [got] = json.loads(capsys.readouterr().out)["entries"]
    assert got["impact"] == "reboot" and "endpoint changes" in got["warnings"][0]


def test_a_class_and_storage_change_on_one_instance_warns_of_the_six_hour_rule() -> None:
    d = diff.diff_plans(_db_stack(), _db_stack(instanceClass="db.r7g.xlarge", allocatedStorage=200))
    [entry] = d.entries
    assert any("six hours" in w for w in entry.warnings)
    assert any("six hours" in line for line in diff.loud_lines(d))


def test_redis_to_valkey_is_in_place_valkey_to_redis_replaces_and_blocks() -> None:
    def cache(engine: str) -> dict:
        inputs = {"replicationGroupId": "movies-prod-redis", "engine": engine}
        return plan("edge", [res(REDIS, "cache-group", inputs)], env="prod")

    up = diff.diff_plans(cache("redis"), cache("valkey"))
    assert up.entries[0].action == "change" and not up.blocking
    down = diff.diff_plans(cache("valkey"), cache("redis"))
    assert down.entries[0].action == "replace" and down.blocking


def test_prod_scale_5x_shows_the_refresh_and_the_resizes_per_profile(stack_plans) -> None:
    old, new = stack_plans[("prod", "edge")], stack_plans[("prod", "scale-5x")]
    d = diff.diff_plans(old, new)
    kinds = {e.name: e.impact.impact for e in d.entries if e.impact}
    assert kinds["web-asg"] == impacts.ROLLING
    assert kinds["database-primary"] == impacts.FAILOVER  # apply_changes: immediately
    assert kinds["cache-group"] == impacts.FAILOVER
    # The primary's class and storage change in one modification: the six-hour rule.
    primary = _entry(d, "database-primary")
    assert any("six hours" in w for w in primary.warnings)

    # The same move with apply_changes: maintenance-window queues both resizes.
    queued = copy.deepcopy(new)
    for r in queued["resources"]:
        if r["type"] in (RDS, REDIS):
            r["inputs"]["applyImmediately"] = False
    d = diff.diff_plans(old, queued)
    kinds = {e.name: e.impact.impact for e in d.entries if e.impact}
    assert kinds["database-primary"] == kinds["cache-group"] == impacts.DEFERRED
    assert "defers" in d.move_summary().line()


def test_docs_stage_moves_table_is_the_diff_summary(stack_plans) -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "infra.md").read_text()
    section = text.split("## What each stage move does", 1)[1].split("\n## ", 1)[0]
    for before, after in itertools.pairwise(STAGES):
        lines = [
            diff.diff_plans(stack_plans[(env, before)], stack_plans[(env, after)])
            .move_summary()
            .line()
            for env in ("dev", "prod")
        ]
        row = f"| `{before}` → `{after}` | {lines[0]} | {lines[1]} |"
        assert row in section, row


def test_maintenance_window_defers_the_scale_5x_resizes(stack_plans) -> None:
    queued = copy.deepcopy(stack_plans[("prod", "scale-5x")])
    for r in queued["resources"]:
        if r["type"] in (RDS, REDIS):
            r["inputs"]["applyImmediately"] = False
    d = diff.diff_plans(stack_plans[("prod", "edge")], queued)
    assert d.move_summary().line() == (
        "refreshes 1 fleet(s) (~4.5 min, full capacity), defers 5 change(s) to the window, "
        "loses no data"
    )


def test_an_ignored_replace_trigger_replaces_nothing() -> None:
    # The single box holds PostgreSQL and ignores its ami: a new pin must not read as a loss.
    def box(ami: str, user_data: str) -> dict:
        return res(
            "aws:ec2/instance:Instance",
            "box-instance",
            {"ami": ami, "userData": user_data, "instanceType": "t4g.medium"},
            options={"ignoreChanges": ["ami"]},
        )

    d = diff.diff_plans(
        plan("single-box", [box("ami-1", "a")]), plan("single-box", [box("ami-2", "b")])
    )

    [entry] = d.entries
    assert entry.action == "change" and not d.blocking
    assert entry.impact.impact == impacts.REBOOT  # the user data: stop/start
    assert {f.path: f.impact for f in entry.impact.findings}["ami"] == impacts.IGNORED
    assert entry.notes["ami"] == "ignored: ignore_changes keeps the live value"


def test_a_subnet_named_by_id_in_the_same_zone_is_no_change() -> None:
    subnet = "aws:ec2/subnet:Subnet"
    by_name = res(
        subnet,
        "network-public-0",
        {"availabilityZone": "us-east-1a", "cidrBlock": "10.0.0.0/24"},
        outputs={"availabilityZoneId": "use1-az1"},
    )
    same = res(
        subnet, "network-public-0", {"availabilityZoneId": "use1-az1", "cidrBlock": "10.0.0.0/24"}
    )
    other = res(
        subnet, "network-public-0", {"availabilityZoneId": "use1-az4", "cidrBlock": "10.0.0.0/24"}
    )

    kept = diff.diff_plans(plan("edge", [by_name]), plan("edge", [same]))
    moved = diff.diff_plans(plan("edge", [by_name]), plan("edge", [other]))

    assert kept.entries[0].impact.impact == impacts.IN_PLACE
    assert moved.entries[0].impact.impact == impacts.REPLACE
