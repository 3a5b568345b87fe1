"""A private `.lab/` for the server tests, shared by the session so the seed runs once."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    # PostgreSQL runs as `postgres` under root: it must be able to reach its data dirs.
    for parent in [root, *root.parents]:
        if str(parent) in ("/", "/tmp"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o055)
    old = os.environ.get("LAB_DIR")
    os.environ["LAB_DIR"] = str(root)
    yield root
    from lab import stack

    stack.down(say=lambda _m: None)
    if old is None:
        os.environ.pop("LAB_DIR", None)
    else:
        os.environ["LAB_DIR"] = old
