"""The Pulumi entry point (`__main__.py`) and project files, run as `pulumi up` would."""

from __future__ import annotations

import runpy
from pathlib import Path

import pulumi
import pytest
import yaml
from pulumi.runtime import config as pulumi_config

import infra.program.components.release as release
from infra.config import ENVIRONMENTS, STAGES
from infra.plans.mocks import run_program

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack_config():
    def configure(values: dict[str, str]) -> None:
        pulumi_config.set_all_config(values)

    yield configure
    pulumi_config.set_all_config({})


@pytest.fixture
def built_artifact(monkeypatch):
    monkeypatch.setattr(release, "require_artifact", lambda: "movies-api-test.tar.gz")


def run_main(env: str):
    return run_program(
        lambda: runpy.run_path(str(REPO / "__main__.py")),
        project="movies",
        stack=env,
        region="us-east-1",
    )


def test_main_declares_the_configured_stage(stack_config, built_artifact) -> None:
    stack_config({"movies:environment": "dev", "movies:stage": "cached", "aws:region": "us-east-1"})
    result = run_main("dev")
    assert result.exports["stage"] == "cached"
    assert result.by_type("aws:elasticache/replicationGroup:ReplicationGroup")


def test_main_rejects_region_mismatch(stack_config, built_artifact) -> None:
    stack_config({"movies:environment": "dev", "movies:stage": "cached", "aws:region": "eu-west-1"})
    with pytest.raises(pulumi.RunError, match=r"aws:region: 'eu-west-1'.*'us-east-1'"):
        run_main("dev")


def test_main_rejects_unknown_stage(stack_config, built_artifact) -> None:
    stack_config({"movies:environment": "dev", "movies:stage": "huge", "aws:region": "us-east-1"})
    with pytest.raises(pulumi.RunError, match="stage: unknown 'huge'"):
        run_main("dev")


def test_main_requires_the_built_artifact(stack_config, monkeypatch, tmp_path) -> None:
    stack_config({"movies:environment": "dev", "movies:stage": "cached", "aws:region": "us-east-1"})
    original = release.require_artifact
    monkeypatch.setattr(release, "require_artifact", lambda: original(tmp_path))
    with pytest.raises(pulumi.RunError, match="build it first"):
        run_main("dev")


def test_project_files() -> None:
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["name"] == "movies"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    for env in ENVIRONMENTS:
        stack = yaml.safe_load((REPO / f"Pulumi.{env}.yaml").read_text())["config"]
        assert stack["movies:environment"] == env
        assert stack["movies:stage"] in STAGES
        assert (
            stack["aws:region"]
            == yaml.safe_load((REPO / "stacks/env" / f"{env}.yaml").read_text())["region"]
        )
