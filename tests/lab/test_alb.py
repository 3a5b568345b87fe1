"""The ALB stand-in (lab/alb.py): its haproxy configuration from the target group's
settings, and a real haproxy in front of two stand-in targets behaving like an ALB: health
checks take a failing target out after the unhealthy threshold and back after the healthy
one, a draining target gets no new requests while its in-flight ones complete, a failed
request is not retried on the other target, and thousands of idle connections do not
reset a new request. Times are scaled down (checks every 0.1 s)."""

from __future__ import annotations

import http.client
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab import alb
from lab.procs import LabError, free_port, stop
from lab.state import Registry

# As the program declares it (infra/program/components/load_balancer.py), in plan form.
PLAN = {
    "resources": [
        {
            "type": alb.TARGET_GROUP_TYPE,
            "name": "alb-web",
            "inputs": {
                "deregistrationDelay": 30,
                "healthCheck": {
                    "healthyThreshold": 2,
                    "interval": 15,
                    "matcher": "200",
                    "path": "/healthz",
                    "port": "traffic-port",
                    "protocol": "HTTP",
                    "timeout": 5,
                    "unhealthyThreshold": 3,
                },
            },
        },
        {"type": "aws:lb/loadBalancer:LoadBalancer", "name": "alb-lb", "inputs": {}},
    ]
}


def test_target_group_read_from_a_plan():
    groups = alb.target_groups_from_plan(PLAN)
    assert groups == {
        "web": alb.TargetGroup("web", "/healthz", "200", 15, 5, 2, 3, 30),
    }
    half = groups["web"].scaled(0.5)
    assert (half.interval_s, half.timeout_s, half.deregistration_delay_s) == (7.5, 2.5, 15)
    assert (half.healthy_threshold, half.unhealthy_threshold) == (2, 3)
    with pytest.raises(LabError, match="time_scale"):
        groups["web"].scaled(float("nan"))


def test_the_programs_target_groups_are_what_the_stand_in_uses(stack_plan, monkeypatch):
    # Both groups of scale-5x, with the fields a health check needs, read from the plan
    # rather than copied. The plan is the session's (tests/conftest.py: `build_plan`'s own
    # result, built once a run), not the program run again here.
    import infra.plans.build

    plan = stack_plan("prod", "scale-5x")
    monkeypatch.setattr(infra.plans.build, "build_plan", lambda env, stage: plan)
    groups = alb.program_target_groups("prod", "scale-5x")
    assert set(groups) == {"web", "search"}
    for group in groups.values():
        assert group.path.startswith("/") and group.matcher
        assert group.interval_s > group.timeout_s > 0
        assert group.unhealthy_threshold >= 2 and group.healthy_threshold >= 2
        assert group.deregistration_delay_s > 0


def test_config_carries_the_target_groups_health_check_and_no_retries(tmp_path):
    group = alb.target_groups_from_plan(PLAN)["web"]
    spec = alb.new_spec(8080, [("api1", 9001), ("api2", 9002)], {"web": group}, time_scale=0.1)
    conf = alb.haproxy_conf(spec, tmp_path)
    assert "http-check send meth GET uri /healthz" in conf
    assert "http-check expect status 200" in conf
    assert "check inter 1500ms fall 3 rise 2" in conf  # 15 s x 0.1
    assert "timeout check 500ms" in conf
    assert "retries 0" in conf and "redispatch" not in conf
    assert "server api1 127.0.0.1:9001" in conf and "server api2 127.0.0.1:9002" in conf
    assert f"maxconn {alb.max_connections()}" in conf and alb.max_connections() >= 4200
    assert f"tune.bufsize {64 * 1024 + alb.HAPROXY_MAXREWRITE}" in conf
    # haproxy itself accepts it.
    for status, text in alb.ERROR_FILES.items():
        (tmp_path / "errors").mkdir(exist_ok=True)
        (tmp_path / "errors" / f"{status}.http").write_text(text)
    (tmp_path / "haproxy.cfg").write_text(conf)
    done = subprocess.run(
        ["haproxy", "-c", "-q", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("matcher", "rule"),
    [("200", "status 200"), ("200-202", "rstatus ^(200|201|202)$"), ("200,204", None)],
)
def test_matcher(matcher, rule):
    got = alb.matcher_expect(matcher)
    assert got == (rule or "rstatus ^(200|204)$")


@pytest.mark.parametrize("bad", ["ok", "100", "200-600", ""])
def test_bad_matcher_is_one_line(bad):
    with pytest.raises(LabError, match="matcher"):
        alb.matcher_expect(bad)


# --- a real haproxy over two stand-in targets ----------------------------------------------


@dataclass
class Target:
    """A stand-in target: /healthz answers 200 or 503 as told, /slow takes SLOW_S, /close
    drops the connection without an answer; every request is counted by path."""

    healthy: bool = True
    hits: dict[str, int] = field(default_factory=dict)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def count(self, path: str) -> int:
        return self.hits.get(path, 0)


SLOW_S = 1.0


def _serve(target: Target) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            target.hits[self.path] = target.hits.get(self.path, 0) + 1
            if self.path == "/close":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if self.path == "/slow":
                time.sleep(SLOW_S)
            status = 503 if self.path == "/healthz" and not target.healthy else 200
            body = str(target.port).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, *_args) -> None:
            pass  # haproxy's checks close with a reset; not a test failure

    target.server = Server(("127.0.0.1", 0), Handler)
    # shutdown() waits for serve_forever's next poll: 0.5 s by default, per target.
    threading.Thread(target=target.server.serve_forever, args=(0.05,), daemon=True).start()


