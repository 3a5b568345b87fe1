"""nginx in three roles: the ALB stand-in (round robin over K API processes), the
CloudFront stand-in (proxy_cache honouring the origin's Cache-Control, the ALB and S3 as
origins) and, for `lab limit`, a static file server."""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path

from lab.procs import LOOPBACK, Enter, LabError, port_open, spawn, wait_until
from lab.state import ProcessRecord, Registry

EDGE_CACHE_HEADER = "X-Cache-Status"


def _head(prefix: Path) -> str:
    # Workers run as the invoking user: the cache and temp dirs below are theirs.
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_requests 100000;
"""


def _upstream(name: str, ports: list[int], idle_timeout: int) -> str:
    # max_fails=0: an ALB has no passive failure accounting (its targets leave only by
    # failing health checks), so no burst of errors from one request kind can take both
    # API processes out of rotation (issue 15, item 4). nginx OSS has no active health
    # checks either, so a dead process keeps its share of requests (502s) where an ALB
    # would stop sending to it after its unhealthy threshold.
    servers = "\n".join(f"        server {LOOPBACK}:{p} max_fails=0;" for p in ports)
    # keepalive_timeout: the ALB's idle timeout applies to its target connections too
    # ("Connection idle timeout" in "Edit attributes for your Application Load Balancer",
    # ELB user guide): an idle target connection is reused until then, so a service that
    # closes it sooner races the next request and the ALB answers 502.
    return f"""
    upstream {name} {{
{servers}
        keepalive 64;
        keepalive_timeout {idle_timeout}s;
    }}"""


# The ALB's defaults: idle timeout 60 s, HTTP client keepalive duration 3600 s ("Edit
# attributes for your Application Load Balancer", ELB user guide). `lab up` passes the
# stack's alb_idle_timeout_s (stacks/env/*.yaml).
ALB_IDLE_TIMEOUT_S = 60
ALB_CLIENT_KEEPALIVE_S = 3600

# The ALB's fixed-response rule ahead of every forward rule (METRICS_PATH_PATTERN
# "/metrics*", text/plain "not found", 404 in infra/program/components/load_balancer.py).
_METRICS_RULE = """
        location ^~ /metrics {
            default_type text/plain;
            return 404 "not found";
        }"""

# What S3 answers a request its bucket policy does not allow (the body S3 sends).
S3_ACCESS_DENIED = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
)

# Errors nginx answers itself, in the API's shape ({"error": ...}, no-store), not HTML:
# a %00 in the path (400) and a body over the limit (413) (issue 15, item 11).
MAX_BODY = "1m"
_JSON_ERRORS = """
        # A URI, not a named location: nginx cannot redirect a request whose line it could
        # not parse to a named location ("empty URI in redirect to named location").
        error_page 400 /__lab_errors/400;
        error_page 413 /__lab_errors/413;
        location = /__lab_errors/400 {
            internal;
            default_type application/json;
            add_header Cache-Control no-store always;
            return 400 '{"error": "malformed request"}';
        }
        location = /__lab_errors/413 {
            internal;
            default_type application/json;
            add_header Cache-Control no-store always;
            return 413 '{"error": "body is larger than MAX_BODY; at most MAX_BODY allowed"}';
        }""".replace("MAX_BODY", MAX_BODY)


def alb_conf(
    prefix: Path,
    port: int,
    api_ports: list[int],
    search_ports: list[int] = (),
    search_path: str = "/movies",
    query_key: str = "q",
    idle_timeout: int = ALB_IDLE_TIMEOUT_S,
) -> str:
    """The ALB stand-in: round robin, no retries, the ALB's idle timeout on both sides, the
    `/metrics*` 404 rule, JSON for the errors nginx answers itself."""
    proxy = """
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            # An ALB sends a request to one target and answers 502/504 when that fails; it
            # retries nothing (nginx's default would retry idempotent requests on the next
            # upstream, hiding exactly the 502s an ALB returns).
            proxy_next_upstream off;"""
    search = ""
    if search_ports:
        # scale-5x: GET <search_path>?<query_key>=... goes to the search target group.
        search = f"""
        location = {search_path} {{
            if ($arg_{query_key}) {{ proxy_pass http://search; }}
            proxy_pass http://api;{proxy}
        }}"""
    return (
        _head(prefix)
        + _upstream("api", api_ports, idle_timeout)
        + (_upstream("search", search_ports, idle_timeout) if search_ports else "")
        + f"""
    server {{
        listen {LOOPBACK}:{port};
        # Client side: idle timeout, and the HTTP client keepalive duration.
        keepalive_timeout {idle_timeout}s;
        keepalive_time {ALB_CLIENT_KEEPALIVE_S}s;
        client_max_body_size {MAX_BODY};{_JSON_ERRORS}{_METRICS_RULE}{search}
        location / {{
            proxy_pass http://api;{proxy}
        }}
    }}
}}
"""
    )


def cdn_conf(prefix: Path, port: int, origin_port: int, s3_port: int | None, bucket: str) -> str:
    media = ""
    if s3_port is not None:
        # CloudFront's S3 origin: CachingOptimized keeps objects without Cache-Control for
        # its default TTL (1 day); proxy_cache_valid gives the same default here.
        media = f"""
        # The bucket itself is not an object: CloudFront's posters behavior ("/posters/*")
        # cannot reach the bucket root, and the OAC bucket policy grants s3:GetObject
        # only, so S3 refuses a listing with 403 AccessDenied (issue 15, item 9).
        location = /media/ {{
            default_type application/xml;
            return 403 '{S3_ACCESS_DENIED}';
        }}
        location /media/ {{
            # The posters behavior allows GET and HEAD only (_READ_METHODS in
            # infra/program/components/edge.py).
            limit_except GET {{ deny all; }}
            # CachingOptimized forwards no query string to the origin, so `?acl`,
            # `?list-type=2` and the like never reach S3 as a sub-resource request.
            set $args "";
            proxy_pass http://{LOOPBACK}:{s3_port}/{bucket}/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host {LOOPBACK}:{s3_port};
            proxy_cache edge;
            proxy_cache_key "media$uri";
            proxy_cache_valid 200 1d;
            # CloudFront keeps error answers for 10 s by default (error caching minimum TTL).
            proxy_cache_valid 403 404 10s;
            proxy_cache_lock on;
            add_header {EDGE_CACHE_HEADER} $upstream_cache_status always;
        }}"""
    return (
        _head(prefix)
        + f"""
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=edge:32m max_size=2g inactive=1h
                     use_temp_path=off;
    upstream origin {{
        server {LOOPBACK}:{origin_port};
        keepalive 64;
    }}
    server {{
        listen {LOOPBACK}:{port};
        client_max_body_size {MAX_BODY};{_JSON_ERRORS}
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_cache edge;
            # Credentials are part of the cache key, as in a CloudFront cache policy that
            # forwards them: one user's answer is never served to another.
            proxy_cache_key "$request_method$request_uri|$http_authorization|$http_x_api_key";
            # No proxy_cache_valid: only what the origin's Cache-Control allows is kept.
            proxy_cache_lock on;
            proxy_cache_use_stale updating error timeout;
            proxy_cache_background_update on;
            add_header {EDGE_CACHE_HEADER} $upstream_cache_status always;
        }}{media}
    }}
}}
"""
    )


def static_conf(prefix: Path, port: int, root: Path) -> str:
    return (
        _head(prefix)
        + f"""
    server {{
        listen {LOOPBACK}:{port};
        root {root};
        location / {{
            default_type application/json;
            try_files /movie.json =404;
        }}
    }}
}}
"""
    )


def start(
    registry: Registry,
    name: str,
    prefix: Path,
    port: int,
    conf: str,
    enter: Enter | None = None,
) -> ProcessRecord:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise LabError("nginx not found; install the nginx package")
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi", "cache"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    conf_path = prefix / "nginx.conf"
    conf_path.write_text(conf)
    record = spawn(
        registry,
        name,
        # -e: nginx opens its error log before reading the config; keep it out of /var/log.
        [
            binary,
            "-p",
            str(prefix),
            "-c",
            str(conf_path),
            "-e",
            str(prefix / "error.log"),
            "-g",
            "daemon off;",
        ],
        log=prefix / "stdout.log",
        port=port,
        stop_signal=15,
        enter=enter,
    )
    wait_until(lambda: port_open(port), f"{name} on port {port}", 20, record)
    return record
