"""Fixtures shared by every test area: the 14 offline plans, built once per session.

`stack_plans` holds all (environment, stage) plans from `infra.plans.build.build_plan`.
Planning the 14 stacks costs ~6 s of CPU; tests/program, tests/plans, tests/review and
tests/policy all read them, so the session plans them once and each area's fixture (`plans`
below for tests/program and tests/plans, `real_plans` in tests/review and tests/policy)
takes its own deep copy: a test that mutates a plan cannot
change what another area sees.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

Plan = dict[str, Any]
StackKey = tuple[str, str]

_PLANS: dict[StackKey, Plan] = {}


def _stacks() -> list[StackKey]:
    from infra.config import ENVIRONMENTS, STAGES

    return [(env, stage) for env in ENVIRONMENTS for stage in STAGES]


def _planned(env: str, stage: str) -> Plan:
    """The session's plan of one stack, built on first use (the original dict: copy it)."""
    key = (env, stage)
    if key not in _PLANS:
        from infra.plans.build import build_plan

        _PLANS[key] = build_plan(env, stage)
    return _PLANS[key]


@pytest.fixture(scope="session")
def stack_plans() -> dict[StackKey, Plan]:
    """All 14 plans, keyed (env, stage); read-only by convention: copy before mutating."""
    return {key: _planned(*key) for key in _stacks()}


@pytest.fixture(scope="session")
def plans(stack_plans: dict[StackKey, Plan]) -> dict[StackKey, Plan]:
    """tests/program's and tests/plans' own copy of the 14 plans."""
    return copy.deepcopy(stack_plans)
