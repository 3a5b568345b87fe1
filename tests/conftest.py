"""Fixtures shared by every test area: the 14 offline plans, built once per session.

`stack_plans` holds all (environment, stage) plans from `infra.plans.build.build_plan`.
Planning the 14 stacks costs ~6 s of CPU; tests/program, tests/plans, tests/review and
tests/policy all read them, so the session plans them once and each area's fixture (`plans`
below for tests/program and tests/plans, `real_plans` in tests/review and tests/policy)
takes its own deep copy: a test that mutates a plan cannot
change what another area sees.

Under pytest-xdist (pyproject's addopts) every worker is its own process and would plan all
14 stacks again. The workers of one run share a directory (the parent of their basetemp, new
for every run, so never stale): the first worker to need a stack plans it under that stack's
file lock and pickles it there; the others load the pickle. Each worker starts at its own
offset in the list of stacks, so the workers plan different stacks at the same time.
"""

from __future__ import annotations

import copy
import fcntl
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

Plan = dict[str, Any]
StackKey = tuple[str, str]

_PLANS: dict[StackKey, Plan] = {}
# Where this run's workers share their plans; None outside pytest-xdist (one process).
_SHARED: list[Path] = []


def _stacks() -> list[StackKey]:
    from infra.config import ENVIRONMENTS, STAGES

    return [(env, stage) for env in ENVIRONMENTS for stage in STAGES]


def _build(env: str, stage: str) -> Plan:
    from infra.plans.build import build_plan

    return build_plan(env, stage)


def _shared_plan(shared: Path, env: str, stage: str) -> Plan:
    """The plan from the run's shared directory, built here if no worker has yet."""
    path = shared / f"{env}-{stage}.pickle"
    with (shared / f"{env}-{stage}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if path.exists():
            return pickle.loads(path.read_bytes())
        plan = _build(env, stage)
        partial = path.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
        partial.rename(path)  # whole or absent, even if this worker dies mid-write
        return plan


def _planned(env: str, stage: str) -> Plan:
    """The session's plan of one stack, built on first use (the original dict: copy it)."""
    key = (env, stage)
    if key not in _PLANS:
        _PLANS[key] = _shared_plan(_SHARED[0], env, stage) if _SHARED else _build(env, stage)
    return _PLANS[key]


def _worker_order(keys: list[StackKey]) -> list[StackKey]:
    """The stacks starting at this worker's share of the list (all of them, rotated)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    start = int(worker) * len(keys) // max(count, 1) if worker.isdigit() else 0
    return keys[start:] + keys[:start]


@pytest.fixture(scope="session")
def stack_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[StackKey, Plan]:
    """All 14 plans, keyed (env, stage); read-only by convention: copy before mutating."""
    if "PYTEST_XDIST_WORKER" in os.environ and not _SHARED:
        shared = tmp_path_factory.getbasetemp().parent / "plans"
        shared.mkdir(exist_ok=True)
        _SHARED.append(shared)
    keys = _stacks()
    for key in _worker_order(keys):
        _planned(*key)
    return {key: _PLANS[key] for key in keys}


@pytest.fixture(scope="session")
def plans(stack_plans: dict[StackKey, Plan]) -> dict[StackKey, Plan]:
    """tests/program's and tests/plans' own copy of the 14 plans."""
    return copy.deepcopy(stack_plans)
