"""The saturation search: against a probe whose limit is known, and against a stand-in
HTTP server whose capacity the test sets (open-loop probes, real sockets)."""

from __future__ import annotations

import pytest

from lab.load import Mix, RequestMaker
from lab.saturate import Probe, SearchResult, Slo, TierMark, search, stage_probe, tier_use
from lab.standin import CapacityStandIn

pytestmark = pytest.mark.wall(10)  # seconds alone (tests/conftest.py)

SLO = Slo()

# The stand-in searches' probe window (here and in tests/lab/test_ceiling_servers.py): it
# was 1.5 s + 0.3 s of warm-up (~20 s a search). Measured on 2 cores beside other
# processes, both stand-ins, windows interleaved: at 0.75 s + 0.15 s 12 of 14 searches
# passed (4 of them beside 4 busy loops), best at 0.70-0.90 of the capacity (bounds 0.6
# and 1.05), in half the time; at 1.5 s + 0.3 s 10 of 10 (0.63-0.90). The 2 that failed
# ran as a heavy load began (load average ~18), under which every window's searches then
# failed, 6 of 6 at 1.5 s + 0.3 s. What fails a probe does not need a longer window: past
# the capacity the completed rate stays under 95% of the offered one at any length, and
# a stall of the test's process long enough to push p99 past 100 ms fails a probe at any
# length too (a shorter window meets fewer of them).
PROBE_WINDOW = {"seconds": 0.75, "warmup": 0.15}


def limit_probe(limit: float, calls: list[float]):
    """Passes below `limit` rps, fails above: p99 jumps past the SLO there."""

    def probe(rate: float) -> Probe:
        calls.append(rate)
        p99 = 20.0 if rate <= limit else 400.0
        summary = {"p99_ms": p99, "error_rate": 0.0, "achieved_rps": rate}
        busy = min(1.0, rate / limit)
        return Probe(rate, summary, {"app": {"busy": busy}, "db": {"busy": busy / 3}}).judge(SLO)

    return probe


@pytest.mark.parametrize("start", [10.0, 50.0, 400.0, 2000.0])
def test_search_brackets_the_limit_from_below_or_above(start):
    calls: list[float] = []
    result = search(limit_probe(137.0, calls), start, precision=0.08, max_probes=20)
    assert result.best is not None and result.first_fail is not None
    assert result.best.rate <= 137.0 < result.first_fail.rate
    assert result.first_fail.rate / result.best.rate <= 1.08
    assert len(calls) == len(result.probes) <= 20
    assert result.bottleneck()["tier"] == "app"
    assert result.bottleneck()["cpu_bound"] is True


def test_search_stops_at_its_probe_budget_with_what_it_found():
    calls: list[float] = []
    result = search(limit_probe(10_000.0, calls), 10.0, max_probes=4)
    assert len(calls) == 4
    assert result.first_fail is None
    assert result.best is not None and result.best.rate == pytest.approx(10 * 1.5**3)


def test_a_probe_fails_on_errors_latency_or_a_rate_it_could_not_send():
    def judge(**summary):
        base = {"p99_ms": 10.0, "error_rate": 0.0, "achieved_rps": 100.0}
        return Probe(100.0, {**base, **summary}).judge(SLO)

    assert judge().ok
    assert not judge(error_rate=0.002).ok and "errors" in judge(error_rate=0.002).why
    assert not judge(p99_ms=150.0).ok and "p99" in judge(p99_ms=150.0).why
    assert not judge(achieved_rps=80.0).ok and "sent" in judge(achieved_rps=80.0).why
    assert not judge(p99_ms=None).ok


def test_a_probe_fails_when_the_servers_complete_less_than_was_sent():
    # Past capacity an open loop still sends every request (and each is answered in the
    # end), so only what completed inside the window shows the queue growing.
    base = {"p99_ms": 10.0, "error_rate": 0.0, "achieved_rps": 100.0}
    assert Probe(100.0, {**base, "completed_rps": 96.0}).judge(SLO).ok
    failed = Probe(100.0, {**base, "completed_rps": 90.0}).judge(SLO)
    assert not failed.ok and failed.why == "completed 90 < 95% of 100 rps"


def test_the_slo_on_the_labs_clock_stretches_by_one_over_the_scale():
    slo = Slo.at_scale(0.04, aws_vcpu_per_lab_cpu=1.0)
    assert slo.dilation == pytest.approx(25.0)
    assert slo.lab_p99_ms == pytest.approx(2500.0)
    assert Slo.at_scale(0.05, aws_vcpu_per_lab_cpu=2.0).dilation == pytest.approx(10.0)
    assert Slo.at_scale(None).dilation == 1.0 and Slo.at_scale(None).lab_p99_ms == 100.0
    fast = {"p99_ms": 900.0, "error_rate": 0.0, "achieved_rps": 100.0, "completed_rps": 99.0}
    assert Probe(100.0, dict(fast)).judge(slo).ok  # 900 ms in the lab: 36 ms on AWS
    assert not Probe(100.0, dict(fast)).judge(Slo()).ok
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="allowed 0 < scale <= 1"):
            Slo.at_scale(bad)


