"""cost --preview / --state: the stack after a real preview priced, and the change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.plans.preview import UNKNOWN, load_preview, load_state
from infra.review.cost import CostError, before_after, load_assumptions, load_prices

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "engine"
SPLIT = FIX / "preview-dev-split-db.json"
PROD = FIX / "preview-prod-cached-replacements.json"
DEFAULT = FIX / "preview-dev-default-flags.json"
STATE = FIX / "state-dev-single-box.json"


@pytest.fixture(scope="module")
def model():
    return load_prices(), load_assumptions()


def _rows(cost) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in cost.lines:
        out[line.resource] = out.get(line.resource, 0.0) + line.monthly
    return out


def test_created_database_is_priced_and_the_delta_is_its_price(model) -> None:
    table, a = model
    (before, _), (after, _) = before_after(load_preview(SPLIT), load_state(STATE), table, a)
    new = _rows(after)
    assert "database-primary" in new and "database-primary" not in _rows(before)
    added = {"database-primary", "observability-db-primary-cpu"}
    assert after.total - before.total == pytest.approx(sum(new[n] for n in added))
    rds = [ln for ln in after.lines if ln.resource == "database-primary"]
    assert {ln.row for ln in rds} >= {"rds.pg.db.t4g.small.single", "rds.gp3.gb.single"}
    assert after.unpriced == [] and before.unpriced == []
    # the read-only security group and the provider are not this stack's to pay for
    assert "legacy-admin" not in new and "default_7_51_1" not in new


def test_a_value_known_only_after_apply_is_not_priced_and_is_said(model, tmp_path) -> None:
    table, a = model
    doc = json.loads(SPLIT.read_text())
    rds = next(s for s in doc["steps"] if s["urn"].endswith("::database-primary"))
    rds["newState"]["inputs"]["instanceClass"] = UNKNOWN
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    (_, _), (after, target) = before_after(load_preview(path), load_state(STATE), table, a)
    assert "database-primary" not in _rows(after)
    assert (
        "database-primary",
        "aws:rds/instance:Instance",
        "database-primary.inputs.instanceClass: known only after apply",
    ) in after.unpriced
    assert target.unpriced == after.unpriced


def test_replacement_prices_the_new_resource_and_deletes_drop_out(model) -> None:
    table, a = model
    (before, _), (after, _) = before_after(load_preview(PROD), None, table, a)
    assert "observability-box-cpu" in _rows(before) and "observability-box-cpu" not in _rows(after)
    assert "release-artifacts" not in _rows(after)
    assert _rows(after)["cache-redis"] == pytest.approx(_rows(before)["cache-redis"])


def test_a_preview_without_sames_and_no_state_is_refused(model) -> None:
    table, a = model
    with pytest.raises(
        CostError,
        match=r"partial preview cannot be priced: the engine counted 40 `same` "
        r"resource.*--state FILE",
    ):
        before_after(load_preview(DEFAULT), None, table, a)


def test_cli(capsys, model) -> None:
    from infra.review.cost import main

    table, a = model
    (before, _), (after, _) = before_after(load_preview(SPLIT), load_state(STATE), table, a)
    assert main(["--preview", str(SPLIT), "--state", str(STATE), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    delta = after.total - before.total
    assert f"| today | {before.total:,.0f} | {after.total:,.0f} | {delta:+,.0f} |" in out
    assert main(["--preview", str(DEFAULT)]) == 2
    assert "partial preview cannot be priced" in capsys.readouterr().err
    assert main(["dev/cached", "--preview", str(SPLIT)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["--state", str(STATE), "--format", "markdown"]) == 0
    assert f"| today | {before.total:,.0f} |" in capsys.readouterr().out
