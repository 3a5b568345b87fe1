"""diff --preview: every step kind classified like the offline diff."""

from __future__ import annotations

import json
from pathlib import Path

from infra.plans.preview import load_preview, load_state
from infra.review.diff import UNKNOWN_TEXT, diff_preview

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "engine"
SPLIT = FIX / "preview-dev-split-db.json"
PROD = FIX / "preview-prod-cached-replacements.json"
DEFAULT = FIX / "preview-dev-default-flags.json"
STATE = FIX / "state-dev-single-box.json"
RDS_URN = (
    "urn:pulumi:dev::movies::movies:infra:Database$aws:rds/instance:Instance::database-primary"
)


def _entries(path: Path, **kw):
    d = diff_preview(load_preview(path), **kw)
    return d, {e.name: e for e in d.diff.entries}


def test_create_update_same_read() -> None:
    d, by = _entries(SPLIT, state=load_state(STATE))
    assert by["database-primary"].action == "add"
    assert by["box-instance"].action == "change"
    assert {c.path for c in by["box-instance"].changes} == {"tags.stage", "userData"}
    assert "box-eip" not in by  # same
    assert "legacy-admin" not in by and d.reads == 1  # read: counted, not a change
    assert not d.diff.blocking


def test_create_replacement_and_delete_replaced_of_a_stateful_resource_is_data_loss() -> None:
    d, by = _entries(PROD)
    redis = by["cache-redis"]
    assert redis.action == "replace" and redis.blocking
    assert "atRestEncryptionEnabled" in redis.reasons[0]  # the provider's replaceReasons
    assert [e.name for e in d.diff.entries].count("cache-redis") == 1  # one entry per URN


def test_delete_of_a_stateful_resource_is_data_loss_and_of_another_a_remove() -> None:
    _, by = _entries(PROD)
    assert by["release-artifacts"].action == "replace"
    assert "deleted with nothing in its place" in by["release-artifacts"].reasons[0]
    assert by["observability-box-cpu"].action == "remove"
    assert not by["observability-box-cpu"].blocking


def test_logical_replace_step_stateful_blocks_stateless_recreates() -> None:
    _, by = _entries(DEFAULT)
    assert by["database-primary"].action == "replace" and by["database-primary"].blocking
    # engineVersion is not on the hand-kept trigger list: the engine's word is what counts
    assert "engineVersion" in by["database-primary"].reasons[0]
    assert by["security-app"].action == "recreate" and not by["security-app"].blocking


def test_allow_replace_by_urn_unblocks_only_that_resource() -> None:
    d, by = _entries(DEFAULT, allow_urns=[RDS_URN])
    assert by["database-primary"].allowed and not d.diff.blocking
    d, _ = _entries(PROD, allow_urns=[RDS_URN])
    assert {e.name for e in d.diff.blocking} == {"cache-redis", "release-artifacts"}


def test_unknown_values_are_said_not_compared() -> None:
    d, by = _entries(PROD)
    change = next(c for c in by["web-asg"].changes if c.path == "launchTemplate.version")
    assert (change.old, change.new) == ("7", UNKNOWN_TEXT)
    note = next(n for n in d.notes if "known only after apply" in n)
    assert "web-asg.inputs.launchTemplate.version" in note


def test_a_secret_is_never_shown_and_its_change_is_reported(tmp_path: Path) -> None:
    doc = json.loads(PROD.read_text())
    step = next(s for s in doc["steps"] if s["op"] == "create-replacement")
    step["detailedDiff"]["authToken"] = {"kind": "update", "inputDiff": True}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    d, by = _entries(path)
    token = next(c for c in by["cache-redis"].changes if c.path == "authToken")
    assert (token.old, token.new) == ("[secret]", "[secret]")
    assert any("secret value(s) not shown" in n and "authToken" in n for n in d.notes)


