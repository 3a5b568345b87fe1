"""All 14 stacks planned once per session (the suite's only program runs, mostly)."""

from __future__ import annotations

import pytest

from infra.config import ENVIRONMENTS, STAGES
from infra.plan import build_plan
from tests.infra.planq import Plan

STACKS = [(env, stage) for env in ENVIRONMENTS for stage in STAGES]


@pytest.fixture(scope="session")
def plans() -> dict[tuple[str, str], Plan]:
    return {(env, stage): build_plan(env, stage) for env, stage in STACKS}
