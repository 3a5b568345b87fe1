"""Helpers for the data-tier component tests: run one component under infra.plans.mocks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.plans.mocks import ProgramRun, RecordedResource, run_program
from infra.program.components.observability import Observability, ObservabilityArgs

REGION = "us-east-1"
ACCOUNT = "123456789012"


class Runner:
    """Runs a program under the project's mocks and finds what it declared."""

    def __call__(
        self, program: Callable[[], None], env: str = "dev", region: str = REGION
    ) -> ProgramRun:
        return run_program(program, project="movies", stack=env, region=region)

    @staticmethod
    def one(run: ProgramRun, type_token: str, name: str | None = None) -> RecordedResource:
        found = [r for r in run.by_type(type_token) if name is None or r.name == name]
        assert len(found) == 1, f"{type_token} {name}: {[r.name for r in run.by_type(type_token)]}"
        return found[0]

    @staticmethod
    def dump(run: ProgramRun) -> str:
        """Everything a reviewer could see: inputs, outputs and exports of every resource."""
        body: dict[str, Any] = {
            "resources": [r.to_plan() for r in run.resources],
            "exports": run.exports,
        }
        return json.dumps(body, sort_keys=True)


@pytest.fixture
def runner() -> Runner:
    return Runner()


@pytest.fixture
def alarm_sink() -> Callable[..., Observability]:
    """Makes the stage's alarm sink inside a program, as declare_stage does."""

    def make(env: str = "dev", region: str = REGION) -> Observability:
        return Observability(
            "observability",
            ObservabilityArgs(project="movies", environment=env, region=region, account_id=ACCOUNT),
        )

    return make
