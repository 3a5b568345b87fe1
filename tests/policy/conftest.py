"""tests/policy: `infra.plan.build_plan` answers from the session's 14 plans (tests/conftest.py).

test_real_stacks' own fixture calls `build_plan(env, stage)` for every stack; this routes
those calls to the plans tests/infra and tests/review use too, instead of planning again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import session_build_plan


@pytest.fixture(scope="session", autouse=True)
def _plans_built_once_per_session() -> Iterator[None]:
    with session_build_plan():
        yield
