"""The directory the workers of one pytest-xdist run share (tests/conftest.py makes it in
the controller and removes it when the run ends): one home for its variable's name."""

from __future__ import annotations

import os
from pathlib import Path

RUN_SHARED_DIR = "MOVIES_TEST_RUN_SHARED_DIR"


def shared_dir() -> Path | None:
    """This run's shared directory, in an xdist worker; None in a single-process run."""
    if "PYTEST_XDIST_WORKER" not in os.environ or RUN_SHARED_DIR not in os.environ:
        return None
    return Path(os.environ[RUN_SHARED_DIR])
