"""One short end-to-end bench of one stage: budgeted tiers, steady-state warm-up, a short
saturation search, the model beside it, and the JSON files it writes."""

from __future__ import annotations

import json

import pytest

from infra.capacity.lab_scale import fleet_instances
from lab import bench as bench_module
from lab import cgroups
from lab.bench import (
    START_SHARE_OF_MODEL,
    BenchSettings,
    bench,
    measure_stage,
    model_prediction,
    remodel,
)
from lab.procs import group_members
from lab.state import Registry

pytestmark = [pytest.mark.servers, pytest.mark.wall(34)]

SHORT = BenchSettings(
    movies=300,
    env="dev",
    window=1.0,
    calibration_window=1.0,
    # Two 1 s windows (4 until 2026-12-07): steady state needs span / window + 2 = 22
    # windows, so the bound always ends the warm-up here; what is checked is that it ran in
    # windows with hit ratios and stopped at the bound. 2 s less wall.
    bound=2.0,
    warm_concurrency=4,
    probe_seconds=1.0,
    probe_warmup=0.3,
    max_probes=3,
    speed_samples=1,  # the record's shape is what is checked here, not the machine
    start_rps=20.0,
)


def test_bench_of_the_cached_stage_writes_bench_and_saturation(lab_root, tmp_path):
    try:
        cgroups.detect()
    except cgroups.CgroupError as exc:
        pytest.skip(f"no cgroup CPU controller: {exc}")
    report = bench(
        ("cached",), SHORT, out_dir=tmp_path, say=lambda _m: None, model=model_prediction
    )
    assert json.loads((tmp_path / "bench.json").read_text()) == report
    assert "cached" in (tmp_path / "bench.txt").read_text()
    row = report["stages"][0]
    assert row["stage"] == "cached"
    # The warm-up ran in windows and says whether the hit ratio stopped rising in time.
    st = row["steady_state"]
    assert st["windows"] and st["windows"][0]["cache"] is not None
    assert st["reached"] or st["seconds"] >= SHORT.bound
    assert row["cache_hit_ratio"] is not None and row["db_queries_per_request"]["replica"] == 0
    assert set(row["tier_cpu_ms_per_request"]) == {"app", "alb", "db-primary", "redis"}
    sat = row["saturation"]
    # A latency-only failure may be probed once more at the same rate (`confirms`).
    assert 1 <= sum(not p["confirms"] for p in sat["probes"]) <= SHORT.max_probes
    assert sat["rps"] == 0 or sat["at_best"]["ok"]
    # The machine's speed around the search (lab/speed.py), a reference for the figures.
    for when in ("before", "after"):
        speed = row["machine_speed"][when]
        assert len(speed["cpu_seconds"]) == SHORT.speed_samples and speed["median"] > 0, speed
    # Ceiling mode (the default): the web fleet at dev cached's planned max_size, each
    # t4g.small instance 2 vCPU; db.t4g.small (2), cache.t4g.micro (2); x the bench's scale.
    scale = report["settings"]["scale"]
    assert scale == report["scale"]["lab_cpu_per_vcpu"]
    web = fleet_instances("cached", "dev", "ceiling")["web"]
    assert row["fleet"] == {"mode": "ceiling", "instances": {"web": web}}
    budgets = {b["tier"]: b["lab_cpus"] for b in row["budgets"]["tiers"]}
    assert budgets == {
        "app": pytest.approx(web * 2 * scale),
        "alb": None,
        "db-primary": pytest.approx(2 * scale),
        "redis": pytest.approx(2 * scale),
    }
    # The model rounds its budgets to 4 decimals.
    assert row["model"]["tiers"]["app"]["budget_cpus"] == pytest.approx(web * 2 * scale, abs=1e-4)
    # On the lab's clock (lab/saturate.py): the service's cache lifetime and PostgreSQL's
    # autovacuum dilated, the pools opened to full size at boot, then a burst of the mix
    # with the budgets lifted put every pooled connection to work.
    clock = row["lab_clock"]
    assert clock["service"]["MOVIES_CACHE_TTL_SECONDS"] == str(round(min(300 / scale, 86400)))
    assert clock["service"]["MOVIES_DB_POOL_WARM"] == "10"
    assert clock["postgres"]["autovacuum_naptime"] == round(60 / scale)
    burst = row["warm_burst"]
    assert burst["concurrency"] == 2 * 10 * row["topology"]["api_processes"]
    assert burst["requests"] > 0 and burst["errors"] == 0
    # The preload ran over the hot set, and every probe recorded the hit ratios it saw.
    assert row["preload"]["ranks"] > 0 and row["preload"]["errors"] == 0
    assert all(h["cache_hit_ratio"] is not None for h in row["saturation"]["hit_ratios"])
    assert row["model"]["bottleneck"] in {"app", "db-primary", "redis"}
    assert row["model"]["rps"] > 0
    saved = json.loads((tmp_path / "saturation.json").read_text())
    assert saved["scale"]["lab_cpu_per_vcpu"] == scale
    assert saved["fleet"] == "ceiling"
    # The SLO on the lab's clock: AWS's 100 ms stretched by 1 / the scale (lab/saturate.py).
    assert saved["slo"]["p99_ms"] == 100.0 and saved["slo"]["max_error_rate"] == 0.001
    assert saved["slo"]["dilation"] == pytest.approx(1 / scale, rel=1e-3)
    assert saved["slo"]["lab_p99_ms"] == pytest.approx(100 / scale, rel=1e-3)
    entry = saved["stages"]["cached"]
    for key in ("measured_rps", "measured_bottleneck", "model_rps", "model_bottleneck", "p99_ms"):
        assert key in entry
    assert set(entry["tier_cpu"]) <= {"app", "alb", "db-primary", "redis"}
    assert {t["target"] for t in report["targets"]} >= {
        "DB reads per request at cached, steady state",
        "measured / model saturation",
        "whole bench",
    }
    # The model again from the same bench.json: same measurement, a prediction beside it.
    again = remodel(tmp_path, say=lambda _m: None)
    assert again["stages"][0]["saturation"] == row["saturation"]
    assert again["stages"][0]["model"]["bottleneck"] in {"app", "db-primary", "redis"}
    assert json.loads((tmp_path / "saturation.json").read_text())["stages"]["cached"]["model_rps"]
    # The search started under the model's prediction from the pinned calibration, made
    # from the steady state; the model kept beside the measurement is calibrated on the
    # run's own rows (its cached row: the app's CPU per request at the ceiling).
    assert sat["start"] == {
        "rps": round(START_SHARE_OF_MODEL * row["model_pinned"]["rps"], 1),
        "from": "model",
    }
    assert row["model"]["calibration"].startswith("this run's rows for cached, the pinned")
    # Where the stage's time went, phase by phase (the 15-minute bound), the model's too.
    phases = row["phase_seconds"]
    assert {"up", "preload", "warm_burst", "steady_state", "saturation_search", "down",
            "model"} <= set(phases)  # fmt: skip
    assert all(v >= 0 for v in phases.values()) and phases["saturation_search"] > 0
    # The search matches are the data's: asked once per bench process, not per stage.
    zipf_s = report["settings"]["mix"]["zipf_s"]
    assert bench_module._SEARCH_MATCHES[(SHORT.movies, zipf_s)] == row["lab_search_matches"]
    # The bench took its stage down again, cgroups included.
    assert Registry.load(lab_root).processes == []
    assert not cgroups.LabGroups.for_lab(lab_root).exists()
    # The first cached stage starts empty and leaves its keys for the next one.
    assert row["redis_preloaded_keys"] == 0
    assert (lab_root / "cache" / "redis-carry.rdb").is_file()


