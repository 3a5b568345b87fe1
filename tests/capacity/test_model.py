"""The capacity model's arithmetic and inputs, on small crafted files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml

from infra.capacity import checks as capacity
from infra.capacity.cli import main
from infra.capacity.flow import flow
from infra.capacity.inputs import (
    CAPACITY_FILE,
    WORKLOAD_FILE,
    CapacityFile,
    ModelError,
    Observed,
    Workload,
    load_rates,
    ttl_cache_hit_ratio,
)
from infra.catalog import CLASSES_FILE
from infra.config import ENVIRONMENTS, STAGES, load_stack_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workload() -> Workload:
    return Workload.load()


def spec(stage: str, env: str = "prod"):
    return load_stack_config(env, stage).stage


def test_peak_rps_follows_hits_per_day_and_peak_factor(workload) -> None:
    fl = flow(workload, Observed(), spec("load-balanced"), "today")
    expected = workload.hits_per_day / 86_400 * workload.peak_factor
    assert fl.origin_rps == pytest.approx(expected)
    five = flow(workload, Observed(), spec("load-balanced"), "target")
    assert five.origin_rps == pytest.approx(expected * workload.multiplier)
    assert five.db_data_bytes == pytest.approx(fl.db_data_bytes * workload.multiplier)


def test_edge_offloads_cacheable_share_times_hit_ratio(workload) -> None:
    without = flow(workload, Observed(), spec("read-replicas"), "today")
    with_edge = flow(workload, Observed(), spec("edge"), "today")
    kept = 1 - workload.cacheable_share * workload.edge_cache_hit_ratio
    assert with_edge.origin_rps == pytest.approx(without.origin_rps * kept)
    assert with_edge.cdn_rps == pytest.approx(without.origin_rps * (1 + workload.poster_share))
    # A measured edge hit ratio replaces the assumed one.
    measured = flow(workload, Observed(edge_hit_ratio=0.5), spec("edge"), "today")
    assert measured.origin_rps == pytest.approx(
        without.origin_rps * (1 - workload.cacheable_share * 0.5)
    )


def test_edge_takes_requests_redis_would_have_answered(workload) -> None:
    # Writes are never answered at the edge; the misses that reach the DB stay as they were
    # (what the lab measured: DB reads per request 0.353 at cached, 0.348 at edge).
    obs = Observed(edge_hit_ratio=0.59)  # as measured
    rr = flow(workload, obs, spec("read-replicas"), "target")
    edge = flow(workload, obs, spec("edge"), "target")
    assert edge.origin_rps < rr.origin_rps
    assert edge.db_writes == pytest.approx(rr.db_writes)
    assert edge.db_point_reads == pytest.approx(rr.db_point_reads)
    # Searches Redis would have missed stay misses, but not more than reach the origin.
    origin_searches = (
        (edge.origin_rps - edge.db_writes) * workload.search_share / workload.read_share
    )
    assert edge.db_searches == pytest.approx(min(rr.db_searches, origin_searches))
    assert edge.redis_ops < rr.redis_ops
    # A better edge than Redis cannot send more reads to the DB than reach the origin.
    sharp = flow(workload, Observed(edge_hit_ratio=0.99), spec("edge"), "target")
    origin_reads = sharp.origin_rps - sharp.db_writes
    assert sharp.db_point_reads + sharp.db_searches <= origin_reads


def test_cache_turns_reads_into_misses_and_redis_ops(workload) -> None:
    lb = flow(workload, Observed(), spec("load-balanced"), "today")
    cached = flow(workload, Observed(), spec("cached"), "today")
    assert lb.redis_ops == 0
    assert cached.db_point_reads == pytest.approx(
        lb.db_point_reads * (1 - workload.app_cache_hit_ratio)
    )
    assert cached.db_searches == pytest.approx(
        lb.db_searches * (1 - workload.search_hit_ratio("today"))
    )
    assert cached.db_writes == pytest.approx(lb.db_writes)
    assert cached.redis_ops > lb.origin_rps * workload.read_share


def test_search_tier_takes_the_searches_off_the_web_tier(workload) -> None:
    fl = flow(workload, Observed(), spec("scale-5x"), "target")
    # Searches keep their share of the reads that pass the edge.
    origin_reads = fl.origin_rps - fl.db_writes / workload.db_statements_per_write
    expected = origin_reads * workload.search_share / workload.read_share
    assert fl.search_rps == pytest.approx(expected)
    assert fl.web_rps + fl.search_rps == pytest.approx(fl.origin_rps)
    assert fl.web_search_share == 0


def test_headroom_is_one_minus_load_over_capacity() -> None:
    check = capacity.TierCheck("app", "cpu", "rps", 1000.0, 250.0, 1250.0, "x")
    assert check.headroom("today") == pytest.approx(0.75)
    assert check.headroom("target") == pytest.approx(-0.25)
    elastic = capacity.TierCheck("alb", "requests", "rps", None, 1e9, 1e12, "x")
    sc = capacity.StageCapacity("prod", "x", (check, elastic), 0.3, 5)
    assert sc.failing("target") == [check]
    assert sc.failing("today") == []
    assert sc.tier_headroom("target") == {"app": pytest.approx(-0.25), "alb": None}


def test_more_instances_mean_more_headroom() -> None:
    rates, obs = load_rates()
    base = capacity.stage_capacity("prod", "load-balanced", Workload.load(), rates, obs)
    cpu = next(c for c in base.checks if (c.tier, c.measure) == ("app", "cpu"))
    web = spec("load-balanced").web
    assert web is not None
    bigger = capacity._asg_checks(
        "app",
        web.model_copy(update={"max_size": web.max_size * 2}),
        rates,
        (cpu.load_today, cpu.load_target),
        (0.15, 0.15),
    )
    assert bigger[0].capacity == pytest.approx(cpu.capacity * 2)


def test_every_size_in_every_stack_has_a_capacity_entry() -> None:
    rates, _ = load_rates()
    for env in ENVIRONMENTS:
        for stage in STAGES:
            s = spec(stage, env)
            kinds = [
                s.single_box and s.single_box.instance_type,
                s.web and s.web.instance_type,
                s.search and s.search.instance_type,
                s.database and s.database.instance_class,
                s.database and s.database.replica_instance_class,
                s.cache and s.cache.node_type,
            ]
            for kind in filter(None, kinds):
                assert rates.machine(kind).vcpus >= 1, (env, stage, kind)


def test_ec2_entries_match_the_aws_catalogue_moto_ships() -> None:
    import moto

    catalogue_file = Path(moto.__file__).parent / "ec2" / "resources" / "instance_types.json.gz"
    catalogue = json.loads(gzip.decompress(catalogue_file.read_bytes()))
    table = yaml.safe_load(CLASSES_FILE.read_text())["ec2"]
    for kind, entry in table.items():
        aws = catalogue[kind]
        assert entry["vcpus"] == aws["VCpuInfo"]["DefaultVCpus"], kind
        assert entry["memory_gib"] * 1024 == aws["MemoryInfo"]["SizeInMiB"], kind
        assert ("burstable_baseline" in entry) == aws["BurstablePerformanceSupported"], kind


def test_unknown_instance_type_is_a_one_line_error() -> None:
    rates, _ = load_rates()
    with pytest.raises(ModelError, match=r"^c9x\.huge: no capacity entry .*allowed: ") as err:
        rates.machine("c9x.huge")
    assert "\n" not in str(err.value)


def test_bad_workload_value_names_the_key(tmp_path: Path) -> None:
    doc = yaml.safe_load(WORKLOAD_FILE.read_text())
    doc["traffic"]["read_share"] = 1.7
    bad = tmp_path / "workload.yaml"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(ModelError, match=r"^traffic\.read_share: invalid value 1\.7; allowed"):
        Workload.load(bad)
    del doc["traffic"]["read_share"]
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(ModelError, match=r"^traffic\.read_share: required key is missing$"):
        Workload.load(bad)


def _lab_root(tmp_path: Path, bench: dict | None) -> Path:
    (tmp_path / "assumptions").mkdir(parents=True)
    src = ROOT / "assumptions" / "measured.json"
    (tmp_path / "assumptions" / "measured.json").write_text(src.read_text())
    if bench is not None:
        path = tmp_path / CapacityFile.load(CAPACITY_FILE).measured_bench
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(bench))
    return tmp_path


def test_app_rate_prefers_the_api_processes_own_cpu_per_request(tmp_path: Path) -> None:
    row = {"stage": "cached", "rps": 300.0, "requests_per_lab_cpu_second": 640.0}
    bench = {"stages": [{**row, "tier_cpu_ms_per_request": {"app": 0.8, "redis": 0.1}}]}
    rates, _ = load_rates(CAPACITY_FILE, _lab_root(tmp_path, bench))
    # 1 / 0.8 ms = 1,250 requests of the lab's mix per CPU-second; 15% of them searches
    # at 2x: a plain request costs 1 / 1.15 of a mixed one.
    assert rates.app_rps_per_vcpu == pytest.approx(1250.0 * 1.15)
    assert "0.800 ms of the API processes' own CPU" in rates.sources["app"]


def test_app_rate_prefers_requests_per_lab_cpu_second(tmp_path: Path) -> None:
    bench = {"stages": [{"stage": "cached", "rps": 300.0, "requests_per_lab_cpu_second": 640.0}]}
    rates, _ = load_rates(CAPACITY_FILE, _lab_root(tmp_path, bench))
    assert rates.app_rps_per_vcpu == pytest.approx(640.0)
    assert "640 requests per CPU-second" in rates.sources["app"]


def test_app_rate_comes_from_the_bench_when_it_has_the_stage(tmp_path: Path) -> None:
    bench = {
        "stages": [
            {"stage": "cached", "rps": 900.0, "cache_hit_ratio": 0.93},
            {"stage": "edge", "rps": 1500.0, "edge_hit_ratio": 0.84},
            {"stage": "read-replicas", "rps": 850.0, "replica_read_share": 0.97},
        ]
    }
    rates, obs = load_rates(CAPACITY_FILE, _lab_root(tmp_path, bench))
    assert rates.app_rps_per_vcpu == pytest.approx(450.0)  # 900 rps / 2 lab vCPUs
    assert rates.sources["app"].startswith("measured: lab bench cached stage 900 rps")
    assert obs == Observed(cache_hit_ratio=0.93, edge_hit_ratio=0.84, replica_read_share=0.97)


def _by_kind_bench(search: float) -> dict:
    return {"stages": [{"stage": "cached", "rps": 500.0, "cache_hit_ratio": 0.7,
                        "cache_hit_ratio_by_kind": {"movie": 0.9, "search": search}}]}  # fmt: skip


def test_per_kind_cache_hit_ratios_replace_the_overall_one(tmp_path: Path, workload) -> None:
    _, obs = load_rates(CAPACITY_FILE, _lab_root(tmp_path, _by_kind_bench(0.02)))
    assert (obs.cache_hit_ratio, obs.search_cache_hit_ratio) == (0.9, 0.02)
    lb = flow(workload, obs, spec("load-balanced"), "today")
    cached = flow(workload, obs, spec("cached"), "today")
    # A lab search ratio under the model's derived one lowers it.
    assert workload.search_hit_ratio("today") > 0.02
    assert cached.db_searches == pytest.approx(lb.db_searches * 0.98)
    assert cached.db_point_reads == pytest.approx(lb.db_point_reads * 0.1)


def test_a_lab_search_ratio_above_the_model_does_not_raise_it(tmp_path: Path, workload) -> None:
    # The lab draws searches from a few dozen terms, so its ratio overstates production's.
    _, obs = load_rates(CAPACITY_FILE, _lab_root(tmp_path, _by_kind_bench(0.99)))
    lb = flow(workload, obs, spec("load-balanced"), "target")
    cached = flow(workload, obs, spec("cached"), "target")
    expected = lb.db_searches * (1 - workload.search_hit_ratio("target"))
    assert cached.db_searches == pytest.approx(expected)


def test_without_a_bench_the_fallback_is_labelled_an_assumption(tmp_path: Path) -> None:
    rates, obs = load_rates(CAPACITY_FILE, _lab_root(tmp_path, None))
    fallback = yaml.safe_load(CAPACITY_FILE.read_text())["app"]["fallback_rps_per_vcpu"]
    assert rates.app_rps_per_vcpu == fallback
    assert rates.sources["app"].startswith("assumption:")
    assert obs == Observed()


def test_search_cost_grows_with_matched_rows() -> None:
    rates, _ = load_rates()
    assert rates.db_search_per_match_s > 0
    assert rates.db_search_s(10_000) > rates.db_search_s(1_000) > rates.db_point_read_s


def test_cli_prints_a_table_per_stage(capsys) -> None:
    assert main(["--stage", "cached", "--stage", "scale-5x"]) == 0
    out = capsys.readouterr().out
    assert "prod/cached" in out and "prod/scale-5x" in out
    assert "db-primary" in out and "headroom" in out
    assert "prod/edge" not in out


def test_cli_json_matches_the_model(capsys) -> None:
    assert main(["--stage", "scale-5x", "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["stage"] == "scale-5x"
    assert all(c["headroom_target"] is None or c["headroom_target"] >= 0.3 for c in doc["checks"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "staging"], "error: --env 'staging'; allowed: dev, prod"),
        (["--stage", "huge"], "error: --stage 'huge'; allowed: single-box"),
    ],
)
def test_cli_bad_arguments_are_one_line_errors(capsys, argv, message) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_cli_markdown_summary_has_a_row_per_stage(capsys) -> None:
    assert main(["--markdown"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| stage | ") and lines[0].endswith(" | short at 5x on |")
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert list(rows) == list(STAGES)
    assert rows["scale-5x"].endswith("| - |")
    assert "box cpu (API + DB)" in rows["single-box"]


def test_cli_markdown_detail_for_a_stage(capsys) -> None:
    assert main(["--markdown", "--stage", "scale-5x"]) == 0
    out = capsys.readouterr().out
    assert "| tier | measure | capacity | today | headroom | 5x | headroom | basis |" in out
    assert "| redis | hot set in memory |" in out and "| search | cpu |" in out


def _exact_ttl_hit_ratio(rate: float, ttl: float, keys: int, s: float) -> float:
    weights = [k**-s for k in range(1, keys + 1)]
    norm = sum(weights)
    return sum((p / norm) * (rate * ttl * p / norm) / (1 + rate * ttl * p / norm) for p in weights)


@pytest.mark.parametrize(
    ("rate", "keys", "s"),
    [(78.0, 300_000, 0.8), (390.0, 300_000, 1.0), (390.0, 200_000, 0.6), (5.0, 1_500, 0.8)],
)
def test_ttl_hit_ratio_matches_the_exact_sum(rate: float, keys: int, s: float) -> None:
    got = ttl_cache_hit_ratio(rate, 54.0, keys, s)
    assert got == pytest.approx(_exact_ttl_hit_ratio(rate, 54.0, keys, s), abs=1e-6)


def test_ttl_hit_ratio_of_one_key_is_rt_over_one_plus_rt() -> None:
    # One miss, then r*T hits before the entry expires.
    assert ttl_cache_hit_ratio(0.5, 60.0, 1, 0.8) == pytest.approx(30 / 31)
    assert ttl_cache_hit_ratio(0.0, 60.0, 10, 0.8) == 0.0
    # More searches per TTL, or fewer distinct keys, mean more hits.
    assert ttl_cache_hit_ratio(400, 60, 10**6, 0.8) > ttl_cache_hit_ratio(80, 60, 10**6, 0.8)
    assert ttl_cache_hit_ratio(80, 60, 10**5, 0.8) > ttl_cache_hit_ratio(80, 60, 10**6, 0.8)


def test_search_hit_ratio_is_derived_and_conservative(workload) -> None:
    today, target = workload.search_hit_ratio("today"), workload.search_hit_ratio("target")
    # The shortest jittered TTL, today's and 5x's peak search rate and key space.
    keys = round(workload.movies * workload.search_keys_per_movie)
    ttl = workload.search_ttl_s * (1 - workload.search_ttl_jitter)
    assert today == pytest.approx(
        ttl_cache_hit_ratio(workload.peak_searches("today"), ttl, keys, workload.search_zipf_s)
    )
    assert 0 < today < target < 0.2


def test_the_workload_matches_the_service_search_cache_defaults() -> None:
    # The model's search cache is the service's default one; a changed default must show here.
    from movies_api.settings import load_settings

    settings = load_settings({"MOVIES_DATABASE_URL": "postgresql://u@127.0.0.1/db"})
    sc = yaml.safe_load(WORKLOAD_FILE.read_text())["requests"]["search_cache"]
    assert sc["ttl_seconds"] == settings.search_ttl_seconds
    assert sc["ttl_jitter"] == settings.cache_ttl_jitter
    assert sc["stale_seconds"] == settings.cache_stale_seconds
    assert sc["invalidate_on_write"] is settings.search_invalidate_on_write


def test_invalidation_on_write_means_no_search_hits_and_a_generation_key(workload) -> None:
    on = workload.model_copy(update={"search_invalidate_on_write": True})
    assert on.search_hit_ratio("target") == 0.0
    off_fl = flow(workload, Observed(), spec("cached"), "target")
    on_fl = flow(on, Observed(), spec("cached"), "target")
    lb = flow(workload, Observed(), spec("load-balanced"), "target")
    assert on_fl.db_searches == pytest.approx(lb.db_searches)
    assert on_fl.db_searches > off_fl.db_searches
    # A GET of the generation per search, an INCR per write, and the lock/SET/release of
    # the extra misses.
    extra_misses = on_fl.db_searches - off_fl.db_searches
    searches = workload.peak_searches("target")  # no edge at cached: all reach the app
    extra = searches + off_fl.db_writes + extra_misses * workload.redis_ops_per_miss
    assert on_fl.redis_ops == pytest.approx(off_fl.redis_ops + extra)


def test_search_pages_take_redis_memory_for_their_lifetime(workload) -> None:
    cached = flow(workload, Observed(), spec("cached"), "target")
    hot_movies = workload.movies * 5 * workload.hot_set_share * workload.redis_entry_bytes
    pages = cached.db_searches * (workload.search_ttl_s * 1.1 + workload.search_stale_s)
    assert cached.redis_hot_bytes == pytest.approx(hot_movies + pages * workload.search_page_bytes)


def test_bad_search_cache_flag_names_the_key(tmp_path: Path) -> None:
    doc = yaml.safe_load(WORKLOAD_FILE.read_text())
    doc["requests"]["search_cache"]["invalidate_on_write"] = "yes"
    bad = tmp_path / "workload.yaml"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(
        ModelError,
        match=r"^requests\.search_cache\.invalidate_on_write: invalid value 'yes'; allowed: true",
    ):
        Workload.load(bad)
