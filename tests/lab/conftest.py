"""A private `.lab/` for the server tests, shared by the session so the seed runs once."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def lab_root():
    # Not under pytest's tmp_path: pytest resets /tmp/pytest-of-<user> to mode 0700 when
    # any session starts, which locks the `postgres` user out of its data directories.
    root = Path(tempfile.mkdtemp(prefix="lab-test-"))
    os.chmod(root, 0o755)
    old = os.environ.get("LAB_DIR")
    os.environ["LAB_DIR"] = str(root)
    try:
        yield root
    finally:
        from lab import stack

        stack.down(say=lambda _m: None)
        if old is None:
            os.environ.pop("LAB_DIR", None)
        else:
            os.environ["LAB_DIR"] = old
        shutil.rmtree(root, ignore_errors=True)
