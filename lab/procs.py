"""Process supervision for the lab: every server runs in its own process group, and every
group is written to the registry before anything else happens, so `lab down` (or a crash
half-way through `lab up`) can always find and end it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

# Loopback, a free port and "is it listening" have one home, beside the server launchers.
from devservers.process import LOOPBACK, as_user, free_port, port_open
from lab.state import ProcessRecord, Registry

__all__ = ["LOOPBACK", "Enter", "LabError", "free_port", "port_open", "spawn", "stop"]
# Wraps an argv (and the user it runs as) so that the process joins its tier's cgroup.
Enter = Callable[[list[str], str | None], list[str]]


class LabError(RuntimeError):
    """A lab step failed; the message is one line that says which and why."""


def pin(cpus: str | None) -> list[str]:
    """An argv prefix that keeps a server on `cpus` (taskset execs, so the pid is kept)."""
    if not cpus:
        return []
    return ["taskset", "-c", cpus]


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), None if it is gone.

    Stored with each pid so that `down` never signals a recycled pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so split after its ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def spawn(
    registry: Registry,
    name: str,
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    port: int | None = None,
    stop_signal: int = signal.SIGTERM,
    enter: Enter | None = None,
) -> ProcessRecord:
    """Start `argv` in a new session (its own process group) and register it at once.

    `enter(argv, user)` wraps the command so that it joins a CPU cgroup before it execs
    (lab/cgroups.py); the wrapper then also takes care of running it as `user`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if enter is not None:
        argv, user = enter(list(argv), user), None
    with log.open("ab") as out:
        argv = as_user(argv, user)  # setpriv, not Popen's user=: see devservers/process.py
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    record = ProcessRecord(
        name=name,
        pid=proc.pid,
        pgid=proc.pid,
        started=start_time(proc.pid) or 0,
        port=port,
        argv=list(argv),
        log=str(log),
        stop_signal=int(stop_signal),
    )
    registry.add(record)
    return record


def alive(record: ProcessRecord) -> bool:
    started = start_time(record.pid)
    if started is None or started != record.started:
        return False
    # A zombie has exited; it only waits for its parent to reap it.
    try:
        state = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def live_processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every live (non-zombie) process, from
    /proc/<pid>/stat (the fields after the command name, which may hold spaces or ')').

    Plain os calls and bytes, not pathlib: `stop` walked /proc every 50 ms while a group
    ended (every WALK_EVERY_S now), and a lab's take-down walked it ~100 times (pathlib's
    objects were half of it)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # the process ended while we looked
        fields = stat.rsplit(b")", 1)[1].split(None, 3)
        if fields[0] != b"Z":
            yield int(name), int(fields[1]), int(fields[2])


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids whose process group is `pgid`."""
    if not group_signalable(pgid):
        return []  # no process at all (not even a zombie) is in the group: no walk needed
    return [pid for pid, _, group in live_processes() if group == pgid]


def group_signalable(pgid: int) -> bool:
    """Whether any process, a zombie included, is in the group: one system call."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # members we may not signal (the `postgres` user's) are still members
    return True


# How often `stop` walks /proc while a group ends. Between walks it asks the kernel
# (kill(-pgid, 0)), which sees the group's end the moment its last process is reaped; the
# walk is only needed to see a group that holds nothing but zombies (whose parents have
# not reaped them yet). A walk reads every /proc/<pid>/stat: at every 50 ms poll a
# read-replicas take-down walked it 30 times (0.15 CPU-s), now 9 (0.06), and py-spy over a
# whole suite run had put the walk among the test workers' busiest frames (2026-12-07).
WALK_EVERY_S = 0.5


def wait_group(record: ProcessRecord, timeout: float) -> bool:
    """Poll until the group has no live member; False if it still has one at `timeout`
    (a last walk then decides, so a group of zombies only is never reported alive)."""
    deadline = time.monotonic() + timeout
    next_walk = time.monotonic() + WALK_EVERY_S
    while True:
        _reap(record.pid)
        if not group_signalable(record.pgid):
            return True
        now = time.monotonic()
        if now >= next_walk or now >= deadline:
            next_walk = now + WALK_EVERY_S
            if not group_members(record.pgid):
                return True
        if now >= deadline:
            return False
        time.sleep(0.05)


def stop(record: ProcessRecord, timeout: float = 10.0) -> None:
    """Signal the whole group, wait, then SIGKILL whatever is left of it."""
    if not group_members(record.pgid):
        _reap(record.pid)
        return
    if alive(record):
        _killpg(record.pgid, record.stop_signal)
    else:
        # The leader is gone but children remain: nothing graceful left to ask.
        _killpg(record.pgid, signal.SIGTERM)
    if wait_group(record, timeout):
        _reap(record.pid)
        return
    _killpg(record.pgid, signal.SIGKILL)
    if not wait_group(record, 5.0) and group_members(record.pgid):
        raise LabError(f"process group {record.pgid} ({record.name}) survived SIGKILL")


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _reap(pid: int) -> None:
    # Our own children become zombies until waited for; others are reaped by init.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(check, what: str, timeout: float, record: ProcessRecord | None = None) -> None:
    """Poll `check()` until true; fail early if the process it waits for has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if record is not None and not alive(record):
            raise LabError(f"{record.name} exited while waiting for {what}; see {record.log}")
        time.sleep(0.05)
    where = f"; see {record.log}" if record is not None else ""
    raise LabError(f"timed out after {timeout:.0f}s waiting for {what}{where}")


def run(argv: Sequence[str], *, user: str | None = None, timeout: float = 120, **kw) -> str:
    """Run a short command to completion; a failure raises with its last stderr line."""
    proc = subprocess.run(
        as_user(argv, user),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kw,
    )
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["(no output)"]
        raise LabError(f"{argv[0]} failed (exit {proc.returncode}): {lines[-1]}")
    return proc.stdout