def test_the_next_cached_stage_starts_with_the_carried_cache(lab_root):
    # One 0.5 s warm-up window per stage (two 1 s windows until 2026-12-07): unbudgeted,
    # the closed-loop load and the servers take both cores for the whole window, ~1 CPU-s
    # a window-second; the keys carried are the preload's hot set (every distinct GET of
    # it, before the windows) plus what the window and the probes add, so `redis_keys_at_end`
    # is far above 0 either way.
    # The minimum fleet (one web instance at dev cached, two at its ceiling: 2 API
    # processes, not 4): what is carried is Redis's, and each of the two stages starts two
    # processes fewer.
    settings = BenchSettings(
        movies=300, env="dev", budgets=False, window=0.5, calibration_window=1.0, bound=0.5,
        probe_seconds=0.5, probe_warmup=0.2, max_probes=2, start_rps=20.0, fleet="min",
        speed_samples=1,
    )  # fmt: skip
    carry = lab_root / "cache" / "carry-test.rdb"
    first = measure_stage("cached", settings, say=lambda _m: None, carry=carry)
    second = measure_stage("cached", settings, say=lambda _m: None, carry=carry)
    assert first["redis_preloaded_keys"] == 0
    assert 0 < first["redis_keys_at_end"] <= second["redis_preloaded_keys"] + 5
    assert all(group_members(p.pgid) == [] for p in Registry.load(lab_root).processes)
