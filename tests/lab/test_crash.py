"""The lab's PostgreSQL has RDS's durability, and `lab fault primary-crash` proves it:
every process of the primary SIGKILLed under a write load loses no acknowledged write;
with synchronous_commit off, the same fault finds lost writes (issue 15, item 2)."""

from __future__ import annotations

import time

import pytest

from lab import crash, postgres, stack

pytestmark = [pytest.mark.servers, pytest.mark.wall(14)]

MOVIES = 20_000  # enough distinct (user, movie) rows that every acknowledged write is new


@pytest.fixture(scope="module")
def split_db(lab_root):
    # One stage for the module. A test that changes the primary's settings restores them
    # (`rds_durability_after`), so the tests pass in any order.
    reg = stack.up("split-db", movies=MOVIES, say=lambda _m: None)
    try:
        yield reg
    finally:
        stack.down(say=lambda _m: None)


@pytest.fixture
def rds_durability_after(split_db):
    """Undo `run_crash(synchronous_commit=..., wal_writer_delay=...)`: its ALTER SYSTEM
    lands in postgresql.auto.conf, which outlives the crash and would win over the
    durability block for every later test on this stage."""
    yield split_db
    port = split_db.endpoints["primary_port"]
    postgres.psql(port, "ALTER SYSTEM RESET synchronous_commit")
    postgres.psql(port, "ALTER SYSTEM RESET wal_writer_delay")
    postgres.psql(port, "SELECT pg_reload_conf()")
    # The reload is a signal the postmaster handles on its own time: wait for it to show.
    deadline = time.monotonic() + 10
    while postgres.settings(port) != postgres.DURABILITY and time.monotonic() < deadline:
        time.sleep(0.1)
    assert postgres.settings(port) == postgres.DURABILITY


def test_lab_primary_runs_with_rds_durability_settings(split_db):
    port = split_db.endpoints["primary_port"]
    assert postgres.settings(port) == {
        "synchronous_commit": "on",
        "fsync": "on",
        "full_page_writes": "on",
    }


def test_primary_crash_loses_no_acknowledged_write(split_db):
    # write_after: the writers' time after the crash, restart included; at 2 s a restart
    # on a loaded machine (load 18, parallel suite) took all of it and no write resumed.
    # It is a bound now (10 s): the writers stop once 100 writes were acknowledged after
    # the restarted primary accepted connections (writes_after_ready), which is what shows
    # that writes resumed; before, the 8 writers ran for all 5 s, saturating both cores
    # with writes nothing looked at but their count (what the crash can lose is what was
    # in flight when it came). On a quiet machine the writes stop ~1 s after the crash;
    # at load 14-20 (other suites running beside this one) a restart left 0 writes
    # acknowledged after it within 5 s once, so the bound is 10 s.
    # crash_after: >100 acknowledged writes before the crash; 1 s held 1,066 here; 2 s
    # before, while the 8 writers saturate the CPU. At load 23-27 (other suites beside
    # this one) 1 s held 87, so the crash now comes once 300 writes were acknowledged
    # (crash_after_writes; ~0.3 s on a quiet machine), with 5 s as the bound. The 8
    # writers are at full pace either way, so as much is in flight when it comes.
    r = crash.run_crash(
        split_db, crash_after=5, crash_after_writes=300, write_after=10, writes_after_ready=100
    )
    summary = {k: v for k, v in r.items() if k != "what"}
    assert r["primary_settings"]["synchronous_commit"] == "on"
    assert r["killed_processes"] > 1  # the postmaster and its backends
    assert r["acknowledged_before_crash"] > 100, summary
    assert r["acknowledged"] > r["acknowledged_before_crash"], summary  # writes resumed
    assert r["acknowledged_after_restart"] > 0, summary  # ... after the restart
    assert r["lost"] == 0, summary


def test_primary_crash_finds_lost_writes_when_commits_are_not_flushed(rds_durability_after):
    split_db = rds_durability_after
    # Whether the last unflushed commits are lost depends on where the WAL writer was: at
    # its default 200 ms, three crashes in a row on a quiet machine lost 0. With the writer
    # at its 10 s maximum, every commit since the stage came up sits unwritten when the
    # crash comes; up to six crashes still, on the same stage (the settings persist in
    # postgresql.auto.conf until the fixture resets them). Three were not always enough in
    # the parallel suite: on a fresh clone at -n 2 (2026-12-06) three crashes lost 0 once,
    # while alone the first crash loses writes every time; a loss stops the loop.
    lost = []
    for _ in range(6):
        r = crash.run_crash(
            split_db,
            crash_after=1,  # every commit since the stage came up is unflushed (above)
            # What is lost was acknowledged before the crash; the writes after the
            # restart (to movies not written yet) add nothing to find: stop at the first.
            write_after=1,
            writes_after_ready=1,
            synchronous_commit="off",
            wal_writer_delay="10s",
        )
        assert r["primary_settings"]["synchronous_commit"] == "off"
        lost.append(r["lost"])
        if r["lost"]:
            break
    assert any(lost), f"no acknowledged write lost in {len(lost)} crashes: {lost}"