INTERVAL_S = 0.1
GROUP = alb.TargetGroup("web", "/healthz", "200", INTERVAL_S, 0.1, 2, 3, 1.0)


@pytest.fixture
def lb(tmp_path: Path) -> Iterator[tuple[alb.AlbSpec, list[Target]]]:
    targets = [Target(), Target()]
    for t in targets:
        _serve(t)
    spec = alb.new_spec(free_port(), [("a", targets[0].port), ("b", targets[1].port)],
                        {"web": GROUP}, idle_timeout_s=60)  # fmt: skip
    reg = Registry(path=tmp_path / "registry.json")
    try:
        alb.start(reg, "alb", tmp_path / "alb", spec)
        _wait(lambda: _states(spec) == {"a": "UP", "b": "UP"}, 5)
        yield spec, targets
    finally:
        for record in reversed(reg.processes):
            stop(record)
        for t in targets:
            assert t.server is not None
            t.server.shutdown()
            t.server.server_close()


def _states(spec: alb.AlbSpec) -> dict[str, str]:
    admin = alb.Admin(spec.admin_port)
    return {name: admin.status("web", name) for name, _ in spec.web.targets}


def _wait(check, seconds: float) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > seconds:
            raise AssertionError(f"not within {seconds}s")
        time.sleep(0.02)
    return time.perf_counter() - started


def _get(spec: alb.AlbSpec, path: str, timeout: float = 10) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", spec.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


@pytest.mark.servers
def test_failing_target_leaves_after_unhealthy_threshold_and_returns_after_healthy(lb):
    spec, (a, b) = lb
    a.healthy = False
    out = _wait(lambda: _states(spec)["a"] == "DOWN", 5)
    # Three failed checks 0.1 s apart, not one: at least two intervals.
    assert out >= 2 * INTERVAL_S
    assert {_get(spec, "/x")[1] for _ in range(6)} == {str(b.port)}
    before = a.count("/x")
    a.healthy = True
    back = _wait(lambda: _states(spec)["a"] == "UP", 5)
    assert back >= INTERVAL_S  # two passes in a row
    assert {_get(spec, "/x")[1] for _ in range(6)} == {str(a.port), str(b.port)}
    assert a.count("/x") > before


@pytest.mark.servers
def test_draining_target_finishes_in_flight_requests_and_gets_no_new_ones(lb):
    spec, (a, b) = lb
    admin = alb.Admin(spec.admin_port)
    admin.set_state("web", "b", "maint")  # so the slow request lands on a
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(_get, spec, "/slow")
        _wait(lambda: a.count("/slow") == 1, 5)
        admin.set_state("web", "b", "ready")
        result = admin.deregister("web", "a", delay_s=SLOW_S + 0.5)
        news = [_get(spec, "/new") for _ in range(10)]
        assert slow.result() == (200, str(a.port))
    assert result["in_flight_max_while_draining"] == 1 and result["in_flight_at_end"] == 0
    assert a.count("/new") == 0 and b.count("/new") == 10
    assert all(status == 200 for status, _ in news)
    assert _states(spec)["a"] == "MAINT"


@pytest.mark.servers
def test_a_failed_request_is_answered_502_and_not_retried(lb):
    spec, (a, b) = lb
    status, _ = _get(spec, "/close")
    assert status == 502
    assert a.count("/close") + b.count("/close") == 1


@pytest.mark.servers
def test_thousands_of_idle_connections_do_not_reset_new_requests(lb):
    spec, _ = lb
    idle = []
    try:
        for _ in range(4200):
            idle.append(socket.create_connection(("127.0.0.1", spec.port), timeout=5))
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda _i: _get(spec, "/y")[0], range(255)))
        assert results == [200] * 255
        # The idle connections are still open (haproxy did not drop them to make room).
        idle[0].sendall(b"GET /z HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle[0].recv(12) == b"HTTP/1.1 200"
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.servers
def test_oversize_request_line_and_headers_are_400(lb):
    spec, _ = lb
    assert _get(spec, "/" + "a" * (alb.ALB_REQUEST_LINE_MAX + 10))[0] == 400
    conn = http.client.HTTPConnection("127.0.0.1", spec.port, timeout=10)
    conn.putrequest("GET", "/h")
    for i in range(5):
        conn.putheader(f"X-Big-{i}", "a" * 15_000)  # 75 K in all: over the ALB's 64 K
    conn.endheaders()
    assert conn.getresponse().status == 400
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", spec.port, timeout=10)
    conn.putrequest("GET", "/h")
    for i in range(3):
        conn.putheader(f"X-Big-{i}", "a" * 15_000)  # 45 K: within it
    conn.endheaders()
    assert conn.getresponse().status == 200
    conn.close()
    assert _get(spec, "/metrics")[0] == 404
