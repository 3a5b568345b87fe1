"""The bench's statistics on synthetic samples."""

from __future__ import annotations

import pytest

from infra.config import STAGES, TIERS
from lab.bench import BenchSettings, search_start, spec_tier, stage_removes, targets
from lab.stats import Sample, percentile, recovery_seconds, summarize, timeline


def test_percentile_interpolates_between_closest_ranks():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 25) == 2.0
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile(list(map(float, range(1, 101))), 99) == pytest.approx(99.01)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q=101"):
        percentile([1.0], 101)


def _samples() -> list[Sample]:
    out = []
    # 98 fast successes, one 503, one transport error, and two 404s over 10 seconds.
    for i in range(98):
        out.append(
            Sample(
                i * 0.1, 0.001 * (i + 1), 200, "movie", i % 2 == 0, "HIT" if i % 4 == 0 else "MISS"
            )
        )
    out.append(Sample(9.85, 0.5, 503, "movie", True, None))
    out.append(Sample(9.9, 10.0, 0, "search", False, None))
    out.append(Sample(9.95, 0.002, 404, "poster", True, "MISS"))
    out.append(Sample(9.97, 0.002, 404, "poster", True, "HIT"))
    # Poster bytes from the edge are not API requests: not in the edge's API hit ratio.
    out.append(Sample(9.98, 0.001, 200, "media", True, "HIT"))
    out.append(Sample(9.99, 0.001, 200, "media", True, "MISS"))
    return out


def test_summary_error_rate_percentiles_and_edge_ratio():
    s = summarize(_samples(), 10.0)
    assert s.requests == 104
    assert s.rps == pytest.approx(10.4)
    assert s.errors == 2
    assert s.error_rate == pytest.approx(2 / 104)
    assert s.client_errors == 2
    # Latencies of errors are left out: 98 successes (1..98 ms), two 2 ms 404s, 2 media.
    ok = sorted([0.001 * (i + 1) for i in range(98)] + [0.002, 0.002, 0.001, 0.001])
    assert s.p50_ms == pytest.approx(percentile(ok, 50) * 1000)
    assert s.p99_ms == pytest.approx(percentile(ok, 99) * 1000)
    # Anonymous with an edge status: 49 successes (HIT when i % 4 == 0) + the two 404s.
    anon = [i for i in range(98) if i % 2 == 0]
    hits = sum(1 for i in anon if i % 4 == 0) + 1
    assert s.edge_hit_ratio == pytest.approx(hits / (len(anon) + 2))
    assert s.media_edge_hit_ratio == 0.5
    assert s.by_kind == {"movie": 99, "search": 1, "poster": 2, "media": 2}


def test_summary_rejects_an_empty_window():
    with pytest.raises(ValueError, match="seconds=0"):
        summarize([], 0)


def test_timeline_and_recovery():
    samples = [Sample(t + 0.5, 0.01, 200, "movie", True) for t in range(10) for _ in range(10)]
    # Seconds 3 and 4 fail entirely; second 5 runs at half rate.
    samples = [s for s in samples if not (5 <= s.start < 6)][:]
    samples = [
        Sample(s.start, s.latency, 500 if 3 <= s.start < 5 else 200, s.kind, s.anonymous)
        for s in samples
    ]
    samples += [Sample(5.5, 0.01, 200, "movie", True)] * 5
    line = timeline(samples, 10)
    assert [x.requests for x in line] == [10, 10, 10, 10, 10, 5, 10, 10, 10, 10]
    assert [x.errors for x in line] == [0, 0, 0, 10, 10, 0, 0, 0, 0, 0]
    # From the fault at 3.0: seconds 6 and 7 are the first two good ones in a row.
    assert recovery_seconds(line, 3.0, baseline_rps=10) == 3.0
    assert recovery_seconds(line, 3.0, baseline_rps=100) is None


def test_targets_report_met_and_not_met_with_the_figure():
    def sat(rps, tier="app"):
        return {"rps": rps, "bottleneck": {"tier": tier}}

    rows = [
        {"stage": "load-balanced", "saturation": sat(100.0, "db-primary")},
        {
            "stage": "cached",
            "saturation": sat(250.0),
            "db_reads_per_request": 0.05,
            "model": {"rps": 180.0, "bottleneck": "app"},
        },
        {
            "stage": "read-replicas",
            "replica_read_share": 0.97,
            "saturation": sat(240.0),
            "model": {"rps": 230.0, "bottleneck": "db-primary"},
        },
        {"stage": "edge", "edge_hit_ratio": 0.5, "saturation": sat(300.0)},
    ]
    got = {(t["target"], t["stage"]): t for t in targets(rows, wall_seconds=950)}
    assert got["DB reads per request at cached, steady state", "cached"]["met"] is True
    ratio = got["cached / load-balanced saturation at tier budgets", "cached"]
    assert ratio["figure"] == 2.5 and ratio["met"] is True
    assert got["DB reads served by replicas", "read-replicas"]["met"] is True
    assert got["anonymous requests answered by the edge, steady state", "edge"]["met"] is False
    # 250 measured vs 180 modelled is 1.39x: outside +-25%; 240 vs 230 is inside.
    assert got["measured / model saturation", "cached"]["met"] is False
    assert got["measured / model saturation", "read-replicas"]["met"] is True
    assert got["same bottleneck tier as the model", "cached"]["met"] is True
    assert got["same bottleneck tier as the model", "read-replicas"]["met"] is False
    assert got["whole bench", "all"]["met"] is False


def test_each_stage_runs_out_of_what_the_next_one_removes():
    """The spec's `removes` of stage N+1 against the tier stage N ran out of (the lab's
    db-replica1 is the specs' db-replicas); the last stage has no next."""

    def row(stage, tier):
        return {
            "stage": stage,
            "saturation": {"rps": 1.0, "bottleneck": {"tier": tier}},
            "db_reads_per_request": 0.05,
            "replica_read_share": 1.0,
        }

    rows = [row("load-balanced", "db-primary"), row("cached", "app"), row("read-replicas", "app")]
    removes = {"load-balanced": "app", "cached": "db-primary", "read-replicas": "db-primary"}
    got = [t for t in targets(rows, removes=removes) if t["target"].startswith("runs out of")]
    assert [(t["stage"], t["figure"], t["met"]) for t in got] == [
        ("load-balanced", "db-primary / db-primary", True),
        ("cached", "app / db-primary", False),
    ]
    assert targets(rows) == [t for t in targets(rows) if not t["target"].startswith("runs out")]
    # A bench of some stages (--stages) checks only a stage against the one after it.
    apart = [row("single-box", "box"), row("cached", "app")]
    assert not [t for t in targets(apart, removes=removes) if t["target"].startswith("runs")]


def test_every_stage_spec_but_the_first_names_the_tier_it_removes():
    removes = stage_removes(STAGES)
    assert removes["single-box"] is None
    assert all(removes[s] in TIERS for s in STAGES[1:]), removes
    assert spec_tier("db-replica2") == "db-replicas" and spec_tier("app") == "app"


def test_the_search_starts_under_the_model_else_where_it_is_told():
    bs = BenchSettings(start_rps=40.0)
    assert search_start({"rps": 500.0}, 120.0, bs) == (400.0, "model")
    assert search_start({"rps": 1.0}, None, bs) == (2.0, "model")  # the search's floor
    assert search_start({"rps": None}, 120.0, bs) == (120.0, "previous stage")
    assert search_start(None, None, bs) == (40.0, "settings")
