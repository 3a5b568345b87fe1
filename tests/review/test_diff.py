"""infra.review.diff on crafted plans: adds, removes, property changes, stateful replacements."""

from __future__ import annotations

import json

import pytest

from infra import catalog as stateful
from infra.review import diff
from tests.plans.fake import plan, res, urn, write
from tests.review.plans import DB, bucket, db_primary

SG = res("aws:ec2/securityGroup:SecurityGroup", "app-sg", {"ingress": [{"fromPort": 80}]})


def test_added_removed_and_changed_resources_are_matched_by_urn() -> None:
    old = plan("cached", [db_primary(), SG, res("aws:sns/topic:Topic", "alarms")])
    sg2 = res("aws:ec2/securityGroup:SecurityGroup", "app-sg", {"ingress": [{"fromPort": 8080}]})
    replica = res(
        "aws:rds/instance:Instance",
        "db-replica-0",
        {"replicateSourceDb": "movies-dev-db", "instanceClass": "db.t4g.small"},
        parents=DB,
    )
    new = plan("read-replicas", [db_primary(), sg2, replica])

    d = diff.diff_plans(old, new)

    assert [e.name for e in d.of("add")] == ["db-replica-0"]
    assert [e.name for e in d.of("remove")] == ["alarms"]
    [changed] = d.of("change")
    assert changed.name == "app-sg"
    assert changed.changes == [diff.Change("ingress[0].fromPort", 80, 8080)]
    assert not d.of("replace") and not d.blocking


def test_stage_tag_only_changes_are_counted_compactly() -> None:
    old = plan("cached", [db_primary()])
    new = plan(
        "read-replicas",
        [db_primary(tags={"project": "movies", "stage": "read-replicas", "environment": "dev"})],
    )

    d = diff.diff_plans(old, new)

    assert d.entries == []
    assert d.retagged == 1
    assert d.stage_tags == ("cached", "read-replicas")
    assert "1 retagged only (stage cached → read-replicas)" in diff.summary_line(d)


def test_volume_and_nested_stage_tags_are_noise_too() -> None:
    a = res(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "lt",
        {"tagSpecifications": [{"tags": {"stage": "cached"}}], "volumeTags": {"stage": "cached"}},
    )
    b = res(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "lt",
        {"tagSpecifications": [{"tags": {"stage": "edge"}}], "volumeTags": {"stage": "edge"}},
    )
    d = diff.diff_plans(plan("cached", [a]), plan("edge", [b]))
    assert d.entries == [] and d.retagged == 1


def test_asg_tag_lists_are_compared_by_key_not_position() -> None:
    tags_a = [{"key": "project", "value": "movies"}, {"key": "stage", "value": "cached"}]
    tags_b = [{"key": "stage", "value": "edge"}, {"key": "project", "value": "movies"}]
    old = plan(
        "cached", [res("aws:autoscaling/group:Group", "web", {"tags": tags_a, "maxSize": 2})]
    )
    new = plan("edge", [res("aws:autoscaling/group:Group", "web", {"tags": tags_b, "maxSize": 4})])

    d = diff.diff_plans(old, new)

    [entry] = d.entries
    assert entry.changes == [diff.Change("maxSize", 2, 4)]
    assert d.stage_tags == ("cached", "edge")


def test_renamed_rds_instance_is_a_replacement() -> None:
    old = plan("cached", [db_primary()])
    renamed = db_primary()
    renamed["name"] = "database-primary"
    renamed["urn"] = urn("aws:rds/instance:Instance", "database-primary", parents=DB)
    new = plan("cached", [renamed])

    d = diff.diff_plans(old, new)

    [entry] = d.entries
    assert entry.action == "replace"
    assert entry.old_urn.endswith("::db-primary") and entry.urn.endswith("::database-primary")
    assert "URN changes" in entry.reasons[0]
    assert d.blocking == [entry]
    assert diff.loud_lines(d)[0].startswith("REPLACE: data loss: aws:rds/instance:Instance")


