"""The pure parts of the faults' figures: no servers."""

from __future__ import annotations

import pytest

from infra.config import load_stack_config
from lab import keepalive
from lab.faults import HITS_SUSTAIN_S, HITS_TICK_S, hits_again
from lab.topology import topology


def _ticks(pattern: str) -> list[tuple[float, int]]:
    """One poll per character: '+' hits grew since the previous poll, '.' they did not."""
    hits, out = 0, [(0.0, 0)]
    for i, c in enumerate(pattern, start=1):
        hits += c == "+"
        out.append((i * HITS_TICK_S, hits))
    return out


def test_hits_again_is_the_start_of_the_first_sustained_run_not_the_first_hit():
    per_breaker = int(5 / HITS_TICK_S)  # the service's breaker: 5 s open after each trip
    flapping = ("+" + "." * per_breaker) * 6  # one hit, then bypassed again, six times
    steady = "+" * int(HITS_SUSTAIN_S / HITS_TICK_S + 4)
    ticks = _ticks(flapping + steady)
    assert ticks[1][1] == 1  # the old figure would have said "back after one poll"
    assert hits_again(ticks) == pytest.approx(len(flapping) * HITS_TICK_S)


def test_hits_again_is_none_when_hits_never_last():
    assert hits_again(_ticks(("++++" + "....") * 10)) is None
    assert hits_again(_ticks("")) is None


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_lab_takes_idle_timeout_and_keep_alive_from_the_stacks_profile(env):
    profile = load_stack_config(env, "load-balanced").env
    topo = topology("load-balanced", env)
    assert (topo.alb_idle_timeout_s, topo.http_keepalive_s) == (
        profile.alb_idle_timeout_s,
        profile.http_keepalive_s,
    )
    assert topo.http_keepalive_s > topo.alb_idle_timeout_s


def test_keepalive_sweep_crosses_every_idle_close_of_the_last_burst():
    gaps = keepalive.sweep(5.0, 0.04, 21)
    # The target connections' timers fire between 5 s after the burst began and 5 s after
    # it ended; the sweep covers that window with a margin on both sides.
    assert gaps[0] < 5.0 - 0.04 and gaps[-1] > 5.0
    assert len(gaps) == 21 and gaps == sorted(gaps)
    assert keepalive.rounds_for(5.0) == 21 and keepalive.rounds_for(60.0) == 3