def test_a_preview_without_sames_says_so() -> None:
    d, _ = _entries(DEFAULT)
    assert any("partial preview" in n for n in d.notes)
    d, _ = _entries(SPLIT)
    assert not any("partial preview" in n for n in d.notes)


def test_provider_reported_change_with_equal_values_is_said() -> None:
    _, by = _entries(PROD)
    at_rest = next(c for c in by["cache-redis"].changes if c.path == "atRestEncryptionEnabled")
    assert at_rest.old is True and "the provider reports a change" in at_rest.new


# ------------------------------------------------------------------------------ the CLI


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from infra.review.diff import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_exit_status_follows_data_loss(capsys) -> None:
    assert _cli(["--preview", str(SPLIT), "--state", str(STATE)], capsys)[0] == 0
    code, out, err = _cli(["--preview", str(PROD), "--format", "markdown"], capsys)
    assert code == 1 and "2 resource(s) holding data replaced or deleted" in err
    assert "REPLACE: data loss" in out and "(known after apply)" in out
    assert "secret value(s) not shown" in out
    code, _, _ = _cli(
        [
            "--preview",
            str(PROD),
            "--allow-replace-urn",
            "cache-redis",
            "--allow-replace-urn",
            "release-artifacts",
        ],
        capsys,
    )
    assert code == 0


def test_cli_json_carries_the_notes(capsys) -> None:
    code, out, _ = _cli(["--preview", str(DEFAULT), "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 1
    assert {e["action"] for e in doc["entries"]} == {"replace", "recreate"}
    assert any("partial preview" in n for n in doc["notes"])


def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    code, _, err = _cli(["--state", str(STATE)], capsys)
    assert code == 2 and "--state needs --preview FILE" in err
    code, _, err = _cli(["dev/single-box", "--preview", str(SPLIT)], capsys)
    assert code == 2 and "not both" in err
    prod_state = FIX / "state-prod-before-provider-upgrade.json"
    code, _, err = _cli(["--preview", str(SPLIT), "--state", str(prod_state)], capsys)
    assert code == 2 and "the export is of stack 'prod', the preview of stack 'dev'" in err
    bad = tmp_path / "p.json"
    bad.write_text('{"steps": [{"op": "create"}], "changeSummary": {}}')
    code, _, err = _cli(["--preview", str(bad)], capsys)
    assert code == 2 and err.count("\n") == 1 and "steps[0].urn: missing" in err


def test_an_adoption_preview_shows_imports_and_no_replacement() -> None:
    d, by = _entries(FIX / "preview-dev-adopt.json")
    imports = {n: e for n, e in by.items() if e.action == "import"}
    assert set(imports) == {"box-instance", "box-eip", "security-app"}
    assert imports["box-instance"].reasons == ["adopted by import of i-0a1b2c3d4e5f60718"]
    assert not d.diff.blocking and not d.diff.of("replace") and not d.diff.of("recreate")


def test_every_entry_gets_the_offline_diffs_impact() -> None:
    from infra.review import impacts

    _, by = _entries(PROD)
    assert by["cache-redis"].impact.impact == impacts.REPLACE_DATA_LOSS
    assert by["release-artifacts"].impact.impact == impacts.DELETE_DATA_LOSS
    assert by["observability-box-cpu"].impact.impact == impacts.DELETE
    # the launch template's new version rolls the group that uses it
    assert by["web-asg"].impact.impact == impacts.ROLLING
    assert "launch template web-lt changes" in by["web-asg"].impact.reason
    _, by = _entries(SPLIT, state=load_state(STATE))
    assert by["database-primary"].impact.impact == impacts.CREATE
    # new user data on the box: AWS stops and starts it (user_data_replace_on_change off)
    assert by["box-instance"].impact.impact == impacts.REBOOT
    _, by = _entries(FIX / "preview-dev-adopt.json")
    assert by["box-instance"].impact.impact == impacts.IN_PLACE
    assert by["security-app"].impact.source.endswith("/options/import/")
