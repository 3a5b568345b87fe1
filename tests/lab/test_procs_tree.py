"""The /proc walk the lab's faults rely on (lab/procs.live_processes): a process group's
members, and a process's descendants even when they left its group with setsid()."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

from lab.crash import descendants
from lab.procs import group_members


def _wait_for(predicate, seconds: float = 5.0, what: str = "processes did not appear") -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
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


def test_stop_sees_a_group_of_nothing_but_zombies_as_ended(monkeypatch) -> None:
    """kill(-pgid, 0) still finds a zombie; `stop`'s wait (`wait_group`) then ends on its
    slower /proc walk, which skips zombies, instead of waiting out its timeout; and a
    timeout shorter than the walk's interval still ends with a walk, not a False."""
    from lab import procs
    from lab.state import ProcessRecord

    pid = os.fork()
    if pid == 0:  # the child: a group of its own, then exit at once
        os.setpgid(0, 0)
        os._exit(0)
    # The child sets its group itself; this closes the race where it has not yet. Once it
    # has exited (a zombie) the call may be refused: the group is its own either way.
    with contextlib.suppress(PermissionError, ProcessLookupError):
        os.setpgid(pid, pid)
    record = ProcessRecord(name="brief", pid=pid, pgid=pid, started=0, port=None,
                           argv=["true"], log="", stop_signal=int(signal.SIGTERM))  # fmt: skip
    monkeypatch.setattr(procs, "_reap", lambda _pid: None)  # so it stays a zombie
    try:
        _wait_for(lambda: not procs.group_members(pid), what="the child did not exit")
        assert procs.group_signalable(pid)  # the zombie is still in the group
        started = time.monotonic()
        assert procs.wait_group(record, timeout=5.0)
        assert time.monotonic() - started < 2 * procs.WALK_EVERY_S + 0.5
        assert procs.wait_group(record, timeout=0.01)
    finally:
        os.waitpid(pid, 0)
    assert not procs.group_signalable(pid)
