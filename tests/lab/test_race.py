"""`lab fault race`: with replica replay paused, a cold read's cache fill raced against a
write must not leave the old value served after the write (issue 15, item 1; the fix is
in the service's cache, the fault is the lab's proof)."""

from __future__ import annotations

import pytest

from lab import race, stack

pytestmark = pytest.mark.servers

MOVIES = 2_000


@pytest.fixture(scope="module")
def replicas(lab_root):
    reg = stack.up("read-replicas", movies=MOVIES, say=lambda _m: None)
    try:
        yield reg
    finally:
        stack.down(say=lambda _m: None)


# The fix is the service's (i12, issue 15 item 1). Until it lands the fault finds stale
# reads (9 of 30 trials here, 2026-11-29), so this is a strict xfail: it fails the run the
# moment the fix makes it pass, and the marker must go then.
@pytest.mark.xfail(
    strict=True, reason="the service's fill/write race fix (issue 15 item 1) has not landed"
)
def test_no_read_serves_the_old_value_after_an_acknowledged_write(replicas):
    r = race.run_race(replicas, trials=30)
    assert r["writes_acknowledged"] == 30
    # Replay really was paused: no replica had any of the written titles.
    assert r["replica_rows_written_during_pause"] == [0, 0]
    assert r["stale_trials"] == 0, r["details"]
