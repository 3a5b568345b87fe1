"""`lab bench --repeat N`: every run recorded, and each stage's spread across them."""

from __future__ import annotations

import pytest

from lab.bench import (
    SPREAD_TARGET,
    BenchSettings,
    report_doc,
    spread,
    spread_by_stage,
    table_text,
)
from lab.budgets import StageLoad, choose_scale


def _row(stage: str, rps: float, tier: str = "app") -> dict:
    return {
        "stage": stage,
        "fleet": {"mode": "ceiling", "instances": {"web": 2}},
        "topology": {"replicas": 0},
        "db_reads_per_request": 0.05,
        "replica_read_share": None,
        "cache_hit_ratio": 0.9,
        "edge_hit_ratio": None,
        "steady_state": {"reached": True, "seconds": 40.0},
        "budgets": {"tiers": [{"tier": "app", "lab_cpus": 0.2}]},
        "saturation": {
            "rps": rps,
            "p99_ms": 50.0,
            "bottleneck": {"tier": tier, "busy": 0.95, "cpu_bound": True},
            "at_best": None,
            "hit_ratios": [{"rate": rps, "cache_hit_ratio": 0.9, "edge_hit_ratio": None}],
        },
    }


def test_spread_is_max_minus_min_over_the_median():
    assert spread([100.0, 115.0]) == pytest.approx(15 / 107.5, abs=1e-4)
    assert spread([200.0, 100.0, 150.0]) == pytest.approx(100 / 150, abs=1e-4)
    assert spread([42.0]) == 0.0
    assert spread([]) is None
    assert spread([0.0, 0.0]) is None


def test_spread_by_stage_says_which_stages_repeat():
    runs = [
        [_row("load-balanced", 200.0), _row("cached", 400.0)],
        [_row("load-balanced", 210.0), _row("cached", 600.0, "redis")],
    ]
    got = spread_by_stage(runs)
    assert list(got) == ["load-balanced", "cached"]
    assert got["load-balanced"]["rps"] == [200.0, 210.0]
    assert got["load-balanced"]["within_target"] is True
    assert got["cached"]["spread"] == pytest.approx(200 / 500)
    assert got["cached"]["within_target"] is False
    assert got["cached"]["bottlenecks"] == ["app", "redis"]
    # One run: nothing to agree with.
    assert spread_by_stage(runs[:1])["cached"]["within_target"] is None


def test_the_repeat_record_keeps_every_run_and_the_spread():
    bs = BenchSettings(scale=0.05, repeat=2)
    choice = choose_scale({"scale-5x": StageLoad(24, 10000, 1.0)}, cores=2)
    runs = [
        {"run": i, "date": f"d{i}", "wall_seconds": 100.0, "loadavg_1m_at_end": 1.0,
         "stages": [_row("load-balanced", 200.0 + i), _row("cached", 420.0 - i)]}
        for i in (1, 2)
    ]  # fmt: skip
    report = report_doc(bs, choice, runs)
    assert report["stages"] == runs[0]["stages"]  # what the capacity model reads
    assert [r["run"] for r in report["runs"]] == [1, 2]
    assert report["wall_seconds"] == 200.0
    assert report["scale"]["lab_cpu_per_vcpu"] == 0.05 and report["scale"]["derived"] is False
    assert report["settings"]["repeat"] == 2 and report["settings"]["fleet"] == "ceiling"
    assert set(report["spread"]) == {"load-balanced", "cached"}
    agree = [t for t in report["targets"] if t["target"].startswith("runs agree")]
    assert {t["stage"] for t in agree} == {"load-balanced", "cached"}
    assert all(t["threshold"] == SPREAD_TARGET and t["met"] is True for t in agree)
    text = table_text(report)
    assert "2 runs" in text and "201 / 202" in text
    assert "0.05 lab CPU per AWS vCPU for every stage (lab/budgets.py" in text
    # A single run has no `runs` or `spread`.
    single = report_doc(bs, choice, runs[:1])
    assert "runs" not in single and "spread" not in single
