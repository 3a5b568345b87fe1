"""Fixtures shared by every test area: the 14 offline plans, built once per session.

`stack_plans` holds all (environment, stage) plans from `infra.plan.build_plan`. Planning
the 14 stacks costs ~6 s of CPU; tests/infra, tests/review and tests/policy all read them,
so the session plans them once and each area takes its own deep copy (a test that mutates
a plan cannot change what another area sees).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
        from infra.plan import build_plan

        # Under session_build_plan the module attribute is the wrapper: build with the real one.
        build = getattr(build_plan, "__wrapped__", build_plan)
        _PLANS[key] = build(env, stage)
    return _PLANS[key]


@pytest.fixture(scope="session")
def stack_plans() -> dict[StackKey, Plan]:
    """All 14 plans, keyed (env, stage); read-only by convention: copy before mutating."""
    return {key: _planned(*key) for key in _stacks()}


@contextmanager
def session_build_plan() -> Iterator[Callable[..., Plan]]:
    """While active, `infra.plan.build_plan(env, stage)` answers from the session's plans.

    For test modules that call `build_plan` in their own fixtures: a deep copy of the
    session plan, the same dict a fresh build gives (plans are deterministic). Calls with
    `artifact=` or `template=` still build.
    """
    import infra.plan

    # The real function, also when another area's conftest has already wrapped it.
    original = getattr(infra.plan.build_plan, "__wrapped__", infra.plan.build_plan)

    def build_plan(env: str, stage: str, **overrides: Any) -> Plan:
        if overrides:
            return original(env, stage, **overrides)
        return copy.deepcopy(_planned(env, stage))

    build_plan.__wrapped__ = original  # type: ignore[attr-defined]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(infra.plan, "build_plan", build_plan)
        yield build_plan