def test_new_parent_is_a_replacement_but_an_alias_makes_it_a_move() -> None:
    old = plan("cached", [db_primary()])
    moved = db_primary()
    moved["urn"] = urn("aws:rds/instance:Instance", "db-primary", parents=("movies:infra:Data",))
    assert diff.diff_plans(old, plan("cached", [moved])).of("replace")

    moved["options"]["aliases"] = [db_primary()["urn"]]
    d = diff.diff_plans(old, plan("cached", [moved]))
    assert not d.of("replace") and not d.of("add") and not d.of("remove")
    [entry] = d.of("change")
    assert entry.old_urn == db_primary()["urn"]


def test_adding_a_replica_next_to_a_renamed_primary_pairs_the_primary() -> None:
    old = plan("cached", [db_primary()])
    renamed = db_primary()
    renamed["name"] = "primary"
    renamed["urn"] = urn("aws:rds/instance:Instance", "primary", parents=DB)
    replica = res(
        "aws:rds/instance:Instance",
        "db-replica-0",
        {"replicateSourceDb": "movies-dev-db"},
        parents=DB,
    )
    d = diff.diff_plans(old, plan("read-replicas", [replica, renamed]))

    assert [e.name for e in d.of("replace")] == ["primary"]
    assert [e.name for e in d.of("add")] == ["db-replica-0"]


@pytest.mark.parametrize(
    ("key", "value"),
    # identifier is no longer ForceNew (provider PR #32687): a rename is in place
    # (test_diff_impacts); dbName still is.
    [("dbName", "movies2"), ("engine", "mysql"), ("storageEncrypted", False)],
)
def test_changed_rds_replace_trigger_is_a_replacement(key: str, value: object) -> None:
    old = plan("cached", [db_primary()])
    new = plan("cached", [db_primary(**{key: value})])

    d = diff.diff_plans(old, new)

    [entry] = d.of("replace")
    assert entry.reasons == [f"{key} changes (forces replacement)"]
    assert d.blocking


def test_changed_rds_instance_class_is_an_in_place_change() -> None:
    d = diff.diff_plans(
        plan("cached", [db_primary()]),
        plan("scale-5x", [db_primary(instanceClass="db.r7g.xlarge")]),
    )
    [entry] = d.of("change")
    assert entry.changes == [diff.Change("instanceClass", "db.t4g.small", "db.r7g.xlarge")]
    assert not d.blocking


def test_changed_bucket_name_is_a_replacement() -> None:
    d = diff.diff_plans(plan("edge", [bucket()]), plan("edge", [bucket("movies-media-2")]))
    [entry] = d.of("replace")
    assert entry.reasons == ["bucket changes (forces replacement)"]


def test_nested_trigger_paths_match_only_their_subtree() -> None:
    assert stateful.path_matches("rootBlockDevice.encrypted", "rootBlockDevice.encrypted")
    assert stateful.path_matches("ebsBlockDevices[0].volumeSize", "ebsBlockDevices")
    assert not stateful.path_matches("rootBlockDevice.volumeSize", "rootBlockDevice.encrypted")
    assert not stateful.path_matches("engineVersion", "engine")


def test_single_box_is_stateful_only_while_no_rds_holds_the_data() -> None:
    box = res("aws:ec2/instance:Instance", "box", {"ami": "ami-1", "instanceType": "t4g.medium"})
    box2 = res("aws:ec2/instance:Instance", "box", {"ami": "ami-2", "instanceType": "t4g.medium"})
    assert diff.diff_plans(plan("single-box", [box]), plan("single-box", [box2])).blocking
    with_db = [db_primary()]
    assert not diff.diff_plans(
        plan("split-db", [box, *with_db]), plan("split-db", [box2, *with_db])
    ).blocking


def test_removed_stateful_resource_is_flagged_but_not_blocking() -> None:
    d = diff.diff_plans(plan("edge", [bucket()]), plan("scale-5x", []))
    assert [e.name for e in d.of("delete")] == ["media-bucket"]
    assert not d.blocking
    assert diff.loud_lines(d) == [
        "DELETE: stateful: aws:s3/bucket:Bucket media-bucket: "
        "stateful resource removed: media objects (posters)"
    ]


def test_secrets_are_masked_in_every_rendering() -> None:
    a = res(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "lt",
        {"userData": "A=1\nDB_PASSWORD=hunter2\n", "authToken": "tok-old"},
    )
    b = res(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "lt",
        {"userData": "A=2\nDB_PASSWORD=hunter3\n", "authToken": "tok-new"},
    )
    d = diff.diff_plans(plan("cached", [a]), plan("cached", [b]))

    text = diff.render_markdown(d) + json.dumps(diff.as_json(d))
    for leaked in ("hunter2", "hunter3", "tok-old", "tok-new"):
        assert leaked not in text
    assert "authToken: [secret] (changed)" in text
    assert "A=1" in text and "A=2" in text


