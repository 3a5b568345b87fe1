"""`lab fault keepalive`'s probe against the ALB stand-in in front of two uvicorn targets,
scaled down (ALB idle timeout 3 s): a target keep-alive shorter than the idle timeout
gives 502s at the instant it closes idle connections; a longer one gives none (issue 11,
item 3)."""

from __future__ import annotations

import asyncio
import sys
import urllib.request
from pathlib import Path

import pytest

from lab import keepalive, nginx
from lab.procs import free_port, spawn, stop, wait_until
from lab.state import Registry

pytestmark = pytest.mark.servers

ALB_IDLE = 3

APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"title": "x"}'})
"""


def _up(tmp_path: Path, reg: Registry, target_keepalive: int) -> str:
    (tmp_path / "target_app.py").write_text(APP)
    ports = []
    for i in range(2):
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "target_app:app", "--port", str(port),
                "--timeout-keep-alive", str(target_keepalive)]  # fmt: skip
        record = spawn(reg, f"target{i}", argv, log=tmp_path / f"target{i}.log", cwd=tmp_path)
        wait_until(lambda p=port: _ok(p), f"target{i}", 20, record)
        ports.append(port)
    port = free_port()
    conf = nginx.alb_conf(tmp_path / "alb", port, ports, idle_timeout=ALB_IDLE)
    nginx.start(reg, "alb", tmp_path / "alb", port, conf)
    return f"http://127.0.0.1:{port}"


def _ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.mark.parametrize(("target_keepalive", "rounds"), [(1, 21), (4, 4)])
def test_probe_finds_502s_only_when_the_target_closes_idle_connections_first(
    tmp_path, target_keepalive, rounds
):
    reg = Registry(path=tmp_path / "registry.json")
    try:
        entry = _up(tmp_path, reg, target_keepalive)
        close_s = min(target_keepalive, ALB_IDLE)
        results = [asyncio.run(keepalive.probe(entry, close_s, rounds, 64))]
        if target_keepalive < ALB_IDLE and not results[0]["bad_gateway"]:
            # A race at the instant of each close: one more sweep before calling it absent.
            results.append(asyncio.run(keepalive.probe(entry, close_s, rounds, 64)))
    finally:
        for record in reversed(reg.processes):
            stop(record)
    bad = sum(r["bad_gateway"] for r in results)
    assert all(r["transport_errors"] == 0 for r in results)
    if target_keepalive < ALB_IDLE:
        assert bad > 0, [r["trials"] for r in results]
    else:
        assert bad == 0
        assert set(results[0]["statuses"]) == {"200"}
