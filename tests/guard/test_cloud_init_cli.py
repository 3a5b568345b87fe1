"""infra.guard.cloud_init_cli against the installed `cloud-init` CLI, side by side: the same
exit status and the same output for a valid document, an invalid one and a missing file."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from infra.guard import cloud_init_cli
from infra.guard.cloud_init_cli import CloudInitError, cloud_init

DOCS = {
    "valid": "#cloud-config\nruncmd: [[ls, /]]\npackages: [nginx]\n",
    "wrong-type": "#cloud-config\nruncmd: 3\n",
    "unknown-key-type": "#cloud-config\nwrite_files: {path: /x}\n",
    "not-yaml": "#cloud-config\nruncmd: [\n",
}


@pytest.mark.parametrize("doc", [*DOCS, "missing-file"])
def test_the_forkserver_answers_what_the_cli_answers(doc: str, tmp_path: Path) -> None:
    path = tmp_path / "user-data.yaml"
    if doc in DOCS:
        path.write_text(DOCS[doc])
    cli = subprocess.run(
        ["cloud-init", "schema", "-c", str(path)], capture_output=True, text=True, check=False
    )
    ours = cloud_init("schema", "-c", str(path))
    assert (ours.returncode, ours.stdout, ours.stderr) == (cli.returncode, cli.stdout, cli.stderr)
    assert (ours.returncode == 0) == (doc == "valid")


def test_a_killed_forkserver_is_started_again(tmp_path: Path) -> None:
    path = tmp_path / "user-data.yaml"
    path.write_text(DOCS["valid"])
    assert cloud_init("schema", "-c", str(path)).returncode == 0
    server = cloud_init_cli._server
    assert server is not None
    os.kill(server._proc.pid, signal.SIGKILL)
    server._proc.wait(timeout=10)
    assert cloud_init("schema", "-c", str(path)).returncode == 0
    assert cloud_init_cli._server is not server


def test_no_cloud_init_is_one_line_that_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr(cloud_init_cli.shutil, "which", lambda _name: None)
    with pytest.raises(CloudInitError, match="make system-deps"):
        cloud_init("schema", "-c", "/nonexistent")


def test_an_interrupted_call_leaves_no_reply_for_the_next(tmp_path: Path, monkeypatch) -> None:
    """Interrupted between its request and the reply (Ctrl-C, a test timeout's signal), the
    forkserver is replaced: the next call gets its own verdict, not the unread one."""
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(DOCS["valid"])
    bad.write_text(DOCS["wrong-type"])
    assert cloud_init("schema", "-c", str(good)).returncode == 0
    server = cloud_init_cli._server
    assert server is not None

    def interrupted() -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(server._proc.stdout, "readline", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cloud_init("schema", "-c", str(good))
    assert cloud_init_cli._server is None
    assert cloud_init("schema", "-c", str(bad)).returncode == 1
