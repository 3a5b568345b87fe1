"""`python -m infra policy` on plan files: output by stack/rule/resource and exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.guard.runner import default_refs, main
from tests.policy.crafted import resource, tags


def write_plan(tmp_path: Path, env: str, *resources: dict[str, Any]) -> str:
    path = tmp_path / f"{env}-test.json"
    path.write_text(json.dumps({"env": env, "stage": "test", "resources": list(resources)}))
    return str(path)


def public_db(env: str) -> dict[str, Any]:
    inputs = {
        "publiclyAccessible": True,
        "storageEncrypted": True,
        "backupRetentionPeriod": 14,
        "multiAz": True,
        "deletionProtection": True,
        "instanceClass": "db.t4g.small",
        "engine": "postgres",
        "engineVersion": "16",
        "tags": tags(env),
    }
    return resource("aws:rds/instance:Instance", "db-primary", inputs, protect=True)


def test_mandatory_violation_in_prod_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([write_plan(tmp_path, "prod", public_db("prod"))]) == 1
    out = capsys.readouterr().out
    assert "prod/test" in out and "db-not-public" in out and "db-primary" in out
    assert "mandatory" in out


def test_same_violation_in_dev_is_advisory_and_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([write_plan(tmp_path, "dev", public_db("dev"))]) == 0
    assert "advisory" in capsys.readouterr().out


def test_a_check_finding_fails_even_in_dev(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = public_db("dev")
    db["inputs"].update(publiclyAccessible=False, instanceClass="db.r7g.enormous")
    assert main([write_plan(tmp_path, "dev", db)]) == 1
    assert "node-classes" in capsys.readouterr().out
    assert main(["--no-checks", write_plan(tmp_path, "dev", db)]) == 0


def test_bad_arguments_give_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "missing.json")]) == 2
    assert main(["--check", "spelling", write_plan(tmp_path, "prod")]) == 2
    assert main([write_plan(tmp_path, "staging")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
    assert "unknown checks ['spelling']" in errors[1]
    assert "no policy config for environment 'staging'" in errors[2]


def test_default_is_all_14_stacks() -> None:
    refs = default_refs()
    assert len(refs) == 14 and "dev/single-box" in refs and "prod/scale-5x" in refs
