"""The preview/state loader: engine-format fixtures in, plan-shaped resources out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.plans.preview import (
    UNKNOWN,
    PreviewError,
    load_preview,
    load_state,
    priceable,
    secret_paths,
    unknown_paths,
    urn_parts,
)
from infra.tokens import SECRET_MARKER

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "engine"
SPLIT = FIX / "preview-dev-split-db.json"
PROD = FIX / "preview-prod-cached-replacements.json"
STATE = FIX / "state-dev-single-box.json"


def test_urn_parts_takes_the_last_type_of_a_parent_chain() -> None:
    urn = "urn:pulumi:dev::movies::movies:infra:SingleBox$aws:ec2/instance:Instance::box-instance"
    assert urn_parts(urn) == ("dev", "aws:ec2/instance:Instance", "box-instance")
    with pytest.raises(ValueError):
        urn_parts("arn:aws:ec2:us-east-1:1:instance/i-1")


def test_preview_steps_env_and_stage_come_from_the_digest() -> None:
    p = load_preview(SPLIT)
    assert (p.env, p.stage) == ("dev", "split-db")
    assert [s.op for s in p.steps].count("create") == 6
    assert not p.partial and p.unseen == {}
    box = next(s for s in p.steps if s.name == "box-instance")
    assert box.op == "update"
    assert box.diff_reasons == ("tags", "userData")
    assert box.detailed_diff["tags.stage"]["kind"] == "update"
    assert box.old["inputs"]["tags"]["stage"] == "single-box"
    assert box.new["inputs"]["tags"]["stage"] == "split-db"


def test_unknowns_are_kept_as_the_sentinel_and_found() -> None:
    p = load_preview(SPLIT)
    rds = next(s for s in p.steps if s.name == "database-primary").new
    assert rds["inputs"]["vpcSecurityGroupIds"] == [UNKNOWN]
    assert "vpcSecurityGroupIds[0]" in unknown_paths(rds["inputs"])
    assert "address" in unknown_paths(rds["outputs"])


def test_state_secrets_become_the_mask_and_plaintext_never_survives(tmp_path: Path) -> None:
    doc = json.loads(STATE.read_text())
    # `pulumi stack export --show-secrets` puts the plaintext beside the signature.
    version = next(r for r in doc["deployment"]["resources"] if r["type"].endswith("SecretVersion"))
    version["inputs"]["secretString"] = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "plaintext": '"hunter2-db-password"',
    }
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    state = load_state(path)
    assert "hunter2" not in json.dumps(state)
    secret = next(r for r in state["resources"] if r["type"].endswith("SecretVersion"))
    assert secret["inputs"]["secretString"] == SECRET_MARKER
    assert secret_paths(secret["inputs"]) == ["secretString"]


def test_state_leaves_out_pending_deletes_and_reads_env_stage_from_outputs() -> None:
    state = load_state(STATE)
    names = [r["name"] for r in state["resources"]]
    assert "observability-box-cpu" not in names  # delete: true, left by the last update
    assert (state["env"], state["stage"]) == ("dev", "single-box")
    assert "default_7_51_1" in names
    assert "default_7_51_1" not in [r["name"] for r in priceable(state)["resources"]]


def test_new_plan_applies_steps_over_the_state() -> None:
    p = load_preview(SPLIT)
    after = p.new_plan(load_state(STATE))
    by_name = {r["name"]: r for r in after["resources"]}
    assert by_name["box-instance"]["inputs"]["tags"]["stage"] == "split-db"
    assert "database-primary" in by_name  # created
    assert "release-app-secret" in by_name  # unchanged, from the state
    before = p.old_plan(load_state(STATE))
    assert "database-primary" not in {r["name"] for r in before["resources"]}


def test_a_replacement_keeps_the_new_resource_and_a_delete_removes_the_old() -> None:
    p = load_preview(PROD)
    after = {r["name"]: r for r in p.new_plan()["resources"]}
    assert after["cache-redis"]["inputs"]["transitEncryptionEnabled"] is False
    assert "release-artifacts" not in after and "observability-box-cpu" not in after
    before = {r["name"] for r in p.old_plan()["resources"]}
    assert {"release-artifacts", "observability-box-cpu", "cache-redis"} <= before


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["steps"][4].update(op="upsert"), "steps[4].op: unknown op 'upsert'; allowed:"),
        (lambda d: d["steps"][4].pop("urn"), "steps[4].urn: missing; expected a URN string"),
        (
            lambda d: d["steps"][4]["newState"].update(inputs=[1]),
            "steps[4].newState.inputs: expected an object of inputs, got a list",
        ),
        (
            lambda d: d["steps"][4].pop("oldState"),
            "steps[4].oldState: missing; a 'update' step has one",
        ),
        (lambda d: d["steps"][4].update(urn="i-0123"), "steps[4].urn: expected a URN"),
        (
            lambda d: d.update(changeSummary={"create": "six"}),
            "changeSummary.create: expected a count >= 0, got a string",
        ),
        (
            lambda d: d["steps"][4].update(diffReasons=[3]),
            "steps[4].diffReasons[0]: expected a property name string",
        ),
    ],
)
def test_malformed_preview_is_one_line_naming_file_place_and_expectation(
    tmp_path: Path, mutate, expected: str
) -> None:
    doc = json.loads(SPLIT.read_text())
    mutate(doc)
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(PreviewError) as err:
        load_preview(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_wrong_kind_of_file_says_which_flag_it_belongs_to(tmp_path: Path) -> None:
    with pytest.raises(
        PreviewError, match="looks like a `pulumi stack export`: pass it as --state"
    ):
        load_preview(STATE)
    with pytest.raises(PreviewError, match="looks like a preview: pass it as --preview"):
        load_state(SPLIT)
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": [')
    with pytest.raises(PreviewError, match=r"bad.json: invalid JSON at line 1 column \d+"):
        load_preview(bad)
    with pytest.raises(PreviewError, match="no such file"):
        load_preview(tmp_path / "missing.json")
    old = tmp_path / "v2.json"
    old.write_text('{"version": 2, "deployment": {"resources": []}}')
    with pytest.raises(PreviewError, match="expected deployment schema 3"):
        load_state(old)
