"""A private `.lab/` for the server tests, shared by the session so the seed runs once.

Under pytest-xdist the seeded PostgreSQL templates (lab/stack.py `ensure_template`) live in
the run's shared directory (tests/conftest.py `RUN_SHARED_DIR`), so each is seeded once
per run and not once per worker: 2.3 CPU-s (1,000 movies) to 3.8 CPU-s (20,000) each, the
300-movie one used by five files here. Only the templates are shared (workers copy them,
never change them, and build each under a lock); the rest of `.lab/` (registry, run
directories, the bench's cache files) stays the worker's own."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.run_shared import shared_dir


def _shared_templates() -> Path | None:
    shared = shared_dir()  # set for the workers of a pytest-xdist run only
    if shared is None:
        return None
    # The `postgres` user seeds the template in a directory below it: it must be able to
    # pass through the run's directory (mkdtemp made it 0700; listing it stays denied).
    os.chmod(shared, 0o711)
    templates = shared / "lab-templates"
    templates.mkdir(exist_ok=True)
    os.chmod(templates, 0o755)
    return templates


@pytest.fixture(scope="session")
def lab_root():
    # Not under pytest's tmp_path: pytest resets /tmp/pytest-of-<user> to mode 0700 when
    # any session starts, which locks the `postgres` user out of its data directories.
    from lab import stack

    root = Path(tempfile.mkdtemp(prefix="lab-test-"))
    os.chmod(root, 0o755)
    templates = _shared_templates()
    try:
        with pytest.MonkeyPatch.context() as env:  # LAB_DIR and the templates' home put back
            env.setenv("LAB_DIR", str(root))
            if templates is not None:
                env.setenv(stack.TEMPLATES_ENV, str(templates))
            try:
                yield root
            finally:
                stack.down(say=lambda _m: None)
    finally:
        shutil.rmtree(root, ignore_errors=True)
