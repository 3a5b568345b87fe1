"""The mocks engine must not depend on whatever event loop earlier code left behind."""

from __future__ import annotations

import asyncio

from infra.plans.build import build_plan


def test_plan_runs_after_asyncio_run_closed_the_loop() -> None:
    async def noop() -> None:
        return None

    asyncio.run(noop())  # leaves no current loop, as the service tests do
    asyncio.set_event_loop(None)
    plan = build_plan("dev", "single-box")
    assert any(r["type"] == "aws:ec2/instance:Instance" for r in plan["resources"])


def test_plan_runs_after_the_current_loop_was_closed() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.close()
    plan = build_plan("dev", "single-box")
    assert plan["stage"] == "single-box"
