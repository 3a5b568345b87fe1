"""Each component owns its alarms, within a whole stage: a part the stage drops takes its
alarms with it and leaves every other alarm as it was; the composer stays an outline."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest
import yaml

from infra.config import STACKS_DIR, load_stack_config
from infra.plans.mocks import run_program
from infra.program import composer

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SINK_TYPE = "movies:infra:Observability"
# What each stage part adds to the scale-5x stack's alarms (prod: 2 replicas, 2 nodes).
SEARCH_ALARMS = {"asg-search-cpu", "latency-search-p99"}
CACHE_ALARMS = {
    "redis-node-1-engine-cpu",
    "redis-node-2-engine-cpu",
    "redis-evictions",
    "redis-hit-rate",
}
EDGE_ALARMS = {"cdn-5xx-rate"}


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    root = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR, root)
    return root


@pytest.fixture(scope="module")
def shipped() -> dict[str, dict]:
    """The shipped scale-5x stack's alarms, planned once for the tests below."""
    return alarms(STACKS_DIR)


def alarms(root: Path, stage: str = "scale-5x", env: str = "prod") -> dict[str, dict]:
    """Alarm suffix -> everything the plan records of it (URN, parent, inputs, deps)."""
    config = load_stack_config(env, stage, root)
    run = run_program(
        lambda: composer.declare_stage(config),
        project="movies",
        stack=env,
        region=config.env.region,
    )
    (sink,) = run.by_type(SINK_TYPE)
    assert sink.urn == f"urn:pulumi:{env}::movies::" + SINK_TYPE + "::observability"
    found = {}
    for alarm in run.by_type(ALARM):
        suffix = alarm.inputs["name"].removeprefix(f"movies-{env}-")
        # The URN every live stack holds: parent and logical name as before the move.
        assert alarm.parent == sink.urn and alarm.name == f"observability-{suffix}"
        # The engine's rule: the parent's whole type, never the root stack's.
        assert alarm.urn == (
            f"urn:pulumi:{env}::movies::movies:infra:Observability${ALARM}::{alarm.name}"
        )
        found[suffix] = alarm.to_plan()
    assert sorted(f"movies-{env}-{s}" for s in found) == sink.outputs["alarm_names"]
    return found


def drop(root: Path, stage: str, *parts: str) -> None:
    path = root / f"{stage}.yaml"
    doc = yaml.safe_load(path.read_text())
    for part in parts:
        del doc[part]
    path.write_text(yaml.safe_dump(doc))


def test_scale_5x_alarms_come_from_its_parts(shipped) -> None:
    assert set(shipped) == {
        "alb-5xx-rate",
        "asg-web-cpu",
        "latency-web-p99",
        *SEARCH_ALARMS,
        "db-primary-cpu",
        "db-free-storage",
        "db-connections",
        *(f"db-replica-{i}-{kind}" for i in (1, 2) for kind in ("cpu", "lag")),
        *CACHE_ALARMS,
        *EDGE_ALARMS,
    }


@pytest.mark.parametrize(
    ("parts", "their_alarms"),
    [(("search",), SEARCH_ALARMS), (("cache",), CACHE_ALARMS), (("edge",), EDGE_ALARMS)],
)
def test_a_part_removed_takes_exactly_its_alarms(shipped, stacks, parts, their_alarms) -> None:
    before = shipped
    drop(stacks, "scale-5x", *parts)
    after = alarms(stacks)
    assert their_alarms <= set(before)
    assert set(before) - set(after) == their_alarms
    # Every other alarm is unchanged: same URN, parent, inputs and dependencies.
    assert after == {suffix: alarm for suffix, alarm in before.items() if suffix in after}


def test_single_box_has_only_the_box_alarms(stacks: Path) -> None:
    assert set(alarms(stacks, "single-box")) == {"box-cpu", "box-status-check"}


def test_declare_stage_reads_as_an_outline() -> None:
    """The stage's outline fits a screen; each component's args live in its own helper."""
    lines = inspect.getsource(composer.declare_stage).splitlines()
    assert len(lines) <= 80, f"declare_stage is {len(lines)} lines; allowed <= 80"
    # No field-copying wall: no component's args are built in the outline itself.
    assert not [line for line in lines if "Args(" in line]
