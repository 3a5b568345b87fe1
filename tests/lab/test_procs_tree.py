"""The /proc walk the lab's faults rely on (lab/procs.live_processes): a process group's
members, and a process's descendants even when they left its group with setsid()."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from lab.crash import descendants
from lab.procs import group_members


def _wait_for(predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "processes did not appear"
        time.sleep(0.02)


def test_group_members_and_descendants_of_a_tree() -> None:
    # bash with two sleeps in its own group, and a third sleep that setsid()s away from it,
    # as PostgreSQL's backends do.
    root = subprocess.Popen(
        ["bash", "-c", "sleep 30 & sleep 30 & setsid sleep 30 & wait"], start_new_session=True
    )
    try:
        _wait_for(lambda: len(descendants(root.pid)) == 4)
        tree, group = descendants(root.pid), group_members(root.pid)
        assert root.pid in tree and root.pid in group
        assert len(group) == 3  # the setsid'd sleep is not in the group ...
        assert set(group) < set(tree)  # ... but it is a descendant
    finally:
        for pid in descendants(root.pid):
            os.kill(pid, signal.SIGKILL)
        root.wait()
