"""The CloudFront stand-in honours the origin's Cache-Control and keys on credentials."""

from __future__ import annotations

import http.server
import threading
import urllib.request

import pytest

from lab import nginx
from lab.procs import free_port, stop
from lab.state import Registry

pytestmark = pytest.mark.servers


class Origin(http.server.BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def do_GET(self) -> None:
        Origin.hits[self.path] = Origin.hits.get(self.path, 0) + 1
        control = {"/public": "public, max-age=60", "/private": "private, no-cache"}.get(
            self.path.split("?")[0], ""
        )
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if control:
            self.send_header("Cache-Control", control)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _get(url: str, headers: dict[str, str] | None = None) -> str:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.headers[nginx.EDGE_CACHE_HEADER]


def test_cdn_caches_public_answers_only_and_never_across_credentials(tmp_path):
    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    reg = Registry(path=tmp_path / "registry.json")
    try:
        port = free_port()
        conf = nginx.cdn_conf(tmp_path / "cdn", port, origin.server_address[1], None, "b")
        nginx.start(reg, "cdn", tmp_path / "cdn", port, conf)
        base = f"http://127.0.0.1:{port}"
        assert [_get(f"{base}/public") for _ in range(3)] == ["MISS", "HIT", "HIT"]
        assert [_get(f"{base}/private") for _ in range(2)] == ["MISS", "MISS"]
        assert [_get(f"{base}/plain") for _ in range(2)] == ["MISS", "MISS"]  # no header
        # A public answer cached for one key is not served to another, nor to anonymous.
        assert _get(f"{base}/public?k", {"X-API-Key": "mk_a"}) == "MISS"
        assert _get(f"{base}/public?k", {"X-API-Key": "mk_b"}) == "MISS"
        assert _get(f"{base}/public?k", {"X-API-Key": "mk_a"}) == "HIT"
        assert Origin.hits == {"/public": 1, "/private": 2, "/plain": 2, "/public?k": 2}
    finally:
        for record in reg.processes:
            stop(record)
        origin.shutdown()
