"""Ceiling mode against servers: the preload warms a real Redis to the hot set's share, and
the saturation search still finds a stand-in's capacity with the fleet at its ceiling."""

from __future__ import annotations

import asyncio

import pytest

from infra.capacity.lab_scale import fleet_instances
from lab import observe, stack
from lab.bench import BenchSettings, warm_caches
from lab.load import HotSet, LoadConfig, Mix, RequestMaker, run_load
from lab.results import stage_row
from lab.saturate import Slo, search, stage_probe
from lab.standin import CapacityStandIn
from lab.topology import MAX_API_PROCESSES, fleet_processes

pytestmark = pytest.mark.wall(20)  # seconds alone (tests/conftest.py)

MOVIES = 300
MASS = 0.9  # the hot set: the top ranks drawing 90% of the movie requests


@pytest.mark.servers
def test_the_preload_warms_redis_to_the_hot_sets_share(lab_root):
    reg = stack.up("cached", MOVIES, "dev", pin_cpus=False, say=lambda _m: None)
    try:
        readers, writers = stack.load_keys(MOVIES)
        maker = RequestMaker(Mix.from_workload(), MOVIES, readers, writers)
        bs = BenchSettings(movies=MOVIES, env="dev", budgets=False, preload_mass=MASS)
        warmed = warm_caches(reg, maker, bs, None, {})
        hot = HotSet.of(maker, MASS)
        assert warmed["ranks"] == hot.ranks == maker.sampler.ranks_for_mass(MASS)
        assert maker.sampler.mass_of_top(hot.ranks) >= MASS
        assert warmed["requests"] == len(hot.paths) and warmed["errors"] == 0
        # The very first requests after it: no warm-up, a few hundred drawn from the mix.
        before = observe.snapshot(reg)
        config = LoadConfig(
            base_url=reg.endpoints["entry"],
            duration=20.0,
            warmup=0.0,
            concurrency=4,
            max_requests=300,
            seed=11,
        )
        result = asyncio.run(run_load(config, maker))
        row = stage_row("cached", reg, result, observe.snapshot(reg).minus(before))
    finally:
        stack.down(say=lambda _m: None)
    # Every hot movie was in Redis before the first request: at least the hot set's share
    # of movie lookups hit (cold ones that repeat hit too); every search term was preloaded.
    assert row["cache_hit_ratio_by_kind"]["movie"] >= MASS
    assert row["cache_hit_ratio_by_kind"]["search"] >= 0.95


def test_the_search_finds_a_stand_ins_capacity_with_the_fleet_at_its_ceiling():
    # A plan whose web group can grow from 1 to 3 one-vCPU instances: at the ceiling the
    # fleet runs 3 workers, and the stand-in serves 3 requests at a time for 20 ms each
    # (150 rps). At 10 ms (300 rps) the generator and the stand-in, both in this worker,
    # needed enough CPU at 180 rps that a loaded 2-core machine (the suite's four workers)
    # stalled them for 500 ms twice in a row, and the search stopped at 57% of capacity.
    plan = {
        "env": "dev",
        "stage": "load-balanced",
        "resources": [
            {
                "type": "aws:autoscaling/group:Group",
                "name": "web-asg",
                "inputs": {"minSize": 1, "desiredCapacity": 1, "maxSize": 3},
            }
        ],
    }
    fleet = fleet_instances("load-balanced", "dev", "ceiling", plan)
    workers = fleet_processes(fleet["web"], 1, MAX_API_PROCESSES)
    assert workers == 3
    with CapacityStandIn(workers=workers, service_s=0.02) as server:
        maker = RequestMaker(Mix(1.0, 1.0, 0.0, 0.0), 100)
        ep = {"entry": server.url, "api_ports": [server.port]}
        # 1.5 s + 0.3 s a probe. A probe fails when fewer than 95% of its requests finish
        # inside the window, so a stall of the window's last 5% fails it: 38 ms of a 0.75 s
        # window, which the generator and the stand-in (threads of this worker) met on a
        # fresh clone's 4-worker suite (2026-12-07 06:17 UTC, completed 74.7 of 80 rps).
        probe = stage_probe(ep, None, {}, maker, Slo(), seconds=1.5, warmup=0.3)
        result = search(probe, 80.0, max_probes=7)
    assert result.best is not None
    # 0.8: a fleet of two workers (100 rps) would fail it; the search's first step past
    # 120 rps is 147.
    assert 0.8 * server.capacity_rps <= result.rps <= 1.05 * server.capacity_rps
    assert result.first_fail is not None and not result.first_fail.ok
    # Every probe records the hit ratios it saw (none here: no cache, no edge).
    assert all(p.ratios == {"cache_hit_ratio": None, "edge_hit_ratio": None} for p in result.probes)
