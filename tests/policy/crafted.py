"""Crafted plan resources (the plan-file shape) and a way to run one rule on them."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import EnforcementLevel

from policies.offline import Violation, analyze
from policies.rules import ALL_POLICIES
from tests.plans.fake import res


def tags(env: str = "prod", stage: str = "load-balanced") -> dict[str, str]:
    return {"project": "movies", "stage": stage, "environment": env, "owner": "platform-team"}


def resource(
    type_: str,
    name: str,
    inputs: dict[str, Any] | None = None,
    *,
    outputs: dict[str, Any] | None = None,
    protect: bool = False,
    dependencies: list[dict[str, Any]] | None = None,
    id_: str | None = None,
) -> dict[str, Any]:
    """A resource of the stack `test`, from the one fake-plan builder."""
    return res(
        type_,
        name,
        inputs,
        outputs=outputs,
        protect=protect,
        dependencies=dependencies,
        id_=id_,
        stack="test",
    )


def run(policy: str, *resources: dict[str, Any]) -> list[Violation]:
    """The violations one rule reports on these resources, at mandatory level."""
    chosen = [p for p in ALL_POLICIES if p.name == policy]
    assert chosen, f"no policy named {policy}"
    return analyze(list(resources), {policy: EnforcementLevel.MANDATORY}, chosen)


def messages(policy: str, *resources: dict[str, Any]) -> list[str]:
    return [violation.message for violation in run(policy, *resources)]


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
