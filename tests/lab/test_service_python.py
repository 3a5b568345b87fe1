"""The service's processes run on the service's own dependency set (lab/stack.py
`service_python`, built by `make setup` from app_image/pyproject.toml), not on the
development venv with pulumi's packages."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest

from lab import stack

VENV_PYTHON = stack.SERVICE_VENV / "bin" / "python"


def test_the_override_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(stack.SERVICE_PYTHON_ENV, "/opt/other/python")
    assert stack.service_python() == "/opt/other/python"


def test_without_the_service_venv_the_lab_runs_on_this_interpreter(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.delenv(stack.SERVICE_PYTHON_ENV, raising=False)
    monkeypatch.setattr(stack, "SERVICE_VENV", tmp_path / "absent")
    assert stack.service_python() == sys.executable


@pytest.mark.skipif(not VENV_PYTHON.exists(), reason="no .venv-app: run `make setup`")
def test_the_service_venv_holds_the_wheels_dependencies_and_not_pulumis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(stack.SERVICE_PYTHON_ENV, raising=False)
    assert stack.service_python() == str(VENV_PYTHON)
    declared = tomllib.loads((stack.APP_DIR / "pyproject.toml").read_text())["project"]
    pins = dict(d.split("==") for d in declared["dependencies"])
    probe = (
        "import importlib.metadata as m, importlib.util as u, json; "
        f"print(json.dumps([{{n: m.version(n) for n in {sorted(pins)!r}}}, "
        "[p for p in ('pulumi', 'opentelemetry', 'pytest') if u.find_spec(p)]]))"
    )
    out = subprocess.run(
        [stack.service_python(), "-c", probe], capture_output=True, text=True, check=True
    )
    versions, extra = json.loads(out.stdout)
    assert versions == pins  # every declared dependency, at its pin
    assert extra == []  # and none of the development venv's
