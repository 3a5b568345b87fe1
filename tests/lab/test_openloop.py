"""The open-loop load generator: sends on a constant-rate schedule, measures latency from
each request's intended send time (coordinated omission corrected), HDR histograms."""

from __future__ import annotations

import itertools

import pytest

from lab.load import Mix, RequestMaker
from lab.openloop import OpenLoopConfig, run, schedule
from lab.standin import CapacityStandIn

ANON_READS = Mix(read_share=1.0, anonymous_share=1.0, search_share=0.0, poster_share=0.0)


def maker() -> RequestMaker:
    return RequestMaker(ANON_READS, 100)


def test_the_schedule_is_one_request_every_1_over_rate_seconds():
    due = schedule(200, 2.0)
    assert len(due) == 400
    assert due[0] == 0
    assert all(b - a == pytest.approx(1 / 200) for a, b in itertools.pairwise(due))


def test_every_request_is_due_on_the_schedule_and_none_goes_out_early():
    with CapacityStandIn(workers=50, service_s=0.001) as server:
        result = run(OpenLoopConfig(server.url, rate=100, duration=1.0, warmup=0.5), maker())
    # The measured window's samples start at the intended times, whatever the send lag.
    starts = sorted(s.start for s in result.samples)
    assert starts == pytest.approx([i / 100 for i in range(100)])
    assert result.sent == 100 and result.errors == 0
    assert all(lag >= 0 for lag in result.send_lags)  # never sent before it was due
    assert result.intended.get_total_count() == result.service.get_total_count() == 100


def test_a_stall_is_counted_for_every_request_due_during_it():
    # One connection and one worker: a closed loop with one connection would record the
    # 0.6 s stall once; the open loop records every request that was due during it.
    with CapacityStandIn(workers=1, service_s=0.001) as server:

        def stall() -> None:
            server.stall(0.6)

        config = OpenLoopConfig(server.url, rate=100, duration=2.0, max_connections=1)
        result = run(config, maker(), events=[(0.5, stall)])
    slow_from_intended = [s for s in result.samples if s.latency >= 0.2]
    # ~60 requests were due during the stall: all of them waited >= 0.2 s for most of it.
    assert len(slow_from_intended) >= 30
    # Timed from the actual send (what a closed loop measures), only the one request on
    # the wire when the stall began is slow: the rest waited for the connection instead.
    service_p99 = result.p(99, "service")
    intended_p99 = result.p(99)
    assert intended_p99 is not None and service_p99 is not None
    assert intended_p99 >= 200
    assert result.service.get_total_count() == result.intended.get_total_count()
    slow_service = result.service.get_count_at_value(result.service.get_max_value())
    assert slow_service <= 2
    assert intended_p99 > 2 * service_p99


def test_bad_settings_are_refused_with_what_is_allowed():
    with pytest.raises(ValueError, match="rate=0"):
        OpenLoopConfig("http://127.0.0.1:1", rate=0, duration=1).validate()
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        OpenLoopConfig("http://example.com", rate=1, duration=1).validate()


def test_completed_rate_stops_at_the_servers_capacity_while_sent_keeps_the_offer():
    # 2 workers x 10 ms = 200 requests/s. Offered 300: every request is still sent (and
    # answered later), but only ~200 a second complete inside the window.
    with CapacityStandIn(workers=2, service_s=0.01) as server:
        over = run(OpenLoopConfig(server.url, rate=300, duration=2.0, warmup=0.3), maker())
        under = run(OpenLoopConfig(server.url, rate=100, duration=2.0, warmup=0.3), maker())
    assert over.achieved_rps == pytest.approx(300, rel=0.02)
    # At most the stand-in's 200/s (less when the suite's other workers take the CPU its
    # threads need): well under what was sent, which is what a probe judges.
    assert 0 < over.completed_rps <= 215
    assert over.completed_rps < 0.75 * over.achieved_rps
    assert under.completed_rps == pytest.approx(100, rel=0.1)
    assert over.summary()["completed_rps"] == round(over.completed_rps, 1)
