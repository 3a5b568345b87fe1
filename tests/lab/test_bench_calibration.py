"""The bench's model is calibrated on the run it is checked against (lab/bench.py
`run_calibration`, `calibrate_run`), with each tier priced at the stage's ceiling (`at_ceiling`)."""

from __future__ import annotations

import copy
import json

import pytest

from infra.capacity.inputs import CAPACITY_FILE, CapacityFile, load_rates
from infra.capacity.lab_scale import predict
from lab.bench import (
    SATURATED_BUSY,
    BenchSettings,
    at_ceiling,
    calibrate_run,
    calibrated_on,
    priced_rows,
    run_calibration,
)
from lab.state import REPO


def _pinned_rows() -> dict[str, dict]:
    path = REPO / CapacityFile.load(CAPACITY_FILE).measured_bench
    return {r["stage"]: r for r in json.loads(path.read_text())["stages"]}


def _with_best(row: dict, done: float, tiers: dict[str, tuple[float, float]]) -> dict:
    """`row` with a best probe that completed `done` requests/s, each tier at (cpus, busy)."""
    out = copy.deepcopy(row)
    out["saturation"] = {
        "at_best": {
            "completed_rps": done,
            "tiers": {t: {"cpus": c, "busy": b} for t, (c, b) in tiers.items()},
        }
    }
    return out


def test_at_ceiling_prices_each_tier_at_the_best_probe():
    row = {"stage": "cached", "tier_cpu_ms_per_request": {"app": 0.466, "redis": 0.047}}
    got = at_ceiling(_with_best(row, 622.0, {"app": (0.1611, 0.999), "redis": (0.0131, 0.33)}))
    assert got["tier_cpu_ms_per_request"]["app"] == pytest.approx(1000 * 0.1611 / 622.0, abs=1e-4)
    # A data tier is priced at the ceiling whether or not it ran out there.
    assert got["tier_cpu_ms_per_request"]["redis"] == pytest.approx(1000 * 0.0131 / 622.0, abs=1e-4)
    assert row["tier_cpu_ms_per_request"]["app"] == 0.466  # the input is left as it was


def _path_row(stage: str, redis: bool, app_ms: float, busy: float) -> dict:
    row = {
        "stage": stage,
        "topology": {"redis": redis, "edge": False},
        "tier_cpu_ms_per_request": {"app": 2 * app_ms, "db-primary": 0.25},
        # A stage with Redis prices its path only with a measured hit ratio (app_paths.path_of).
        "cache_hit_ratio": 0.96 if redis else None,
    }
    return _with_best(row, 100.0, {"app": (app_ms / 10, busy), "db-primary": (0.02, 0.5)})


def test_an_app_that_did_not_run_out_does_not_price_its_path_when_another_row_did():
    rows = {
        "split-db": _path_row("split-db", False, 0.47, 1.0),
        "load-balanced": _path_row("load-balanced", False, 0.84, SATURATED_BUSY - 0.02),
        "cached": _path_row("cached", True, 0.30, SATURATED_BUSY - 0.02),
        "read-replicas": _path_row("read-replicas", True, 0.22, 1.0),
    }
    priced = priced_rows(rows, keep="cached")
    assert priced["split-db"]["app_ran_out"] and not priced["load-balanced"]["app_ran_out"]
    assert "app" not in priced["load-balanced"]["tier_cpu_ms_per_request"]
    # The DB's price stays: only the app's depends on its own tier having run out.
    assert priced["load-balanced"]["tier_cpu_ms_per_request"]["db-primary"] == 0.2
    # The app's rate per vCPU comes from `keep`'s row, whether or not its app ran out.
    assert priced["cached"]["tier_cpu_ms_per_request"]["app"] == pytest.approx(0.30)
    assert calibrated_on(priced, "split-db") == ["cached", "read-replicas", "split-db"]
    # A path where no app ran out keeps every row's ceiling price.
    alone = priced_rows({"load-balanced": rows["load-balanced"]}, keep="cached")
    assert alone["load-balanced"]["tier_cpu_ms_per_request"]["app"] == pytest.approx(0.84)
    assert rows["load-balanced"]["tier_cpu_ms_per_request"]["app"] == 1.68  # inputs untouched


def test_a_row_without_a_best_probe_keeps_its_steady_state_costs():
    row = {"stage": "split-db", "tier_cpu_ms_per_request": {"app": 0.6}, "saturation": {}}
    assert at_ceiling(row) == row
    nothing = _with_best(row, 0.0, {"app": (0.04, 1.0)})
    assert at_ceiling(nothing)["tier_cpu_ms_per_request"] == {"app": 0.6}


def test_the_runs_own_rows_replace_the_pinned_ones_in_the_model_inputs():
    pinned = _pinned_rows()
    cached = pinned["cached"]
    ms = cached["tier_cpu_ms_per_request"]["app"]
    # The same run on a machine whose CPU-second did half as much at the ceiling: the
    # tiers' CPU at the best probe doubled (the steady-state window's left as it was: the
    # model is priced at the ceiling).
    slow = copy.deepcopy(cached)
    best = slow["saturation"]["at_best"]
    for t in best["tiers"].values():
        t["cpus"] = 2 * t["cpus"]
    _, rates, _ = run_calibration([slow])[0]
    _, as_run, _ = run_calibration([cached])[0]
    pinned_rates, _ = load_rates()
    assert rates.sources["bench"].startswith("this run's rows for cached, the pinned bench's")
    assert pinned_rates.sources["bench"] == "assumptions/lab-bench.json"
    assert rates.app_rps_per_vcpu == pytest.approx(as_run.app_rps_per_vcpu / 2, rel=1e-3)
    assert slow["tier_cpu_ms_per_request"]["app"] == ms  # the calibration does not edit rows


def test_a_model_calibrated_on_a_slower_run_predicts_a_lower_ceiling():
    """The same stage's prediction from a run whose CPU cost twice as much per request: the
    ceiling halves, whichever of the app and the primary binds (the point of calibrating on
    the run: the model follows the machine's speed as the measurement does)."""
    from infra.capacity.lab_scale import LabWorkload

    pinned = _pinned_rows()
    rows = [pinned[s] for s in ("split-db", "cached", "read-replicas")]
    slow = copy.deepcopy(rows)
    for r in slow:
        for t in ((r.get("saturation") or {}).get("at_best") or {}).get("tiers", {}).values():
            t["cpus"] = 2 * t["cpus"]
    lab = LabWorkload(movies=100_000, cache_hit_ratio=0.95, origin_share=1.0)
    fleet = {"web": 4}
    fast = predict("cached", "prod", 0.02, lab, inputs=run_calibration(rows)[0], fleet=fleet)
    slower = predict("cached", "prod", 0.02, lab, inputs=run_calibration(slow)[0], fleet=fleet)
    assert fast["bottleneck"] == slower["bottleneck"] in {"app", "db-primary"}
    assert slower["rps"] == pytest.approx(fast["rps"] / 2, rel=0.01)


def test_a_run_the_model_cannot_be_calibrated_on_keeps_its_rows_and_says_why():
    bs = BenchSettings(budgets=True, scale=0.02)
    row = {"stage": "cached", "model": {"rps": 1.0}, "saturation": {"at_best": {}}}
    why = calibrate_run([row], bs)  # no topology: the prediction cannot be made
    assert why is not None and why.startswith("the model was not calibrated on this run")
    assert row["model"] == {"rps": 1.0} and "model_pinned" not in row
