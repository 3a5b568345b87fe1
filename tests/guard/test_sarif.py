"""`python -m infra policy --format sarif`: SARIF 2.1.0 that the OASIS schema accepts, with
every accepted finding suppressed (kind external) with its reason from accepted.yaml.

The schema is vendored from github:oasis-tcs/sarif-spec, sarif-2.1/schema/
sarif-schema-2.1.0.json at commit a560296ca8c921f3bdb8d4a8db57ab83dae968a7 (the 2.1.0
errata01 schema; id https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/
sarif-schema-2.1.0.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from infra.guard.runner import evaluate, main
from infra.guard.sarif import sarif_log
from policies.accepted import load_accepted

SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture(scope="module")
def log(stack_plans: dict) -> dict[str, Any]:
    reports = [evaluate(stack_plans[key], []) for key in (("prod", "edge"), ("dev", "edge"))]
    return sarif_log(reports)


def test_the_log_is_valid_sarif_2_1_0(log: dict[str, Any]) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert log["version"] == "2.1.0"


def test_a_broken_log_is_refused_by_the_schema(log: dict[str, Any]) -> None:
    # The schema check is real: a result without a message is not SARIF.
    broken = json.loads(json.dumps(log))
    del broken["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(broken)


def test_results_name_their_rule_and_resource(log: dict[str, Any]) -> None:
    run = log["runs"][0]
    ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert len(ids) == len(set(ids))
    for result in run["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        logical = result["locations"][0]["logicalLocations"][0]
        assert logical["fullyQualifiedName"].startswith("urn:pulumi:")
        assert logical["fullyQualifiedName"].endswith(f"::{logical['name']}")


def test_every_accepted_finding_carries_its_reason(log: dict[str, Any]) -> None:
    reasons = {(e.rule, e.resource, e.match): e.reason for e in load_accepted()}
    results = log["runs"][0]["results"]
    # The committed edge stacks report nothing unaccepted: 2 in prod, 11 in dev.
    assert len(results) == 13
    for result in results:
        (suppression,) = result["suppressions"]
        assert suppression["kind"] == "external"
        name = result["locations"][0]["logicalLocations"][0]["name"]
        candidates = [
            reason
            for (rule, resource, match), reason in reasons.items()
            if rule == result["ruleId"]
            and resource == name
            and (match is None or match in result["message"]["text"])
        ]
        assert suppression["justification"] == candidates[0]
    prod = [r for r in results if r["properties"]["stack"] == "prod/edge"]
    assert {(r["ruleId"], r["level"]) for r in prod} == {
        ("s3-kms-cmk", "error"),
        ("cloudfront-own-certificate", "warning"),
    }


def test_cli_writes_sarif(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-checks", "--format", "sarif", "prod/cached"]) == 0
    out = json.loads(capsys.readouterr().out)
    jsonschema.Draft4Validator(SCHEMA).validate(out)
    assert out["runs"][0]["results"] == []
