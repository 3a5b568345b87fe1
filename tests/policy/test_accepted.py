"""policies/accepted.yaml: parsed strictly, the docs table rendered from it, the pack
dropping what is accepted everywhere and nothing else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from infra import REPO_ROOT
from policies.accepted import AcceptedError, load_accepted, markdown_table, pack_policies, parse
from policies.offline import analyze, enforcement_levels, load_config
from policies.rules import ALL_POLICIES

RULES = [p.name for p in ALL_POLICIES]
GOOD = {
    "rule": "s3-kms-cmk",
    "resource": "media-bucket",
    "environments": ["prod"],
    "stages": "edge",
    "reason": "why",
}


def test_the_committed_file_parses() -> None:
    entries = load_accepted()
    assert {e.rule for e in entries} <= set(RULES)
    assert all(e.reason for e in entries)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"rule": "no-such-rule"}, r"\[0\]\.rule: 'no-such-rule' is no policy"),
        ({"environments": ["staging"]}, r"\[0\]\.environments: \['staging'\]; allowed"),
        ({"reason": ""}, r"\[0\]\.reason: expected a non-empty string"),
        ({"colour": "red"}, r"\[0\]: unknown keys \['colour'\]"),
    ],
)
def test_bad_entries_get_one_line(change: dict[str, Any], error: str) -> None:
    with pytest.raises(AcceptedError, match=error) as caught:
        parse([{**GOOD, **change}], RULES)
    assert "\n" not in str(caught.value)


def test_a_missing_key_is_named() -> None:
    entry = {k: v for k, v in GOOD.items() if k != "reason"}
    with pytest.raises(AcceptedError, match=r"\[0\]\.reason: required key is missing"):
        parse([entry], RULES)


def test_docs_table_is_rendered_from_the_file() -> None:
    doc = (Path(REPO_ROOT) / "docs" / "policy.md").read_text()
    assert markdown_table() in doc


def test_pack_drops_only_what_is_accepted_everywhere(stack_plans: dict) -> None:
    plan = stack_plans[("prod", "edge")]
    levels = enforcement_levels(load_config("prod"))
    plain = {(v.policy, v.resource_name) for v in analyze(plan["resources"], levels)}
    packed = {
        (v.policy, v.resource_name)
        for v in analyze(plan["resources"], levels, pack_policies(ALL_POLICIES))
    }
    assert plain == {
        ("s3-kms-cmk", "media-bucket"),
        ("cloudfront-own-certificate", "edge-distribution"),
    }
    assert packed == set()
    # A dev-only acceptance is not applied by the pack (it cannot tell the environment).
    dev = stack_plans[("dev", "cached")]
    dev_levels = enforcement_levels(load_config("dev"))
    dev_packed = analyze(dev["resources"], dev_levels, pack_policies(ALL_POLICIES))
    assert len(dev_packed) == 8


def test_the_pack_still_reports_an_unaccepted_bucket(stack_plans: dict) -> None:
    import copy

    plan = copy.deepcopy(stack_plans[("prod", "edge")])
    sse = next(r for r in plan["resources"] if r["name"] == "release-artifacts-encryption")
    for side in ("inputs", "outputs"):
        del sse[side]["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
    levels = enforcement_levels(load_config("prod"))
    found = analyze(plan["resources"], levels, pack_policies(ALL_POLICIES))
    assert [(v.policy, v.resource_name) for v in found] == [("s3-kms-cmk", "release-artifacts")]
    assert re.search("customer-managed", found[0].message)
