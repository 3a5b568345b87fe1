"""One short end-to-end bench of one stage: real servers, real load, the JSON it writes."""

from __future__ import annotations

import json

import pytest

from lab.bench import BenchSettings, bench
from lab.procs import group_members
from lab.state import Registry

pytestmark = pytest.mark.servers


def test_bench_of_the_cached_stage_writes_figures(lab_root, tmp_path):
    settings = BenchSettings(
        movies=300, duration=3, warmup=1, concurrency=8, env="dev", cache_warmup=1
    )
    report = bench(("cached",), settings, out_dir=tmp_path, say=lambda _m: None, quiet=True)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved == report
    assert (tmp_path / "bench.txt").read_text().count("cached") >= 1
    row = report["stages"][0]
    assert row["stage"] == "cached"
    assert row["requests"] > 50 and row["rps"] > 10
    assert row["error_rate"] == 0
    assert row["p50_ms"] is not None and row["p99_ms"] >= row["p50_ms"]
    # Redis is up at this stage: the service counted hits, and the DB saw few reads.
    assert row["cache_hit_ratio"] is not None and row["cache_hit_ratio"] > 0.5
    assert row["db_queries_per_request"]["replica"] == 0
    assert row["edge_hit_ratio"] is None
    assert {t["target"] for t in report["targets"]} == {"DB reads per request at cached"}
    assert set(row["last_quarter"]) == {"db_reads_per_request", "cache_hit_ratio", "edge_hit_ratio"}
    assert 0 < row["cpu_share"]["lab"] <= 1
    assert row["requests_per_lab_cpu_second"] > 0
    assert row["primary_top_statements"][0]["calls"] > 0
    assert report["machine"]["cores"] >= 1
    # The bench took its stage down again.
    assert all(group_members(p.pgid) == [] for p in Registry.load(lab_root).processes)
    assert Registry.load(lab_root).processes == []
    # The first cached stage starts empty and leaves its keys for the next one.
    assert row["redis_preloaded_keys"] == 0
    assert row["redis_keys_at_end"] > 0
    assert (lab_root / "cache" / "redis-carry.rdb").is_file()


def test_the_next_cached_stage_starts_with_the_carried_cache(lab_root):
    from lab.bench import measure_stage

    settings = BenchSettings(
        movies=300, duration=2, warmup=1, concurrency=4, env="dev", cache_warmup=1
    )
    carry = lab_root / "cache" / "carry-test.rdb"
    first = measure_stage("cached", settings, say=lambda _m: None, quiet=True, carry=carry)
    second = measure_stage("cached", settings, say=lambda _m: None, quiet=True, carry=carry)
    assert first["redis_preloaded_keys"] == 0
    assert 0 < first["redis_keys_at_end"] <= second["redis_preloaded_keys"] + 5