def test_tier_use_is_cpu_time_against_the_quota():
    before = TierMark(10.0, {"app": 1.0, "alb": 0.0}, {"app": (0, 0.0), "alb": (0, 0.0)})
    after = TierMark(12.0, {"app": 1.36, "alb": 0.1}, {"app": (50, 0.2), "alb": (0, 0.0)})
    use = tier_use(before, after, {"app": 0.2, "alb": None})
    assert use["app"]["cpus"] == pytest.approx(0.18)
    assert use["app"]["busy"] == pytest.approx(0.9)
    assert use["app"]["throttled_s_per_s"] == pytest.approx(0.1)
    assert use["alb"]["busy"] is None and use["alb"]["cpus"] == pytest.approx(0.05)


def test_bottleneck_without_any_probe_is_unknown():
    assert SearchResult([], None, None).bottleneck()["tier"] is None


def test_search_finds_a_stand_in_servers_capacity():
    # 2 workers x 10 ms: 200 requests/s, whatever the machine's CPU is doing.
    with CapacityStandIn(workers=2, service_s=0.01) as server:
        maker = RequestMaker(Mix(1.0, 1.0, 0.0, 0.0), 100)
        # PROBE_WINDOW: 0.9 s a probe, 9 probes (7 rates, 2 confirmations) in ~10 s.
        probe = stage_probe({"entry": server.url}, None, {}, maker, SLO, **PROBE_WINDOW)
        result = search(probe, 50.0, max_probes=7)
    assert result.best is not None
    # Under the SLO it holds most of its capacity and never more than it has.
    assert 0.6 * server.capacity_rps <= result.rps <= 1.05 * server.capacity_rps
    assert result.first_fail is not None and result.first_fail.rate > result.rps
    assert not result.first_fail.ok


def test_the_services_deadlines_run_on_the_labs_clock_and_the_service_accepts_them():
    from movies_api.settings import load_settings

    from lab.saturate import SERVICE_DEADLINES

    assert Slo().service_env() == {}  # no budgets: AWS's clock
    env = Slo.at_scale(0.04).service_env()  # dilation 25
    assert float(env["MOVIES_SEARCH_QUEUE_SECONDS"]) == pytest.approx(0.25 * 25)
    assert float(env["MOVIES_REDIS_TIMEOUT_SECONDS"]) == pytest.approx(6.25)
    assert env["MOVIES_CACHE_LOCK_MS"] == "60000"  # 75 s capped at the service's 60 s
    base = {"MOVIES_DATABASE_URL": "postgresql://u@127.0.0.1:1/db"}
    for scale in (0.5, 0.04, 0.001):  # every dilation gives values the service loads
        settings = load_settings({**base, **Slo.at_scale(scale).service_env()})
        assert settings.search_queue_seconds == pytest.approx(
            min(0.25 / scale, SERVICE_DEADLINES["MOVIES_SEARCH_QUEUE_SECONDS"][1]), rel=1e-3
        )
    # The defaults here are the service's own.
    defaults = load_settings(base)
    assert defaults.search_queue_seconds == SERVICE_DEADLINES["MOVIES_SEARCH_QUEUE_SECONDS"][0]
    assert defaults.redis_timeout_seconds == SERVICE_DEADLINES["MOVIES_REDIS_TIMEOUT_SECONDS"][0]
    assert (
        defaults.replica_deadline_seconds == SERVICE_DEADLINES["MOVIES_REPLICA_DEADLINE_SECONDS"][0]
    )
    assert (
        defaults.db_connect_timeout_seconds
        == SERVICE_DEADLINES["MOVIES_DB_CONNECT_TIMEOUT_SECONDS"][0]
    )
    assert defaults.cache_lock_ms == SERVICE_DEADLINES["MOVIES_CACHE_LOCK_MS"][0]


