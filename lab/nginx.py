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


def _upstream(name: str, ports: list[int]) -> str:
    servers = "\n".join(
        f"        server {LOOPBACK}:{p} max_fails=3 fail_timeout=5s;" for p in ports
    )
    return f"""
    upstream {name} {{
{servers}
        keepalive 64;
    }}"""


def alb_conf(
    prefix: Path,
    port: int,
    api_ports: list[int],
    search_ports: list[int] = (),
    search_path: str = "/movies",
    query_key: str = "q",
) -> str:
    search = ""
    if search_ports:
        # scale-5x: GET <search_path>?<query_key>=... goes to the search target group.
        search = f"""
        location = {search_path} {{
            if ($arg_{query_key}) {{ proxy_pass http://search; }}
            proxy_pass http://api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}"""
    return (
        _head(prefix)
        + _upstream("api", api_ports)
        + (_upstream("search", search_ports) if search_ports else "")
        + f"""
    server {{
        listen {LOOPBACK}:{port};{search}
        location / {{
            proxy_pass http://api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            # An ALB retries nothing; nginx retries only idempotent requests on another target.
            proxy_next_upstream error timeout http_502 http_503;
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
        location /media/ {{
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
