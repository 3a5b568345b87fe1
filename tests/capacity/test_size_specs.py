"""`python -m infra size` on the real specs (--check passes in prod) and on copies of them
(--write keeps comments and edits one environment; --check fails on drift, not on an
override with a reason; bad overrides are one-line errors)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from movies_api.settings import Settings

from infra.capacity import size as sizing
from infra.capacity.inputs import CAPACITY_FILE
from infra.config import STACKS_DIR, STAGES, ConfigError, load_stack_config


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    root = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR, root)
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = sizing.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_size_check_passes_for_every_prod_stage(capsys) -> None:
    code, out, err = run(capsys, "--check", "--env", "prod")
    assert code == 0, err
    assert f"size --check: {len(STAGES)} prod stage(s) match" in out


def test_derived_prod_specs_carry_their_target_on_every_measure() -> None:
    inputs = sizing.load_inputs("prod")
    for stage in STAGES:
        spec = load_stack_config("prod", stage).stage
        result = sizing.size_stage(spec, inputs)
        short = [
            (c.tier, c.measure, c.headroom("target"))
            for c in result.checks
            if (h := c.headroom("target")) is not None and h < 0.30
        ]
        assert not short, (stage, short)


def _replace_line(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_check_fails_on_drift_and_write_restores_it_keeping_comments(stacks, capsys) -> None:
    spec = stacks / "scale-5x.yaml"
    before = spec.read_text()
    derived = load_stack_config("prod", "scale-5x", stacks).stage.cache.node_count
    _replace_line(
        spec,
        f"node_count: {{dev: 1, prod: {derived}}}",
        f"node_count: {{dev: 1, prod: {derived + 2}}}",
    )
    code, _, err = run(capsys, "--check", "--stacks", str(stacks), "--stage", "scale-5x")
    assert code == 1
    assert "prod/scale-5x cache.node_count" in err and "\n" not in err.strip()
    code, out, _ = run(capsys, "--write", "--stacks", str(stacks), "--stage", "scale-5x")
    assert code == 0 and "wrote" in out
    assert spec.read_text() == before  # value back, every comment and flow map as it was


def test_write_changes_one_environment_of_a_shared_value(stacks, capsys) -> None:
    spec = stacks / "load-balanced.yaml"
    text = spec.read_text()
    text = re.sub(r"scale_target_rps: \{dev: (\d+), prod: \d+\}", r"scale_target_rps: \1", text)
    spec.write_text(text)
    dev_value = load_stack_config("dev", "load-balanced", stacks).stage.web.scale_target_rps
    code, _, _ = run(capsys, "--write", "--stacks", str(stacks), "--stage", "load-balanced")
    assert code == 0
    doc = yaml.safe_load(spec.read_text())
    derived = load_stack_config("prod", "load-balanced").stage.web.scale_target_rps
    assert doc["web"]["scale_target_rps"] == {"dev": dev_value, "prod": derived}
    assert "# requests/s per instance target tracking holds" in spec.read_text()


def test_an_override_with_a_reason_passes_check_and_is_not_written(stacks, capsys) -> None:
    spec = stacks / "scale-5x.yaml"
    derived = load_stack_config("prod", "scale-5x", stacks).stage.database.read_replicas
    _replace_line(
        spec,
        f"read_replicas: {{dev: 1, prod: {derived}}}",
        f"read_replicas: {{dev: 1, prod: {derived + 1}}}\n"
        "  override: {read_replicas: {prod: one replica per AZ so an AZ loss keeps reads local}}",
    )
    code, out, _ = run(capsys, "--check", "--stacks", str(stacks), "--stage", "scale-5x")
    assert code == 0
    assert "one replica per AZ" in out and "1 value(s) kept by an override" in out
    code, _, _ = run(capsys, "--write", "--stacks", str(stacks), "--stage", "scale-5x")
    assert load_stack_config("prod", "scale-5x", stacks).stage.database.read_replicas == (
        derived + 1
    )
    # dev has no reason given: the override does not apply there.
    assert load_stack_config("dev", "scale-5x", stacks).stage.database.override == ()


@pytest.mark.parametrize(
    "override,needles",
    [
        ("{engine_version: newer}", ["database.override", "unknown key 'engine_version'"]),
        ("{read_replicas: ''}", ["database.override.read_replicas", "one line"]),
        ("{read_replicas: {stage: x}}", ["unknown environment 'stage'"]),
        ("yes please", ["database.override", "expected a mapping"]),
    ],
)
def test_a_bad_override_is_a_one_line_config_error(stacks, override, needles) -> None:
    _replace_line(
        stacks / "cached.yaml",
        "  read_replicas: 0\n",
        f"  read_replicas: 0\n  override: {override}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_stack_config("prod", "cached", stacks)
    text = str(err.value)
    assert "\n" not in text
    for needle in needles:
        assert needle in text, text


def test_write_refuses_a_result_that_would_not_load_and_leaves_the_file(stacks) -> None:
    from infra.capacity import spec_edit

    spec = stacks / "cached.yaml"
    before = spec.read_text()
    bad = [spec_edit.Difference("web", "max_size", 2, 1, None)]  # below min_size 2
    with pytest.raises(spec_edit.SpecEditError, match=r"cached.yaml: not written"):
        spec_edit.write("cached", bad, "prod", stacks)
    assert spec.read_text() == before


def test_bad_arguments_are_one_line_errors(capsys) -> None:
    for argv, needle in (
        (["--env", "qa"], "--env 'qa'; allowed: dev, prod"),
        (["--stage", "huge"], "--stage 'huge'; allowed: single-box"),
        (["--target", "lots"], "--target 'lots': allowed: a multiplier"),
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2 and needle in err and err.count("\n") == 1, err


def test_the_pool_per_worker_is_the_services_default() -> None:
    doc = yaml.safe_load(CAPACITY_FILE.read_text())
    assert doc["app"]["db_pool_per_worker"] == Settings.__dataclass_fields__["db_pool_max"].default
