"""Malformed plan files (issue 15 item 10): diff and cost say what is wrong, where, in one
line (exit 2), never a traceback; `python -m infra plan` writes every stack or none."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.config import ENVIRONMENTS, STAGES, ConfigError
from infra.plans import build
from infra.plans.load import PlanRefError, load_plan
from infra.review import cost, diff

FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def _write(path: Path, doc: object) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.fixture
def good(tmp_path: Path, stack_plan) -> dict:
    # One stack's plan, not the session's copy of all 14 (`plans`): nothing here needs
    # the others, and a file run alone then plans one stack instead of fourteen.
    return copy.deepcopy(stack_plan("dev", "cached"))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda p: p.update(resources=[1, 2, 3]), "resources[0]: expected an object, got 1"),
        (lambda p: p["resources"][2].pop("urn"), "resources[2].urn: required key is missing"),
        (lambda p: p["resources"][1].update(type=7), "resources[1].type: expected a string"),
        (lambda p: p["resources"][0].update(inputs=[]), "resources[0].inputs: expected an obj"),
        (lambda p: p.update(resources={}), "resources: expected a list"),
    ],
)
@pytest.mark.parametrize("tool", ["diff", "cost"])
def test_a_malformed_plan_is_one_line_exit_2(
    tmp_path: Path, good: dict, change, needle: str, tool: str, capsys
) -> None:
    bad = copy.deepcopy(good)
    change(bad)
    path = _write(tmp_path / "bad.json", bad)
    if tool == "diff":
        code = diff.main([_write(tmp_path / "good.json", good), path])
    else:
        code = cost.main([path])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "\n" not in err and path in err and needle in err, err


def test_a_long_value_in_a_plan_error_is_cut(tmp_path: Path, good: dict) -> None:
    good["resources"][0]["urn"] = ["x" * 1_000_000]
    with pytest.raises(PlanRefError) as info:
        load_plan(_write(tmp_path / "long.json", good))
    assert "resources[0].urn: expected a string" in str(info.value)
    assert len(str(info.value)) < 600


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
RESOURCE_KEYS = st.sampled_from(
    ["urn", "type", "name", "parent", "id", "inputs", "outputs", "dependencies", "options"]
)


@settings(max_examples=200, deadline=None, suppress_health_check=FIXTURE_OK)
@given(index=st.integers(min_value=0, max_value=5), key=RESOURCE_KEYS, value=JSON)
def test_any_value_in_any_resource_key_loads_or_gives_one_line(
    tmp_path: Path, good: dict, index: int, key: str, value: object
) -> None:
    # The plan with that one resource's key replaced: copied along that path only (the
    # rest is shared with `good`, which nothing here changes); a deepcopy of the whole
    # plan per example was ~90% of this test's time.
    resources = list(good["resources"])
    resources[index] = {**resources[index], key: value}
    bad = {**good, "resources": resources}
    try:
        load_plan(_write(tmp_path / "p.json", bad))
    except PlanRefError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 1_000


@settings(max_examples=200, deadline=None, suppress_health_check=FIXTURE_OK)
@given(doc=JSON)
def test_any_json_document_loads_or_gives_one_line(tmp_path: Path, doc: object) -> None:
    try:
        load_plan(_write(tmp_path / "p.json", doc))
    except PlanRefError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 1_000


@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURE_OK)
@given(raw=st.binary(max_size=200))
def test_any_bytes_load_or_give_one_line(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(raw)
    try:
        load_plan(str(path))
    except PlanRefError as exc:
        assert "\n" not in str(exc)


def test_plan_writes_every_stack_or_none(
    tmp_path: Path, stack_plan, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """One stack's bad spec (the third) leaves the plan folder exactly as it was."""
    out = tmp_path / "plan"
    out.mkdir()
    before = {f"{e}-{s}.json": f"old {e}/{s}\n" for e in ENVIRONMENTS for s in STAGES}
    for name, text in before.items():
        (out / name).write_text(text)
    calls: list[tuple[str, str]] = []

    def fake_build(env: str, stage: str, edge_cutover: str | None = None) -> dict:
        calls.append((env, stage))
        if len(calls) == 3:
            raise ConfigError("web.max_size: invalid value 0; must be a positive integer")
        return stack_plan(env, stage)  # the two stacks planned before the bad one

    monkeypatch.setattr(build, "build_plan", fake_build)
    assert build.main(["--out", str(out)]) == 1
    assert len(calls) == 3
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    assert "nothing written" in capsys.readouterr().err
