"""`cloud-init schema -c FILE`, the real CLI, without paying its start-up for each document.

Debian's `cloud-init` is a console script: its interpreter (the shebang, /usr/bin/python3)
loads the `cloud-init` console_scripts entry point and calls `sys.exit(main())`. Most of
the ~0.35 CPU-s a call costs is that interpreter importing cloud-init. Here one process of
that interpreter imports the entry point once (the forkserver below) and, for each
document, forks a child that runs exactly what the script runs (`sys.argv` as the CLI's,
`sys.exit(entry())`, stdout and stderr to files), ~0.03 CPU-s. The verdict (exit status,
output) is the CLI's own; `tests/guard/test_cloud_init_cli.py` holds the two side by side.

One forkserver per process, started on first use; it exits when this process closes its
stdin (at exit, or when this process dies).
"""

from __future__ import annotations

import atexit
import json
import shlex
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

# Runs under the cloud-init script's interpreter: the standard library and cloud-init only.
# Protocol: one request per line, "<argv as JSON>\t<stdout file>\t<stderr file>"; one reply
# per line, the child's exit status.
_FORKSERVER = r"""
import json, os, sys
from importlib.metadata import distribution

dist, group, name = sys.argv[1:4]
entry = next(
    e for e in distribution(dist).entry_points if e.group == group and e.name == name
).load()
# What `cloud-init schema` imports lazily (cloudinit/cmd/main.py), imported once here.
import cloudinit.config.schema  # noqa: F401

for line in sys.stdin:
    argv, out, err = line.rstrip("\n").split("\t")
    pid = os.fork()
    if pid == 0:
        try:
            for fd, target in ((1, out), (2, err)):
                os.dup2(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
            sys.argv = json.loads(argv)
            sys.exit(entry())
        except SystemExit as done:  # what the interpreter does with sys.exit's argument
            code = done.code
            if code is not None and not isinstance(code, int):
                print(code, file=sys.stderr)
                code = 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""

# The console script's entry point (/usr/bin/cloud-init: load_entry_point('cloud-init==...',
# 'console_scripts', 'cloud-init')).
_ENTRY = ("cloud-init", "console_scripts", "cloud-init")


class CloudInitError(RuntimeError):
    """cloud-init is missing, or its interpreter cannot load it: one line, what to do."""


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def _interpreter(script: str) -> list[str]:
    """The script's shebang as argv (`#!/usr/bin/python3`, or `#!/usr/bin/env python3`)."""
    with open(script, "rb") as f:
        first = f.readline().decode("utf-8", "replace").strip()
    if not first.startswith("#!"):
        raise CloudInitError(f"{script} is not a script with a #! line")
    return shlex.split(first[2:])


class _Forkserver:
    def __init__(self, script: str) -> None:
        self._argv = _interpreter(script)
        self._proc = subprocess.Popen(
            [*self._argv, "-c", _FORKSERVER, *_ENTRY],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            # Its own session: a Ctrl-C at the terminal is this process's to handle; the
            # forkserver ends when its stdin closes.
            start_new_session=True,
        )
        self._tmp = tempfile.TemporaryDirectory(prefix="cloud-init-cli-")
        self._requests = 0

    def run(self, argv: list[str]) -> Result:
        self._requests += 1
        n = self._requests
        out, err = Path(self._tmp.name, f"{n}.stdout"), Path(self._tmp.name, f"{n}.stderr")
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(f"{json.dumps(argv)}\t{out}\t{err}\n")
        self._proc.stdin.flush()
        reply = self._proc.stdout.readline()
        if not reply:
            code = self._proc.wait(timeout=10)
            raise CloudInitError(
                f"{self._argv[0]} -c <forkserver> exited with status {code} before answering: "
                "is cloud-init importable by its script's interpreter?"
            )
        try:
            return Result(int(reply), out.read_text(), err.read_text())
        finally:
            out.unlink(missing_ok=True)
            err.unlink(missing_ok=True)

    def close(self) -> None:
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        finally:
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._tmp.cleanup()


_lock = threading.Lock()
_server: _Forkserver | None = None


def _close() -> None:
    global _server
    if _server is not None:
        _server.close()
        _server = None


atexit.register(_close)


def cloud_init(*args: str) -> Result:
    """`cloud-init ARGS...` as the installed CLI runs it: its exit status and output."""
    global _server
    script = shutil.which("cloud-init")
    if script is None:
        raise CloudInitError("cloud-init is not installed: run `make system-deps` (Debian package)")
    with _lock:
        for attempt in (1, 2):
            if _server is None:
                _server = _Forkserver(script)
            try:
                return _server.run([script, *args])
            except (BrokenPipeError, CloudInitError):
                # The forkserver died (killed, say): start it once more, then say so.
                _server.close()
                _server = None
                if attempt == 2:
                    raise
            except BaseException:
                # Interrupted between a request and its reply (Ctrl-C, a test timeout's
                # signal): the reply would answer the next request. A new forkserver next.
                _server.close()
                _server = None
                raise
    raise AssertionError("unreachable")
