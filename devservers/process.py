"""What a launcher hands its caller (`Launch`), and the plain supervisor: a child process in
its own session, waited on until ready, stopped with its own stop signal."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """A development server could not be prepared or started; one line says which and why."""


@dataclass(frozen=True)
class Launch:
    """How to start one server: run `argv` (as `user`, None: as ourselves), stop it with
    `stop_signal`; it serves once `ready()` is true."""

    what: str
    argv: list[str]
    ready: Callable[[], bool]
    user: str | None = None
    stop_signal: int = signal.SIGTERM


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def as_user(argv: Sequence[str], user: str | None) -> list[str]:
    """`argv` run as `user` (None: as ourselves) through util-linux's setpriv, which sets the
    ids and execs the command (no parent left behind, unlike runuser, so signals reach the
    server itself).

    Not Popen's own `user=`/`group=`: with those CPython cannot use vfork() and forks the
    caller's whole address space (Modules/_posixsubprocess.c: vfork only when uid, gid and
    extra groups are left alone). From a test worker holding the plans and pulumi_aws (~0.8
    GB) one such fork cost 66 ms, 31 ms of it system time, against under 2 ms with vfork
    (measured here, 2026-12-07), and the suite starts a few hundred PostgreSQL tools."""
    if user is None:
        return list(argv)
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--", *argv]


# A directory every user may enter: the server's working directory when it runs as another
# user (ours may be one it cannot read).
NEUTRAL_CWD = "/tmp"


def start(launch: Launch, log: Path, timeout: float = 60) -> subprocess.Popen[bytes]:
    """Start `launch` as our child, output appended to `log`; return once it is ready."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            as_user(launch.argv, launch.user),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=NEUTRAL_CWD if launch.user else None,
        )
    deadline = time.monotonic() + timeout
    while not launch.ready():
        if proc.poll() is not None:
            raise ServerError(f"{launch.what} exited with code {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            stop(proc, launch.stop_signal)
            raise ServerError(f"{launch.what} not ready within {timeout:.0f}s; see {log}")
        time.sleep(0.05)
    return proc


def kill_session(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL every process in `proc`'s session (`start` gives each server its own, so
    its process group is the server's whole tree) and reap `proc`."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # The group's other members were the postmaster's children, now re-parented to init:
    # wait until none is left, so the caller's next step meets a dead server.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Send `sig`, wait up to 15 s, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
