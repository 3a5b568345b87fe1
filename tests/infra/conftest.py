"""tests/infra reads the session's 14 plans (tests/conftest.py), as its own copy."""

from __future__ import annotations

import copy

import pytest

from infra.config import ENVIRONMENTS, STAGES
from tests.infra.planq import Plan

STACKS = [(env, stage) for env in ENVIRONMENTS for stage in STAGES]


@pytest.fixture(scope="session")
def plans(stack_plans: dict[tuple[str, str], Plan]) -> dict[tuple[str, str], Plan]:
    return copy.deepcopy(stack_plans)
