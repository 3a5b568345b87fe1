"""`stack.up` of a stage with the ALB stand-in reads the stage's target groups from its
plan (lab/alb.py `program_target_groups`: the Pulumi program run under the mocks, ~4
CPU-seconds). The test session plans every stack already (tests/conftest.py `stack_plan`,
built once and shared by the pytest-xdist workers of a run); `session_plan` hands the lab
that same plan (the same `build_plan(env, stage)` call) instead of planning it again."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def session_plan(
    stack_plan: Callable[[str, str], dict[str, Any]], env: str, stage: str
) -> Iterator[None]:
    """Within the block, `infra.plans.build.build_plan(env, stage)` is the session's plan."""
    from infra.plans import build

    plan = stack_plan(env, stage)  # planned (or loaded) before build_plan is replaced
    real = build.build_plan

    def build_plan(e: str, s: str, **kw: Any) -> dict[str, Any]:
        if (e, s) == (env, stage) and not kw:
            return copy.deepcopy(plan)  # the session's is read-only
        return real(e, s, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(build, "build_plan", build_plan)
        yield
