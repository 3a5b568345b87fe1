"""`lab up` / `lab down` leave nothing behind."""

from __future__ import annotations

import sys
import urllib.request

import pytest

from lab import postgres, stack
from lab.bench import postgres_clocks
from lab.procs import group_members, spawn, stop
from lab.saturate import Slo
from lab.state import Registry

pytestmark = pytest.mark.servers


def test_stop_ends_the_whole_process_group_children_included(tmp_path):
    reg = Registry(path=tmp_path / "registry.json")
    # A leader that ignores SIGTERM and a grandchild: both must go.
    code = (
        "import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "subprocess.Popen(['sleep', '300']); time.sleep(300)"
    )
    record = spawn(reg, "stubborn", [sys.executable, "-c", code], log=tmp_path / "s.log")
    import time

    deadline = time.monotonic() + 5
    while len(group_members(record.pgid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(group_members(record.pgid)) == 2
    stop(record, timeout=1)
    assert group_members(record.pgid) == []
    assert Registry.load(tmp_path).get("stubborn").pid == record.pid  # registered at once


def test_up_then_down_of_a_small_stage_leaves_no_process(lab_root):
    reg = stack.up("split-db", movies=300, say=lambda _m: None)
    try:
        groups = [p.pgid for p in reg.processes]
        names = {p.name for p in reg.processes}
        assert names == {"pg-primary", "api1"}
        assert all(group_members(g) for g in groups)
        entry = reg.endpoints["entry"]
        assert entry.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{entry}/movies/7", timeout=5) as resp:
            assert resp.status == 200
        with pytest.raises(Exception, match="already up"):
            stack.up("single-box", movies=300, say=lambda _m: None)
        # The bench's PostgreSQL clocks on the lab's clock (lab/bench.py postgres_clocks):
        # at 0.04 lab CPU per vCPU (dilation 25) autovacuum sleeps 25 min, checkpoints 125.
        values = postgres_clocks(reg.endpoints, Slo.at_scale(0.04))
        assert values == {"autovacuum_naptime": 1500, "checkpoint_timeout": 7500}
        show = "SELECT setting FROM pg_settings WHERE name = '{}'"
        port = reg.endpoints["primary_port"]
        assert [postgres.psql(port, show.format(n)).strip() for n in values] == ["1500", "7500"]
    finally:
        stopped = stack.down(say=lambda _m: None)
    assert stopped == 2
    assert all(group_members(g) == [] for g in groups)
    assert Registry.load(lab_root).processes == []
    # A second down finds nothing to stop and does not fail.
    assert stack.down(say=lambda _m: None) == 0
