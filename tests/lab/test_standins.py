"""The ALB and CloudFront stand-ins keep the AWS behaviour that matters (issues 11, 15).

Each test drives a real nginx with the lab's generated config in front of small origins
on 127.0.0.1 that record what reached them.
"""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import nginx
from lab.procs import free_port, stop
from lab.state import Registry

pytestmark = pytest.mark.servers


class Recorder(http.server.BaseHTTPRequestHandler):
    """An HTTP/1.1 keep-alive origin: `/close` hangs up without answering, `/500` answers
    500 and then hangs up (what uvicorn did on a bad header), anything else 200."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server = self.server
        server.seen.append((self.command, self.path))
        server.connections.add(self.client_address)
        if self.path.startswith("/close") or self.path.startswith(server.hang_up_on):
            self.close_connection = True
            return
        status = 500 if self.path.startswith("/500") else 200
        body = json.dumps({"port": server.server_address[1]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if status == 500:
            self.close_connection = True

    do_POST = do_GET
    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


def _origin() -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.daemon_threads = True
    server.seen = []
    server.connections = set()
    server.hang_up_on = "/close"
    # shutdown() waits for serve_forever's next poll: 0.5 s by default, twice per fixture.
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def _request(port: int, method: str, path: str, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


@pytest.fixture
def alb(tmp_path: Path) -> Iterator[tuple[int, list[http.server.ThreadingHTTPServer]]]:
    origins = [_origin(), _origin()]
    reg = Registry(path=tmp_path / "registry.json")
    port = free_port()
    ports = [o.server_address[1] for o in origins]
    conf = nginx.alb_conf(tmp_path / "alb", port, ports, idle_timeout=2)
    try:
        nginx.start(reg, "alb", tmp_path / "alb", port, conf)
        yield port, origins
    finally:
        for record in reg.processes:
            stop(record)
        for o in origins:
            o.shutdown()


def test_alb_does_not_retry_a_failed_request_on_the_other_target(alb):
    port, origins = alb
    origins[0].hang_up_on = "/flaky"  # one target hangs up on these, the other answers
    statuses = [_request(port, "GET", f"/flaky/{i}")[0] for i in range(6)]
    # Round robin: half reached the failing target, and its failure came back as a 502
    # instead of being retried on the healthy one.
    assert sorted(statuses) == [200, 200, 200, 502, 502, 502]
    assert [len(o.seen) for o in origins] == [3, 3]


def test_errors_from_one_request_kind_do_not_take_targets_out_of_rotation(alb):
    port, origins = alb
    for i in range(8):  # more than nginx's old max_fails=3 per target, inside 5 s
        _request(port, "GET", f"/500/{i}")
        _request(port, "GET", f"/close/{i}")
    for o in origins:
        o.seen.clear()
    statuses = [_request(port, "GET", f"/movies/{i}")[0] for i in range(20)]
    assert statuses == [200] * 20
    assert [len(o.seen) for o in origins] == [10, 10]  # round robin over both


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/metricsx", "/%6detrics", "/metrics?a"])
def test_alb_answers_404_for_metrics_paths_without_reaching_a_target(alb, path):
    port, origins = alb
    status, ctype, body = _request(port, "GET", path)
    assert (status, ctype, body) == (404, "text/plain", b"not found")
    assert all(o.seen == [] for o in origins)
    assert _request(port, "GET", "/movies/1")[0] == 200  # other paths are forwarded


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [("GET", "/movies/1%00", None, 400), ("POST", "/users/me/watchlist", b"x" * 2_000_000, 413)],
)
def test_errors_nginx_answers_itself_are_json_like_the_apis(alb, method, path, body, status):
    port, _ = alb
    got, ctype, payload = _request(port, method, path, body)
    assert (got, ctype) == (status, "application/json")
    assert set(json.loads(payload)) == {"error"}


def test_alb_closes_idle_client_connections_at_its_idle_timeout(alb):
    port, _ = alb
    client = socket.create_connection(("127.0.0.1", port))
    try:
        request = b"GET /movies/1 HTTP/1.1\r\nHost: lab\r\n\r\n"
        client.sendall(request)
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(1)  # under the 2 s idle timeout: the same client connection serves
        client.sendall(request)
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(3)  # past it: the stand-in has closed the client connection
        client.settimeout(2)
        assert client.recv(4096) == b""
    finally:
        client.close()


def test_alb_reuses_target_connections_until_its_idle_timeout_then_opens_new_ones(alb):
    port, origins = alb
    for i in range(4):  # round robin: two requests per target, one connection each
        assert _request(port, "GET", f"/movies/{i}")[0] == 200
    assert [len(o.connections) for o in origins] == [1, 1]
    time.sleep(3)  # past the 2 s idle timeout: the stand-in closed both
    for i in range(2):
        assert _request(port, "GET", f"/movies/{i}")[0] == 200
    assert [len(o.connections) for o in origins] == [2, 2]


@pytest.fixture
def cdn(tmp_path: Path) -> Iterator[tuple[int, http.server.ThreadingHTTPServer]]:
    api, s3 = _origin(), _origin()
    reg = Registry(path=tmp_path / "registry.json")
    port = free_port()
    conf = nginx.cdn_conf(
        tmp_path / "cdn", port, api.server_address[1], s3.server_address[1], "bucket"
    )
    try:
        nginx.start(reg, "cdn", tmp_path / "cdn", port, conf)
        yield port, s3
    finally:
        for record in reg.processes:
            stop(record)
        api.shutdown()
        s3.shutdown()


@pytest.mark.parametrize(
    "path", ["/media/", "/media/?list-type=2", "/media//", "/media/./", "/media/x/../"]
)
def test_cdn_never_asks_s3_for_a_listing_of_the_bucket(cdn, path):
    port, s3 = cdn
    status, ctype, body = _request(port, "GET", path)
    assert (status, ctype) == (403, "application/xml")
    assert b"AccessDenied" in body
    assert s3.seen == []


def test_cdn_forwards_object_gets_without_query_strings_and_nothing_else(cdn):
    port, s3 = cdn
    assert _request(port, "GET", "/media/posters/1/lab.jpg?acl")[0] == 200
    assert _request(port, "GET", "/media/posters/2/lab.jpg?list-type=2&prefix=")[0] == 200
    assert _request(port, "POST", "/media/posters/3/lab.jpg", b"{}")[0] == 403
    assert s3.seen == [
        ("GET", "/bucket/posters/1/lab.jpg"),
        ("GET", "/bucket/posters/2/lab.jpg"),
    ]


def test_cdn_answers_json_for_its_own_errors(cdn):
    port, _ = cdn
    status, ctype, payload = _request(port, "GET", "/movies/1%00")
    assert (status, ctype) == (400, "application/json")
    assert set(json.loads(payload)) == {"error"}
