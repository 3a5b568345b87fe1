"""The report's cost-against-load chart and the rehearsed-moves column: the SVG, the figures
in report.md (computed through the same functions), and the report without lab results."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path

import pytest

from infra.capacity.checks import model_inputs, stage_checks
from infra.config import STAGES, load_stack_config, replace
from infra.review import report
from infra.review.report import figures
from infra.review.report.figures import FiguresError
from infra.review.report.render import CHART
from tests.review.test_report import crafted_plans

# No server, but long enough that xdist should start it early (tests/conftest.py).
pytestmark = pytest.mark.wall(5)  # seconds alone

SVG = "{http://www.w3.org/2000/svg}"
SATURATION = figures.SATURATION


def _saturation(tmp_path: Path, drop: tuple[str, ...] = ()) -> Path:
    """The repo's saturation.json with some stages removed."""
    doc = json.loads(SATURATION.read_text())
    for stage in drop:
        del doc["stages"][stage]
    path = tmp_path / "saturation.json"
    path.write_text(json.dumps(doc))
    return path


def _moves(tmp_path: Path) -> Path:
    """A small hand-made moves.json: one move rehearsed, one skipped, one in dev."""
    doc = {
        "run_seconds": 12.0,
        "moves": [
            {
                "move": "edge -> scale-5x",
                "env": "prod",
                "before": {"errors": 0, "offered": 100},
                "during": {"errors": 7, "offered": 1234, "errors_by_status": {"503": 7}},
                "after": {"errors": 0, "offered": 100},
                "longest_error_window_aws_s": 42.5,
                "writes": {"acknowledged": 50, "lost": 0},
            },
            {"move": "single-box -> split-db", "env": "prod", "not_rehearsed": "unmapped steps: x"},
            {
                "move": "cached -> read-replicas",
                "env": "dev",
                "during": {"errors": 99, "offered": 99},
                "longest_error_window_aws_s": 1.0,
                "writes": {"lost": 3},
            },
        ],
    }
    path = tmp_path / "moves.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[list[report.StageRow], str, str, Path]:
    out = tmp_path_factory.mktemp("report")
    rows = report.collect(
        crafted_plans(), out, saturation=_saturation(out, drop=("cached",)), moves=_moves(out)
    )
    html, md = report.render(rows, out)
    return rows, html.read_text(), md.read_text(), out


def _md_table(md: str, header_start: str) -> list[list[str]]:
    lines = md.splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith(header_start))
    rows = []
    for ln in lines[i + 2 :]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip("|").split("|")])
    return rows


def _whole(x: float) -> str:
    return f"{x:,.0f}"


def test_svg_is_xml_with_seven_model_points_labelled_axes(built) -> None:
    rows, html, _, out = built
    root = ET.parse(out / CHART).getroot()
    assert root.tag == f"{SVG}svg"
    by_series: dict[str, list[str]] = {}
    for el in root.iter():
        if "data-series" in el.attrib:
            by_series.setdefault(el.attrib["data-series"], []).append(el.attrib["data-stage"])
    assert by_series["model"] == list(STAGES)
    # cached was dropped from the lab's results: six lab points, and no invented one.
    assert by_series["lab"] == [s for s in STAGES if s != "cached"]
    texts = {el.get("class"): "".join(el.itertext()) for el in root.iter(f"{SVG}text")}
    assert "requests/s" in texts["axis-x"] and "$/month" in texts["axis-y"]
    labels = " ".join("".join(el.itertext()) for el in root.iter(f"{SVG}text"))
    for r in rows:
        assert f"{r.index}. {r.stage}" in labels
    assert html.count("<svg") == len(STAGES) + 1  # the chart inline, beside the diagrams


def test_svg_has_seven_points_per_series_with_every_stage_measured(tmp_path) -> None:
    rows = report.collect(crafted_plans(), tmp_path, saturation=SATURATION, moves=tmp_path / "x")
    report.render(rows, tmp_path)
    root = ET.parse(tmp_path / CHART).getroot()
    for series in ("model", "lab"):
        stages = [el.get("data-stage") for el in root.iter() if el.get("data-series") == series]
        assert stages == list(STAGES), series


