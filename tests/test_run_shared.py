"""Where a run's scratch files go (tests/run_shared.py `scratch_in_memory`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.run_shared import scratch_in_memory


@pytest.fixture
def no_tmpdir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    # monkeypatch puts TMPDIR and gettempdir()'s cache back, whatever the test set.
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)


def test_a_filesystem_with_room_becomes_tmpdir(no_tmpdir, tmp_path: Path) -> None:
    assert scratch_in_memory(tmp_path, min_free=1)
    assert os.environ["TMPDIR"] == str(tmp_path)
    assert tempfile.gettempdir() == str(tmp_path)


def test_without_room_or_where_tmpdir_is_set_nothing_changes(
    no_tmpdir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    assert not scratch_in_memory(tmp_path, min_free=free * 2)
    assert not scratch_in_memory(tmp_path / "absent", min_free=1)
    assert "TMPDIR" not in os.environ
    monkeypatch.setenv("TMPDIR", "/somewhere/chosen")
    assert not scratch_in_memory(tmp_path, min_free=1)
    assert os.environ["TMPDIR"] == "/somewhere/chosen"
