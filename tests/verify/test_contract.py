"""verify's expectations against what the Pulumi program really exports (run under mocks):
the output keys a stage must have, and the ASG Name tag verify reads a tier's role from."""

from __future__ import annotations

from typing import Any

import pytest

from infra import verify


def exports(plan: dict[str, Any]) -> dict[str, Any]:
    (stack,) = [r for r in plan["resources"] if r["type"] == "pulumi:pulumi:Stack"]
    return stack["outputs"]


@pytest.mark.parametrize(("env", "stage"), [("prod", "scale-5x"), ("prod", "single-box")])
def test_program_exports_everything_verify_needs(env: str, stage: str, stack_plan) -> None:
    # The session's plan (tests/conftest.py: the program under the mocks, once per run).
    plan = stack_plan(env, stage)
    outputs = exports(plan)
    cfg = verify.stack_config(env, outputs)
    assert cfg.name == f"{env}/{stage}"
    assert verify.check_outputs(outputs, cfg) == []
    if stage == "scale-5x":
        # verify tells the web ASG from the search ASG by the Name tag's suffix.
        roles = {}
        for r in plan["resources"]:
            if r["type"] == "aws:autoscaling/group:Group":
                tags = [{"Key": t["key"], "Value": t["value"]} for t in r["inputs"].get("tags", [])]
                roles[r["name"]] = verify._role({"Tags": tags})
        assert roles == {"web-asg": "web", "search-asg": "search"}
