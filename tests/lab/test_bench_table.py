"""`python -m lab table`: the README's tables printed from a bench.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.__main__ import main
from lab.bench_table import stage_table, story_table


def _row(stage: str, rps: float, tier: str, model: float) -> dict:
    return {
        "stage": stage,
        "fleet": {"mode": "ceiling", "instances": {"web": 4} if stage != "split-db" else {}},
        "budgets": {
            "tiers": [
                {"tier": "app", "lab_cpus": 0.16125},
                {"tier": "alb", "lab_cpus": None},
                {"tier": "db-primary", "lab_cpus": 0.0403},
            ]
        },
        "db_reads_per_request": 0.0368,
        "cache_hit_ratio": 0.962 if stage == "cached" else None,
        "edge_hit_ratio": None,
        "steady_state": {"reached": stage != "cached", "seconds": 34.0},
        "model": {"rps": model, "bottleneck": tier},
        "saturation": {"rps": rps, "p99_ms": 188.7, "bottleneck": {"tier": tier, "busy": 0.999}},
    }


def _report() -> dict:
    run1 = [_row("split-db", 84.3, "app", 86.6), _row("cached", 621.9, "db-replica1", 672.2)]
    run2 = [_row("split-db", 76.1, "app", 72.7), _row("cached", 591.1, "app", 565.7)]
    return {
        "stages": run1,
        "runs": [{"stages": run1}, {"stages": run2}],
        "spread": {"split-db": {"spread": 0.1022}, "cached": {"spread": 0.0508}},
        "settings": {"env": "prod"},
    }


def test_the_stage_table_shows_each_run_and_the_first_runs_columns():
    lines = stage_table(_report()).splitlines()
    assert lines[0].startswith("| stage | fleet | budgets (lab CPU) | holds rps (runs) |")
    cached = lines[3].split(" | ")
    assert cached[1:5] == ["web 4", "app 0.161, db-primary 0.040", "622 / 591", "5.1%"]
    assert cached[5] == "db-replica1 (100%)"
    assert cached[6:9] == ["672 / 566", "db-replica1", "0.93 / 1.04"]
    assert cached[-3:] == ["96.2%", "-", "34 s (not reached) |"]
    assert lines[2].split(" | ")[1] == "-"  # split-db: no auto-scaled fleet


def test_the_story_table_compares_each_stage_with_the_one_before_and_the_spec():
    # What the stage table's next stage removes (stacks/*.yaml `removes`).
    removes = {"load-balanced": "app", "read-replicas": "db-primary"}
    lines = story_table(_report(), removes).splitlines()
    # split-db's next stage is load-balanced (the stage table's order), not the next benched.
    assert lines[2] == "| split-db | - | app / app | load-balanced: app | yes / yes |"
    # run 1's cached ran out of a replica: the specs' db-replicas tier.
    assert lines[3] == (
        "| cached | 7.38x / 7.77x | db-replicas / app | read-replicas: db-primary "
        "| **no** / **no** |"
    )


def test_input_stages_are_marked_and_older_rows_print_dashes():
    report = _report()
    report["runs"][0]["stages"][1]["model"]["input_stage"] = True
    del report["runs"][0]["stages"][0]["steady_state"]
    lines = stage_table(report).splitlines()
    assert lines[3].split(" | ")[8] == "0.93 (in) / 1.04"
    assert lines[2].endswith("| - |")


def test_the_command_prints_both_tables_and_refuses_a_directory_without_a_bench(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    (tmp_path / "bench.json").write_text(json.dumps(_report()))
    assert main(["table", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| holds, x the stage before (runs) |" in out and "| 622 / 591 |" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["table", "--out", str(empty)]) != 0
    assert "no bench.json there" in capsys.readouterr().err