def test_the_services_clocks_and_postgres_clocks_run_on_the_labs_clock():
    from movies_api.settings import load_settings

    from lab.saturate import POSTGRES_CLOCKS, SERVICE_CLOCKS

    base = {"MOVIES_DATABASE_URL": "postgresql://u@127.0.0.1:1/db"}
    defaults = load_settings(base)
    # The defaults here are the service's own.
    assert (
        defaults.cache_ttl_seconds,
        defaults.cache_stale_seconds,
        defaults.cache_negative_ttl_seconds,
        defaults.search_ttl_seconds,
        defaults.http_max_age,
        defaults.http_stale_while_revalidate,
        defaults.db_pool_idle_seconds,
    ) == tuple(default for default, _cap in SERVICE_CLOCKS.values())
    assert Slo().postgres_settings() == {}  # no budgets: AWS's clock
    for scale in (0.5, 0.04, 0.001):  # every dilation gives values the service loads
        settings = load_settings({**base, **Slo.at_scale(scale).service_env()})
        assert settings.cache_ttl_seconds == round(min(300 / scale, 86400))
        assert settings.search_ttl_seconds == round(min(60 / scale, 3600))
        assert settings.http_max_age == round(min(60 / scale, 86400))
        assert settings.db_pool_idle_seconds == pytest.approx(min(60 / scale, 86400), rel=1e-3)
        pg = Slo.at_scale(scale).postgres_settings()
        clocks = POSTGRES_CLOCKS.items()
        assert pg == {name: round(min(default / scale, cap)) for name, (default, cap) in clocks}
        assert pg["checkpoint_timeout"] <= 86400  # PostgreSQL's own maximum


def test_a_latency_only_failure_is_probed_again_and_the_second_probe_decides():
    calls: list[float] = []
    stalled = {100.0}  # the first probe at 100 rps meets a transient stall, the second not

    def probe(rate: float) -> Probe:
        calls.append(rate)
        p99 = 400.0 if rate in stalled or rate > 150 else 20.0
        stalled.discard(rate)
        summary = {"p99_ms": p99, "error_rate": 0.0, "achieved_rps": rate}
        return Probe(rate, summary, {"app": {"busy": min(1.0, rate / 150)}}).judge(SLO)

    result = search(probe, 100.0, max_probes=6, confirm=1)
    assert calls[:2] == [100.0, 100.0]  # the same rate once more
    assert result.probes[1].confirms and result.probes[1].ok
    assert result.best is not None and result.best.rate > 100.0
    # Only one confirmation was allowed: the failure above 150 rps stands unconfirmed.
    assert sum(p.confirms for p in result.probes) == 1
    assert sum(1 for p in result.probes if not p.confirms) <= 6


def test_a_failure_on_errors_or_completions_is_not_probed_again():
    calls: list[float] = []

    def probe(rate: float) -> Probe:
        calls.append(rate)
        bad = rate > 100
        summary = {
            "p99_ms": 20.0,
            "error_rate": 0.01 if bad and rate < 200 else 0.0,
            "achieved_rps": rate,
            "completed_rps": rate * (0.5 if rate >= 200 else 1.0),
        }
        return Probe(rate, summary).judge(SLO)

    result = search(probe, 90.0, max_probes=6)
    assert len(calls) == len(set(calls))  # no rate twice
    assert not any(p.confirms for p in result.probes)


class _Backlog:
    """Tier CPU as a cgroup would count it: `busy` CPUs for `backlog_s` seconds of the
    (fake) clock, then `idle` CPUs."""

    def __init__(self, busy: float, backlog_s: float, idle: float) -> None:
        self.t = 0.0
        self.busy, self.backlog_s, self.idle = busy, backlog_s, idle

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def usage_seconds(self, _tier: str) -> float:
        hot = min(self.t, self.backlog_s)
        return hot * self.busy + max(0.0, self.t - self.backlog_s) * self.idle

    def throttled(self, _tier: str) -> tuple[int, float]:
        return (0, 0.0)


def _settle(groups: _Backlog, budget: float, **kw) -> tuple[float, float]:
    import lab.saturate as sat

    clock = {"now": 0.0}

    def sleep(s: float) -> None:
        clock["now"] += s
        groups.advance(s)

    waited = sat.settle(
        groups, ["app"], {"app": budget, "alb": None}, sleep=sleep, clock=lambda: clock["now"], **kw
    )
    return waited, groups.t


def test_settle_waits_out_a_backlog_then_two_idle_windows():
    waited, t = _settle(_Backlog(busy=0.16, backlog_s=3.0, idle=0.01), 0.16)
    # Busy for 3 s (12 windows of 0.25 s), then two idle windows in a row.
    assert waited == pytest.approx(3.5) and t == pytest.approx(3.5)


def test_settle_returns_at_its_bound_when_the_tier_never_idles():
    waited, _ = _settle(_Backlog(busy=0.16, backlog_s=1e9, idle=0.0), 0.16, bound=2.0)
    assert waited == pytest.approx(2.0)


def test_settle_without_budgets_does_not_wait():
    from lab.saturate import settle

    assert settle(None, ["app"], {"app": 0.1}) == 0.0
    assert settle(_Backlog(1.0, 1.0, 0.0), ["alb"], {"alb": None}) == 0.0
