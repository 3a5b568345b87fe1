"""policy --preview / --state: the pack on the new state of a real preview."""

from __future__ import annotations

import json
from pathlib import Path

from infra.guard.runner import evaluate_live, main
from infra.plans.preview import UNKNOWN, load_preview, load_state

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "engine"
SPLIT = FIX / "preview-dev-split-db.json"
PROD = FIX / "preview-prod-cached-replacements.json"
STATE = FIX / "state-dev-single-box.json"


def test_prod_replacement_that_drops_tls_is_a_mandatory_violation() -> None:
    report = evaluate_live(load_preview(PROD).new_plan(), "cached")
    assert [(v.policy, v.resource_name) for v in report.mandatory] == [
        ("elasticache-encrypted", "cache-redis")
    ]
    assert report.failed


def test_dev_is_advisory_and_reads_are_not_judged() -> None:
    report = evaluate_live(load_preview(SPLIT).new_plan(load_state(STATE)), "split-db")
    assert not report.mandatory and not report.failed
    # dev's trade-offs on the primary, each accepted with its reason (policies/accepted.yaml)
    assert report.advisory == []
    assert {v.resource_name for v in report.accepted} == {"database-primary"}
    assert all(v.accepted for v in report.accepted)
    # legacy-admin (a read, open to the world on 22) is not this stack's resource
    assert all(v.resource_name != "legacy-admin" for v in report.violations)


def test_an_unknown_value_a_rule_reads_is_the_engines_preview_advisory(tmp_path) -> None:
    doc = json.loads(PROD.read_text())
    # the logical `replace` and its `create-replacement` half carry the same new state
    for step in doc["steps"]:
        if step["op"] in ("replace", "create-replacement"):
            step["newState"]["inputs"]["transitEncryptionEnabled"] = UNKNOWN
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    report = evaluate_live(load_preview(path).new_plan(), "cached")
    assert not report.mandatory
    messages = [v.message for v in report.advisory if v.resource_name == "cache-redis"]
    assert messages == [
        "can't run policy 'elasticache-encrypted' during preview: "
        "string value at .transitEncryptionEnabled can't be known during preview"
    ]


def test_cli_exit_status(capsys) -> None:
    assert main(["--preview", str(PROD)]) == 1
    assert main(["--preview", str(SPLIT), "--state", str(STATE)]) == 0
    assert main(["--state", str(STATE)]) == 0
    assert main(["dev/cached", "--state", str(STATE)]) == 2
    assert "not both" in capsys.readouterr().err
