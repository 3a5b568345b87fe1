"""`lab fault race`: with replica replay paused, a cold read's cache fill raced against a
write must not leave the old value served after the write (issue 15, item 1; the fix is
in the service's cache: fills versioned by the row's updated_at; the fault is the lab's
proof. Before the fix it found 9 of 30 trials stale here)."""

from __future__ import annotations

import pytest

from lab import alb, race, stack

pytestmark = pytest.mark.servers

# The trials write the 30 coldest ids; 1,000 as test_fault_bulkheads' read-replicas stage,
# so a worker that runs both seeds the template once.
MOVIES = 1_000


@pytest.fixture(scope="module")
def replicas(lab_root, stack_plan):
    # The ALB's target groups from the session's plan (tests/conftest.py, built once per
    # run), not from the program run again under the mocks (~4 CPU-s).
    groups = alb.target_groups_from_plan(stack_plan("prod", "read-replicas"))
    reg = stack.up("read-replicas", movies=MOVIES, say=lambda _m: None, target_groups=groups)
    try:
        yield reg
    finally:
        stack.down(say=lambda _m: None)


def test_no_read_serves_the_old_value_after_an_acknowledged_write(replicas):
    r = race.run_race(replicas, trials=30)
    assert r["writes_acknowledged"] == 30
    # Replay really was paused: no replica had any of the written titles.
    assert r["replica_rows_written_during_pause"] == [0, 0]
    assert r["stale_trials"] == 0, r["details"]
