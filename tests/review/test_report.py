"""infra.review.report renders every stage: on crafted plans and on the session's real plans."""

from __future__ import annotations

import copy
import re

import pytest

from infra.config import ENVIRONMENTS, STAGES
from infra.plans.load import PlanRefError
from infra.review import cost, report
from tests.review.plans import wired_stack

# No server, but long enough that xdist should start it early (tests/conftest.py).
pytestmark = pytest.mark.wall(4)  # seconds alone


def crafted_plans() -> dict[tuple[str, str], dict]:
    plans = {}
    for env in ENVIRONMENTS:
        for i, stage in enumerate(STAGES):
            doc = wired_stack(env, stage)
            if i < 5:  # no CDN and no bucket before the edge stage
                doc["resources"] = [
                    r for r in doc["resources"] if r["name"] not in ("cdn", "media")
                ]
            plans[(env, stage)] = doc
    return plans


def _check_rendered(html: str, md: str) -> None:
    for i, stage in enumerate(STAGES, start=1):
        assert f'id="{stage}"' in html, stage
        assert f"## {i}. {stage}" in md, stage
    assert html.count("<svg") == len(STAGES) + 1  # the diagrams and the cost-load chart
    assert "{{" not in html and "{%" not in html and "{{" not in md


@pytest.fixture(scope="module")
def crafted_report(tmp_path_factory: pytest.TempPathFactory):
    """The report of the crafted plans, collected and rendered once for the module (~1.5 s
    of CPU with its graphviz runs): (rows, html, md, the directory). The tests only read it."""
    out = tmp_path_factory.mktemp("crafted-report")
    rows = report.collect(crafted_plans(), out)
    html_path, md_path = report.render(rows, out)
    return rows, html_path.read_text(), md_path.read_text(), out


def test_report_renders_every_stage_from_crafted_plans(crafted_report) -> None:
    rows, html, md, tmp_path = crafted_report

    _check_rendered(html, md)
    # The edge stage's diff shows the CDN and the bucket as added, nothing stateful lost.
    edge = rows[STAGES.index("edge")]
    assert {e.name for e in edge.diff.of("add")} == {"cdn", "media"}
    assert not edge.diff.blocking
    assert edge.prod_delta == pytest.approx(edge.prod_today.total - rows[4].prod_today.total)
    for name in ("dev-edge.svg", "prod-edge.png"):
        assert (tmp_path / "diagrams" / name).exists()


def test_report_needs_all_fourteen_plans(tmp_path) -> None:
    plans = crafted_plans()
    del plans[("prod", "edge")]
    with pytest.raises(PlanRefError, match="missing: prod/edge"):
        report.collect(plans, tmp_path)


def test_stage_text_reads_the_spec() -> None:
    summary, reason = report.stage_text("cached")
    assert "ElastiCache" in summary and reason


@pytest.fixture(scope="session")
def real_plans(stack_plans: dict[tuple[str, str], dict]) -> dict[tuple[str, str], dict]:
    """The session's 14 plans (tests/conftest.py), copied: the report must not see edits."""
    return {(e, s): copy.deepcopy(stack_plans[(e, s)]) for e in ENVIRONMENTS for s in STAGES}


def test_report_renders_every_stage_from_real_plans(real_plans, tmp_path) -> None:
    rows = report.collect(real_plans, tmp_path)
    html_path, md_path = report.render(rows, tmp_path)
    _check_rendered(html_path.read_text(), md_path.read_text())
    for r in rows:
        assert r.prod_today.total > 0 and r.dev.total > 0
        if r.diff is not None:
            assert not r.diff.blocking, (r.stage, [e.reasons for e in r.diff.blocking])
    table = cost.load_prices()
    lines = [ln for r in rows for ln in (*r.prod_today.lines, *r.dev.lines)]
    assert lines and all(ln.row in table.rows for ln in lines)
    assert all(re.search(r"\$[\d,.]+$", ln.how) for ln in lines)


def test_report_lists_every_price_row_it_uses(crafted_report) -> None:
    rows, html, md, _ = crafted_report
    used = {ln.row for r in rows for ln in (*r.dev.lines, *r.prod_today.lines)}
    assert used
    for row_id in used:
        assert f"<code>{row_id}</code></td><td>" in html.split('id="prices"')[1], row_id
        assert f"| `{row_id}` |" in md.split("## Price rows used")[1], row_id