def test_plan_masked_secret_stays_masked_when_it_appears() -> None:
    change = diff.Change("masterPassword", None, "[secret]")
    assert diff.describe(change) == "masterPassword: + [secret]"


def test_cli_exit_codes_and_allow_flags(tmp_path, capsys) -> None:
    a = write(tmp_path, "a", plan("cached", [db_primary()]))
    b = write(tmp_path, "b", plan("cached", [db_primary(dbName="other")]))
    same = write(tmp_path, "same", plan("cached", [db_primary()]))

    assert diff.main([a, same]) == 0
    assert diff.main([a, b, "--format", "markdown"]) == 1
    out, err = capsys.readouterr()
    assert "REPLACE: data loss" in out and "stateful replacement" in err
    assert diff.main([a, b, "--allow-replace"]) == 0
    assert diff.main([a, b, "--allow-replace-urn", db_primary()["urn"]]) == 0
    assert diff.main([a, b, "--allow-replace-urn", "db-primary"]) == 0
    assert diff.main([a, b, "--allow-replace-urn", "aws:rds/instance:Instance::db-primary"]) == 0
    capsys.readouterr()
    # A ref that names no resource is refused (exit 2), in one line with near matches.
    assert diff.main([a, b, "--allow-replace-urn", "db-primry"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'db-primry'" in err and "near: db-primary" in err


def test_cli_bad_refs_get_one_line_errors(tmp_path, capsys) -> None:
    good = write(tmp_path, "a", plan("cached", []))
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")

    for ref in (str(tmp_path / "missing.json"), str(bad_json), "nosuch/stage"):
        assert diff.main([good, ref]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: cannot load plan") and "\n" not in err, err
    assert diff.main([good]) == 2


def test_directory_mode_diffs_every_stack_and_fails_on_replacement(tmp_path, capsys) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    head.mkdir()
    write(base, "dev-cached", plan("cached", [db_primary()]))
    write(head, "dev-cached", plan("cached", [db_primary(dbName="renamed")]))
    write(base, "prod-cached", plan("cached", [SG]))
    write(head, "prod-cached", plan("cached", [SG]))
    write(head, "dev-edge", plan("edge", [bucket()]))  # a stack new on this branch

    assert diff.main([str(base), str(head), "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert "| `dev/cached` |" in out and "| `dev/edge` | 1 to add" in out
    assert "prod/cached" not in out.split("other stack")[0].replace("`prod/cached`", "")
    assert "1 other stack(s) unchanged." in out
    assert "REPLACE: data loss" in out
    assert diff.main([str(base), str(head), "--allow-replace", "--format", "markdown"]) == 0


def test_json_policy_strings_are_diffed_by_statement() -> None:
    pol_a = json.dumps({"Statement": [{"Action": ["s3:GetObject"], "Resource": "arn:a"}]})
    pol_b = json.dumps({"Statement": [{"Action": ["s3:GetObject"], "Resource": "arn:b"}]})
    a = res("aws:iam/rolePolicy:RolePolicy", "p", {"policy": pol_a})
    b = res("aws:iam/rolePolicy:RolePolicy", "p", {"policy": pol_b})
    [entry] = diff.diff_plans(plan("cached", [a]), plan("edge", [b])).entries
    assert entry.changes == [diff.Change("policy.Statement[0].Resource", "arn:a", "arn:b")]


def test_shrinking_storage_is_a_loud_warning_but_not_blocking() -> None:
    d = diff.diff_plans(
        plan("cached", [db_primary()]), plan("cached", [db_primary(allocatedStorage=10)])
    )
    assert not d.blocking
    assert diff.loud_lines(d) == [
        "WARN: aws:rds/instance:Instance db-primary: allocatedStorage shrinks 20 → 10: "
        "AWS cannot shrink it, the update fails"
    ]
    grown = diff.diff_plans(
        plan("cached", [db_primary()]), plan("cached", [db_primary(allocatedStorage=40)])
    )
    assert diff.loud_lines(grown) == []
