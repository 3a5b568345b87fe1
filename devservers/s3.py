"""The S3 stand-in's launcher: moto's server in its own process (`python -m moto.server`),
standing in for the media bucket. It keeps its objects in memory: no durability switch to
offer, and none needed by anything that uses it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

from devservers.process import LOOPBACK, Launch, ServerError, port_open


def launch(port: int, *, prefix: Sequence[str] = ()) -> Launch:
    if importlib.util.find_spec("moto") is None:
        raise ServerError("moto is not installed; pip install 'moto[server]' (requirements.txt)")
    return Launch(
        what=f"S3 stand-in (moto) on port {port}",
        argv=[*prefix, sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        ready=lambda: port_open(port),
    )


def endpoint(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"
