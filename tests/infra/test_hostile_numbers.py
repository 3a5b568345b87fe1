"""Numbers no model can use (issue 22, finding 6): NaN, infinities and integers too long to
convert, in a stage spec, the workload, the price table or a JSON document, each get one
line naming the file and the line; none is read as a number.

Before the readers refused them, `hits_per_day: .nan` made `capacity --stage scale-5x`
report "carries 5x" (every comparison with NaN is false) and a 5,001-digit integer ended in
a traceback (Python's 4,300-digit conversion limit)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra import REPO_ROOT
from infra.capacity.inputs import ModelError, Workload
from infra.config import STACKS_DIR, ConfigError, load_stack_config
from infra.jsonfile import MAX_INT_DIGITS as JSON_INT_DIGITS
from infra.jsonfile import JsonError, load_json, loads_json
from infra.yamlfile import MAX_INT_DIGITS, YamlError, load_yaml

HOSTILE_YAML = [".nan", ".NaN", ".inf", "-.inf", "+.INF", "1" * 5001, "9" * (MAX_INT_DIGITS + 1)]
ASSUMPTIONS = REPO_ROOT / "assumptions"


def _replace_first_number(text: str, key: str, token: str) -> str:
    # `key: 12` on a line of its own or inside a flow mapping (`{usd: 0.0084, ...}`)
    pattern = re.compile(rf"(\b{key}:\s*(?:\{{\s*\w+:\s*)?)[-+0-9._e]+")
    new, count = pattern.subn(lambda m: m.group(1) + token, text, count=1)
    assert count == 1, f"no numeric {key!r} in the file"
    return new


def _one_line(message: str) -> None:
    assert message and "\n" not in message and len(message) < 400, message[:300]
    assert "Traceback" not in message


@pytest.mark.parametrize("token", HOSTILE_YAML)
def test_a_stage_spec_number_is_refused(tmp_path: Path, token: str) -> None:
    root = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR, root)
    spec = root / "cached.yaml"
    spec.write_text(_replace_first_number(spec.read_text(), "min_size", token))
    with pytest.raises(ConfigError) as info:
        load_stack_config("prod", "cached", root)
    _one_line(str(info.value))
    assert "cached.yaml" in str(info.value) and "line " in str(info.value)


@pytest.mark.parametrize("token", HOSTILE_YAML)
def test_a_workload_number_is_refused(tmp_path: Path, token: str) -> None:
    path = tmp_path / "workload.yaml"
    text = (ASSUMPTIONS / "workload.yaml").read_text()
    path.write_text(_replace_first_number(text, "hits_per_day", token))
    with pytest.raises(ModelError) as info:
        Workload.load(path)
    _one_line(str(info.value))
    assert "workload.yaml" in str(info.value)


@pytest.mark.parametrize("token", HOSTILE_YAML)
def test_a_price_is_refused(tmp_path: Path, token: str) -> None:
    path = tmp_path / "prices.yaml"
    text = (ASSUMPTIONS / "prices.yaml").read_text()
    path.write_text(_replace_first_number(text, "usd", token))
    with pytest.raises(YamlError) as info:
        load_yaml(path, "price table")
    _one_line(str(info.value))


def test_ordinary_numbers_still_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("a: 1_000\nb: 0x1F\nc: 1.5e+3\nd: -12\ne: 123456789012345678\n")
    assert load_yaml(path) == {"a": 1000, "b": 31, "c": 1500.0, "d": -12, "e": 123456789012345678}


@pytest.mark.parametrize(
    "text",
    ['{"a": NaN}', '{"a": Infinity}', "[-Infinity]", '{"a": 1e400}', "[" + "7" * 5001 + "]"],
)
def test_json_numbers_are_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(JsonError) as info:
        loads_json(text, "plan")
    _one_line(str(info.value))
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(JsonError) as info:
        load_json(path, "plan")
    assert str(path) in str(info.value)


def test_json_of_ordinary_numbers_loads() -> None:
    assert loads_json('{"a": [1, -2.5, 123456789012345678, 1e300]}') == {
        "a": [1, -2.5, 123456789012345678, 1e300]
    }


def test_capacity_with_a_nan_workload_exits_nonzero_with_one_line(tmp_path: Path) -> None:
    """The finding itself, end to end: the CLI no longer says "carries 5x" on NaN."""
    root = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "assumptions", root / "assumptions")
    workload = root / "assumptions" / "workload.yaml"
    workload.write_text(_replace_first_number(workload.read_text(), "hits_per_day", ".nan"))
    code = (
        "import sys; from pathlib import Path; import infra.capacity.inputs as i;"
        f"i.WORKLOAD_FILE = Path({str(workload)!r});"
        "i.Workload.load.__func__.__defaults__ = (i.WORKLOAD_FILE,);"
        "from infra.__main__ import main; sys.exit(main(['capacity', '--stage', 'scale-5x']))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0, run.stdout[-500:]
    assert "carries 5x" not in run.stdout
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not a finite number" in lines[0], run.stderr[-500:]


# --- the JSON the tools read: plans, previews, stack exports ------------------------------

HOSTILE_JSON = ["NaN", "Infinity", "-Infinity", "1e999", "7" * 5001, "7" * (JSON_INT_DIGITS + 1)]


def _plan_with(tmp_path: Path, token: str) -> Path:
    """A real plan file whose first integer input (a size or a count) is `token`."""
    from infra.plans.build import dumps_plan, load_or_build

    text = dumps_plan(load_or_build("dev/cached"))
    new, count = re.subn(r'("allocatedStorage": )\d+', lambda m: m.group(1) + token, text, count=1)
    assert count == 1
    path = tmp_path / "dev-cached.json"
    path.write_text(new)
    return path


@pytest.mark.parametrize("token", HOSTILE_JSON)
def test_a_plan_number_is_refused(tmp_path: Path, token: str) -> None:
    from infra.plans.load import PlanRefError, load_plan

    path = _plan_with(tmp_path, token)
    with pytest.raises(PlanRefError) as info:
        load_plan(str(path))
    _one_line(str(info.value))


@pytest.mark.parametrize("command", ["cost", "policy", "diff"])
def test_the_tools_refuse_a_nan_plan_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """`cost` once totalled `nan` and `policy` exited 0 on such a plan."""
    from infra.__main__ import main

    path = str(_plan_with(tmp_path, "NaN"))
    argv = {"cost": [path], "policy": [path], "diff": ["dev/cached", path]}[command]
    assert main([command, *argv]) != 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err and "not a finite number" in err[0] and len(err) <= 2, err


@pytest.mark.parametrize("token", HOSTILE_JSON)
def test_a_preview_or_export_number_is_refused(tmp_path: Path, token: str) -> None:
    from infra.plans.preview import PreviewError, load_preview, load_state

    fixtures = REPO_ROOT / "tests" / "fixtures" / "engine"
    preview = next(p for p in sorted(fixtures.glob("preview-*.json")))
    export = next(p for p in sorted(fixtures.glob("state-*.json")))
    for source, loader in ((preview, load_preview), (export, load_state)):
        text = source.read_text()
        new, count = re.subn(
            r"(: )(\d+)([,\n}])", lambda m: m.group(1) + token + m.group(3), text, count=1
        )
        assert count == 1, source
        path = tmp_path / source.name
        path.write_text(new)
        with pytest.raises(PreviewError) as info:
            loader(str(path))
        _one_line(str(info.value))