def test_md_figures_are_the_models_and_the_labs(built) -> None:
    rows, _, md, _ = built
    table = _md_table(md, "| # | stage | prod today")
    assert [t[1] for t in table] == [f"`{s}`" for s in STAGES]
    w, rates, obs = model_inputs()
    lab = figures.lab_rates(_saturation(Path(built[3]), drop=("cached",)))
    for r, cells in zip(rows, table, strict=True):
        ceiling = figures.model_ceiling(load_stack_config("prod", r.stage).stage, w, rates, obs)
        assert ceiling.rps is not None
        assert cells[2] == f"${r.prod_today.total:,.0f}"
        assert cells[3] == _whole(ceiling.rps)
        assert cells[4] == _whole(ceiling.hits_per_day)
        assert cells[5].startswith(f"{ceiling.tier} {ceiling.measure}")
        if r.stage == "cached":
            assert cells[6:9] == ["not measured"] * 3
        else:
            assert cells[6] == f"{lab[r.stage].lab_rps:.1f}"
            assert cells[7] == _whole(lab[r.stage].aws_rps)


def test_lab_rate_is_the_measured_rate_over_the_labs_scale() -> None:
    doc = json.loads(SATURATION.read_text())
    rates = figures.lab_rates(SATURATION)
    factor = doc["scale"]["lab_cpu_per_vcpu"]
    for stage, row in doc["stages"].items():
        assert rates[stage].aws_rps == pytest.approx(row["measured_rps"] / factor)


def test_model_ceiling_is_where_the_first_check_runs_out() -> None:
    w, rates, obs = model_inputs()
    spec = load_stack_config("prod", "split-db").stage
    c = figures.model_ceiling(spec, w, rates, obs)
    assert c.multiplier is not None and c.rps == pytest.approx(figures.peak_rps(w, c.multiplier))

    def out(m: float) -> set[tuple[str, str]]:
        grown = replace(w, hits_per_day=w.hits_per_day * m)
        return {
            (k.tier, k.measure)
            for k in stage_checks(spec, grown, rates, obs)
            if k.capacity is not None and k.load_today > k.capacity
        }

    assert (c.tier, c.measure) in out(c.multiplier)
    assert not out(c.multiplier / 1.002)  # nothing ran out just below


def test_moves_column_from_a_hand_made_moves_json(built) -> None:
    rows, html, md, _ = built
    table = _md_table(md, "| move | declared")
    by_move = {t[0].strip("`"): t for t in table}
    assert set(by_move) == {f"{a} → {b}" for a, b in pairwise(STAGES)}
    five = by_move["edge → scale-5x"]
    assert five[1] == rows[-1].move_declared and five[1]
    assert five[2:] == ["7 of 1,234", "42.5", "0"]
    assert by_move["single-box → split-db"][2] == "not rehearsed: unmapped steps: x"
    # the dev entry is not prod's: that prod move was not rehearsed
    assert by_move["cached → read-replicas"][2:] == ["not rehearsed"] * 3
    assert "7 of 1,234" in html and "not rehearsed: unmapped steps: x" in html


def test_report_builds_without_any_lab_results(tmp_path) -> None:
    rows = report.collect(
        crafted_plans(), tmp_path, saturation=tmp_path / "none.json", moves=tmp_path / "no.json"
    )
    html_path, md_path = report.render(rows, tmp_path)
    md, html = md_path.read_text(), html_path.read_text()
    assert all(r.lab is None and r.move is None for r in rows)
    table = _md_table(md, "| # | stage | prod today")
    assert all(t[6:9] == ["not measured"] * 3 for t in table)
    assert "not measured (no `lab/results/saturation.json`" in md
    assert html.count("not measured") >= len(STAGES)
    root = ET.parse(tmp_path / CHART).getroot()
    assert not [el for el in root.iter() if el.get("data-series") == "lab"]
    moves = _md_table(md, "| move | declared")
    assert all(t[2:] == ["not rehearsed"] * 3 for t in moves)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"moves": {}}, "needs a list 'moves'"),
        ({"moves": [{"move": 3}]}, "needs a string 'move'"),
        ({"moves": [{"move": "a -> b", "during": {}, "writes": {}}]}, "longest_error_window"),
        (
            {
                "moves": [
                    {
                        "move": "a -> b",
                        "during": {"errors": -1, "offered": 1},
                        "writes": {"lost": 0},
                        "longest_error_window_aws_s": 0,
                    }
                ]
            },
            "errors is -1",
        ),
    ],
)
def test_a_malformed_moves_json_is_one_line(tmp_path, doc, message) -> None:
    path = tmp_path / "moves.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FiguresError, match=re.escape(message)) as info:
        figures.moves(path)
    assert "\n" not in str(info.value)


def test_a_saturation_without_a_scale_is_one_line(tmp_path) -> None:
    path = tmp_path / "saturation.json"
    path.write_text(json.dumps({"stages": {"edge": {"measured_rps": 3}}}))
    with pytest.raises(FiguresError, match="needs objects 'scale' and 'stages'"):
        figures.lab_rates(path)
