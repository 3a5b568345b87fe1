"""`python -m infra plan` and `load_plan`: deterministic files, the table, plan references."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import load_stack_config
from infra.plans import build as plan_cli
from infra.plans.build import build_plan, dumps_plan, kind, kind_counts, load_or_build
from infra.plans.load import PlanRefError, load_plan, newest_source_mtime

# No server, but long enough that xdist should start it early (tests/conftest.py).
pytestmark = pytest.mark.wall(7)  # seconds alone

REPO = Path(__file__).resolve().parents[2]


def test_plan_shape_matches_the_contract(plans) -> None:
    plan = plans[("dev", "cached")]
    assert set(plan) == {"env", "stage", "resources"}
    urns = [r["urn"] for r in plan["resources"]]
    assert urns == sorted(urns) and len(set(urns)) == len(urns)
    for resource in plan["resources"]:
        assert set(resource) == {
            "urn",
            "type",
            "name",
            "parent",
            "id",
            "inputs",
            "outputs",
            "dependencies",
            "options",
        }
        assert set(resource["options"]) == {
            "protect",
            "retainOnDelete",
            "aliases",
            "ignoreChanges",
            "deleteBeforeReplace",
        }
        if resource["parent"] is not None:
            assert resource["parent"] in urns
        assert set(resource["dependencies"]) <= set(urns)
    components = [r for r in plan["resources"] if r["type"].startswith("movies:infra:")]
    assert {c["name"] for c in components} >= {"network", "security", "database", "cache", "alb"}
    assert all(c["inputs"] == {} for c in components)


def test_same_code_gives_byte_identical_json(plans) -> None:
    again = build_plan("prod", "scale-5x")
    assert dumps_plan(again) == dumps_plan(plans[("prod", "scale-5x")])


def test_cli_writes_the_same_bytes_in_a_fresh_process(tmp_path: Path, plans) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra",
            "plan",
            "--env",
            "dev",
            "--stage",
            "edge",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "dev/edge" in result.stdout and "resources" in result.stdout
    written = (tmp_path / "dev-edge.json").read_text()
    assert written == dumps_plan(plans[("dev", "edge")])


def test_cli_rejects_unknown_stage(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        plan_cli.main(["--stage", "huge"])
    assert info.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_kind_counts(plans) -> None:
    assert kind("aws:ec2/securityGroup:SecurityGroup") == "ec2"
    assert kind("movies:infra:Network") == "component"
    assert kind("random:index/randomPassword:RandomPassword") == "random"
    counts = kind_counts(plans[("prod", "scale-5x")])
    replicas = load_stack_config("prod", "scale-5x").stage.database.read_replicas
    assert counts["rds"] == 1 + replicas + 2  # primary, replicas, subnet + parameter groups
    assert counts["lb"] >= 5
    assert sum(counts.values()) == len(plans[("prod", "scale-5x")]["resources"]) - 1


def test_load_plan_never_runs_the_program(
    tmp_path: Path, plans, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing or stale stack plan is refused with the command that rebuilds it."""
    import infra.program.composer

    def no_program(*_args, **_kwargs):
        raise AssertionError("load_plan ran the program")

    monkeypatch.setattr(infra.program.composer, "declare_stage", no_program)
    with pytest.raises(PlanRefError) as missing:
        load_plan("dev/single-box", plan_dir=tmp_path)
    assert "is missing; run `python -m infra plan --env dev --stage single-box`" in str(
        missing.value
    )
    assert list(tmp_path.iterdir()) == []
    path = tmp_path / "dev-single-box.json"
    path.write_text(json.dumps({"env": "dev", "stage": "x", "resources": []}))
    assert load_plan("dev/single-box", plan_dir=tmp_path)["stage"] == "x"
    old = newest_source_mtime() - 60
    os.utime(path, (old, old))
    with pytest.raises(PlanRefError, match="older than its sources; run `python -m infra plan"):
        load_plan("dev/single-box", plan_dir=tmp_path)


def test_load_or_build_plans_when_missing_or_stale_and_says_so(
    tmp_path: Path, plans, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = load_or_build("dev/single-box", plan_dir=tmp_path)
    assert (tmp_path / "dev-single-box.json").is_file()
    assert loaded == json.loads(dumps_plan(plans[("dev", "single-box")]))
    assert "planning dev/single-box (its plan file is missing)" in capsys.readouterr().err
    # a file newer than the sources is read as it is, without a word
    path = tmp_path / "dev-single-box.json"
    path.write_text(json.dumps({"env": "dev", "stage": "x", "resources": []}))
    assert load_or_build("dev/single-box", plan_dir=tmp_path)["stage"] == "x"
    assert capsys.readouterr().err == ""
    # one older than the sources is rebuilt
    old = newest_source_mtime() - 60
    os.utime(path, (old, old))
    assert load_or_build("dev/single-box", plan_dir=tmp_path)["stage"] == "single-box"
    assert "older than its sources" in capsys.readouterr().err


def test_a_stale_plan_whose_rebuild_is_identical_becomes_current(tmp_path: Path, plans) -> None:
    """A source edit that changes no plan (a comment) must not leave the plan stale."""
    path = tmp_path / "dev-single-box.json"
    path.write_text(dumps_plan(plans[("dev", "single-box")]))
    old = newest_source_mtime() - 60
    os.utime(path, (old, old))
    assert load_or_build("dev/single-box", plan_dir=tmp_path)["stage"] == "single-box"
    assert load_plan("dev/single-box", plan_dir=tmp_path)["stage"] == "single-box"


def test_load_plan_by_path(tmp_path: Path, plans) -> None:
    path = tmp_path / "some.json"
    path.write_text(dumps_plan(plans[("prod", "edge")]))
    assert load_plan(str(path))["stage"] == "edge"


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("qa/cached", "unknown stack"),
        ("dev/huge", "unknown stack"),
        ("cached", "neither ENV/STAGE"),
        ("missing.json", "neither ENV/STAGE"),
    ],
)
def test_load_plan_bad_refs(ref: str, needle: str) -> None:
    with pytest.raises(PlanRefError, match=needle):
        load_plan(ref)


def test_load_plan_bad_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(PlanRefError, match="invalid JSON"):
        load_plan(str(broken))
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(PlanRefError, match="not a plan file"):
        load_plan(str(other))


def test_the_three_areas_share_one_set_of_plans(
    plans, stack_plans, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/conftest.py plans the 14 stacks once; the areas get copies, never a rebuild."""
    import infra.program.composer
    from tests.conftest import _planned

    assert set(stack_plans) == set(plans) and len(plans) == 14
    assert plans == stack_plans and plans is not stack_plans
    assert plans[("prod", "edge")] is not stack_plans[("prod", "edge")]

    def no_program(*_args, **_kwargs):
        raise AssertionError("a plan was built again")

    monkeypatch.setattr(infra.program.composer, "declare_stage", no_program)
    # What tests/review and tests/policy ask for comes from the session, not the program.
    assert _planned("prod", "edge") is stack_plans[("prod", "edge")]
    # A copy (what each area's fixture hands out) can be changed without touching the session's.
    copy_ = copy.deepcopy(stack_plans[("prod", "edge")])
    copy_["resources"].clear()
    assert stack_plans[("prod", "edge")]["resources"]
