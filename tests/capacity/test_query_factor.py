"""The DB calibration: pgbench's per-query costs scaled to what the service's own queries
cost the primary in a cache-free bench row (infra/capacity/inputs.py `db_query_factor`)."""

from __future__ import annotations

import pytest

from infra.capacity.inputs import db_query_factor

COSTS = {
    "point_read_s": 0.0001,  # 0.1 ms
    "write_s": 0.001,  # 1 ms
    "search_s": lambda matches: 0.001 + 0.000001 * matches,  # 1 ms + 1 us per row
}


def row(**over):
    base = {
        "stage": "split-db",
        "api_requests": 100,
        "tier_cpu_ms_per_request": {"app": 1.0, "db-primary": 0.6},
        "pg_stat_statements": {"primary_reads": 110, "primary_writes": 5},
        "by_kind": {"movie": 80, "search": 10, "write": 5, "poster": 5},
        "lab_search_matches": 1000.0,
        "cache_hit_ratio": None,
    }
    return {**base, **over}


def test_the_factor_is_measured_cpu_over_pgbench_for_the_same_queries():
    # pgbench: 100 point reads x 0.1 + 10 searches x 2 ms + 5 writes x 1 ms = 35 ms;
    # measured 0.6 ms x 100 requests = 60 ms.
    q = db_query_factor(row(), **COSTS)
    assert q.factor == pytest.approx(60 / 35)
    assert "split-db" in q.source and "x 1.71" in q.source


@pytest.mark.parametrize(
    "broken",
    [
        {"tier_cpu_ms_per_request": {"app": 1.0}},  # no primary CPU
        {"pg_stat_statements": {}},  # no query counts
        {"lab_search_matches": None},
        {"cache_hit_ratio": 0.9},  # a cache answered reads: not every read reached the DB
        {"pg_stat_statements": {"primary_reads": 3, "primary_writes": 0}},  # < searches
    ],
)
def test_a_row_it_cannot_calibrate_from_gives_one_and_says_so(broken):
    q = db_query_factor(row(**broken), **COSTS)
    assert q.factor == 1.0 and "pgbench's costs as measured" in q.source


def test_no_row_gives_one():
    assert db_query_factor(None, **COSTS).factor == 1.0
