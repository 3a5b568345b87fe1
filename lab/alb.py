"""The ALB stand-in: haproxy in front of the API processes, with what the faults and the
stage moves depend on and nginx's open-source build lacks: active health checks with the
target group's settings, deregistration with a delay (draining), no retries, and no
connection ceiling below what the lab can produce.

The target groups' settings (health-check path, matcher, interval, timeout, thresholds,
deregistration delay) are read from the program itself: the stage's plan built under the
mocks (`infra.plans.build.build_plan`), the same inputs `pulumi up` would send, so the lab
follows `infra/program/components/load_balancer.py` without copying a number.

The lab has no time scale of its own yet (issue 21 proposes one: one AWS minute = 5 lab
seconds); `time_scale` (lab seconds per AWS second, default 1: AWS's own times) scales the
interval, the check timeout and the deregistration delay, and is printed with every figure
that depends on it.
"""

from __future__ import annotations

import functools
import math
import shutil
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from infra.tokens import ResourceType
from lab.procs import LOOPBACK, Enter, LabError, free_port, port_open, spawn, wait_until
from lab.state import ProcessRecord, Registry

TARGET_GROUP_TYPE = ResourceType.LB_TARGET_GROUP

# The ALB's defaults: idle timeout 60 s ("Edit attributes for your Application Load
# Balancer", ELB user guide); `lab up` passes the stack's alb_idle_timeout_s.
ALB_IDLE_TIMEOUT_S = 60
# "If the load balancer fails to connect to the target within 10 seconds" it answers 504
# (ELB user guide, "Troubleshoot your Application Load Balancers", HTTP 504).
ALB_TARGET_CONNECT_TIMEOUT_S = 10
# "Quotas for your Application Load Balancers", HTTP headers: request line 16 K, single
# header 16 K, whole request header 64 K (docs.aws.amazon.com/elasticloadbalancing/latest/
# application/load-balancer-limits.html). Over them the ALB answers 400.
ALB_REQUEST_LINE_MAX = 16 * 1024
ALB_REQUEST_HEADERS_MAX = 64 * 1024
# haproxy keeps this much of its buffer free for header rewrites (X-Forwarded-For), so the
# headers it accepts are at most bufsize - maxrewrite: that difference is the ALB's 64 K.
HAPROXY_MAXREWRITE = 8 * 1024
HAPROXY_BUFSIZE = ALB_REQUEST_HEADERS_MAX + HAPROXY_MAXREWRITE
# haproxy's header count limit (tune.http.maxhdr, default 101) raised: the ALB documents
# no count limit, only sizes, so the count is bounded by the 64 K alone (a header line is
# at least a few bytes).
HAPROXY_MAXHDR = 8192
# An ALB scales out; it has no connection ceiling a client of this lab could reach. The
# ceiling here is what the machine's file limit allows: every connection accepted can have
# its target connection too (2 descriptors each, and some for listeners and checks), so no
# accepted request fails for want of a descriptor. With this container's hard limit of
# 20,000 (root cannot raise it: no CAP_SYS_RESOURCE) that is 9,900 connections, above the
# 4,200 slow connections of the hardening review; a client process is held to the same
# limit, so it cannot open more than about twice that.
FD_RESERVE = 200


def max_connections() -> int:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    return max(256, (int(hard) - FD_RESERVE) // 2)


# The body limit the nginx stand-in had (its client_max_body_size, 1 MB), kept so a body
# the service would refuse anyway is refused at the entry with the same JSON answer. An ALB
# itself has no body limit for instance targets.
MAX_BODY_BYTES = 1024 * 1024

# The ALB's fixed-response rule ahead of every forward rule (METRICS_PATH_PATTERN
# "/metrics*", text/plain "not found", 404 in infra/program/components/load_balancer.py).
METRICS_PREFIX = "/metrics"


@dataclass(frozen=True)
class TargetGroup:
    """One target group's health check and deregistration delay, in seconds."""

    role: str  # web | search
    path: str
    matcher: str  # the ALB's HTTP code matcher: "200", "200-299", "200,202"
    interval_s: float
    timeout_s: float
    healthy_threshold: int
    unhealthy_threshold: int
    deregistration_delay_s: float

    def scaled(self, time_scale: float) -> TargetGroup:
        """Times in lab seconds: `time_scale` lab seconds per AWS second."""
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise LabError(f"time_scale={time_scale!r}; allowed: a finite number > 0")
        return replace(
            self,
            interval_s=self.interval_s * time_scale,
            timeout_s=self.timeout_s * time_scale,
            deregistration_delay_s=self.deregistration_delay_s * time_scale,
        )

    @property
    def unhealthy_after_s(self) -> float:
        """How long a target that stops answering keeps receiving requests, at most."""
        return self.interval_s * self.unhealthy_threshold


def _number(value: Any, what: str) -> float:
    # The provider takes deregistration_delay as a string too ("30").
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LabError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise LabError(f"{what}: {value!r}; allowed: a finite number >= 0")
    return number


def target_groups_from_plan(plan: Mapping[str, Any]) -> dict[str, TargetGroup]:
    """The plan's target groups by role (the resource name's last part: `alb-web` -> web)."""
    found: dict[str, TargetGroup] = {}
    for resource in plan.get("resources", []):
        if resource.get("type") != TARGET_GROUP_TYPE:
            continue
        inputs = resource.get("inputs", {})
        check = inputs.get("healthCheck") or {}
        role = str(resource.get("name", "")).rsplit("-", 1)[-1]
        where = f"target group {resource.get('name')!r}"
        if check.get("protocol", "HTTP") != "HTTP" or check.get("port", "traffic-port") != (
            "traffic-port"
        ):
            raise LabError(
                f"{where}: health check {check.get('protocol')}:{check.get('port')}; the lab "
                "allows HTTP on the traffic port"
            )
        found[role] = TargetGroup(
            role=role,
            # The provider's defaults where the program leaves a field out (aws_lb_target_group
            # docs: path "/", matcher "200", interval 30, timeout 5, thresholds 3 and 3,
            # deregistration_delay 300).
            path=str(check.get("path", "/")),
            matcher=str(check.get("matcher", "200")),
            interval_s=_number(check.get("interval", 30), f"{where} interval"),
            timeout_s=_number(check.get("timeout", 5), f"{where} timeout"),
            healthy_threshold=int(_number(check.get("healthyThreshold", 3), where)),
            unhealthy_threshold=int(_number(check.get("unhealthyThreshold", 3), where)),
            deregistration_delay_s=_number(
                inputs.get("deregistrationDelay", 300), f"{where} deregistrationDelay"
            ),
        )
    return found


@functools.lru_cache(maxsize=16)
def program_target_groups(env: str, stage: str) -> dict[str, TargetGroup]:
    """The stage's target groups as the Pulumi program declares them (a few seconds: the
    program runs under the mocks, once per stage and process)."""
    return checked_target_groups(env, stage, dict(_program_target_groups(env, stage)))


def checked_target_groups(
    env: str, stage: str, groups: Mapping[str, TargetGroup]
) -> dict[str, TargetGroup]:
    """`groups` (a stage's, from its plan) as `program_target_groups` returns them: a web
    group is required."""
    groups = dict(groups)
    if "web" not in groups:
        raise LabError(f"{env}/{stage}: the program declares no web target group")
    return groups


@functools.cache
def _program_target_groups(env: str, stage: str) -> tuple[tuple[str, TargetGroup], ...]:
    # The plan is a function of the program and the stack's config, neither of which a
    # process changes: every `up` of a stage after the first reuses the groups (frozen).
    from infra.plans.build import build_plan

    return tuple(target_groups_from_plan(build_plan(env, stage)).items())


def matcher_expect(matcher: str) -> str:
    """The ALB's matcher ("200", "200-299", "200,202") as an `http-check expect` rule."""
    codes: list[int] = []
    for part in matcher.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise LabError(
                f"health check matcher {matcher!r}: allowed codes like 200, 200-299, 200,202"
            ) from None
        if not 200 <= first <= last <= 499:
            raise LabError(f"health check matcher {matcher!r}: allowed codes 200-499")
        codes.extend(range(first, last + 1))
    if len(codes) == 1:
        return f"status {codes[0]}"
    return "rstatus ^(" + "|".join(str(c) for c in sorted(set(codes))) + ")$"


@dataclass(frozen=True)
class Backend:
    """A target group and its targets (`name` is the registry name of each API process)."""

    group: TargetGroup
    targets: tuple[tuple[str, int], ...]  # (name, port)


@dataclass(frozen=True)
class AlbSpec:
    port: int
    admin_port: int  # haproxy's runtime API, on 127.0.0.1
    web: Backend
    search: Backend | None = None
    search_path: str = "/movies"
    search_query_key: str = "q"
    idle_timeout_s: int = ALB_IDLE_TIMEOUT_S
    time_scale: float = 1.0  # lab seconds per AWS second, already applied to the groups
    max_connections: int = 256
    # `lab move` (lab/replay.py): disabled server slots per backend that the runtime API
    # fills with targets launched during a move (`Admin.register`), and a search rule that
    # is off until `Admin.set_search_rule(True)` (haproxy 2.6's runtime API has no
    # `use_backend` switch, so the rule also requires a pattern held in an ACL file that
    # `add acl` / `clear acl` change at runtime: no reload, so nothing is dropped).
    spare_slots: int = 0
    search_rule_switch: bool = False


def _s(seconds: float) -> str:
    """haproxy time: milliseconds, at least 1."""
    return f"{max(1, round(seconds * 1000))}ms"


def spare_name(backend: str, index: int) -> str:
    return f"{backend}-slot{index}"


SEARCH_RULE_ACL = "search-rule.acl"


def _backend(name: str, backend: Backend, idle_timeout_s: int, spares: int = 0) -> str:
    g = backend.group
    check = f"check inter {_s(g.interval_s)} fall {g.unhealthy_threshold}"
    check += f" rise {g.healthy_threshold}"
    servers = "\n".join(
        f"    server {target} {LOOPBACK}:{port}" for target, port in backend.targets
    )
    # Port 1: nothing listens there; a slot is disabled (maint) until a target fills it.
    servers += "".join(
        f"\n    server {spare_name(name, i)} {LOOPBACK}:1 disabled" for i in range(1, spares + 1)
    )
    return f"""
backend {name}
    balance roundrobin
    # The target group's health check: GET <path> every <interval>, <timeout> to answer,
    # out after <unhealthy> failures in a row, back after <healthy> passes in a row.
    option httpchk
    http-check send meth GET uri {g.path} ver HTTP/1.1 hdr Host {LOOPBACK}
    http-check expect {matcher_expect(g.matcher)}
    timeout check {_s(g.timeout_s)}
    # Idle target connections kept about as long as the ALB keeps them (its idle timeout).
    default-server {check} pool-purge-delay {idle_timeout_s}s
{servers}
"""


def haproxy_conf(spec: AlbSpec, prefix: Path) -> str:
    """The ALB stand-in's configuration (see the module docstring)."""
    idle = spec.idle_timeout_s
    search_rule = ""
    if spec.search is not None:
        # The search listener rule: path is <search_path> and the query has <key> (any
        # value, "*" in the rule), forwarded to the search target group.
        switch = ""
        if spec.search_rule_switch:
            switch = f" {{ str(on) -m str -f {prefix}/{SEARCH_RULE_ACL} }}"
        search_rule = (
            f"    use_backend search if {{ path {spec.search_path} }} "
            f"{{ url_param({spec.search_query_key}) -m found }}{switch}\n"
        )
    metrics = f"if {{ path_beg {METRICS_PREFIX} }}"
    conf = f"""# The lab's ALB stand-in (lab/alb.py); written by `lab up`.
global
    maxconn {spec.max_connections}
    tune.bufsize {HAPROXY_BUFSIZE}
    tune.maxrewrite {HAPROXY_MAXREWRITE}
    tune.http.maxhdr {HAPROXY_MAXHDR}
    stats socket ipv4@{LOOPBACK}:{spec.admin_port} level admin
    pidfile {prefix}/haproxy.pid

defaults
    mode http
    # An ALB sends a request to one target and answers 502/504 when that fails; it
    # retries nothing on another target.
    retries 0
    option forwardfor
    timeout connect {ALB_TARGET_CONNECT_TIMEOUT_S}s
    # The ALB's idle timeout on both sides: a client or target connection idle this long
    # is closed; a target that does not answer within it gets the client a 504.
    timeout client {idle}s
    timeout server {idle}s
    timeout http-request {idle}s
    timeout http-keep-alive {idle}s
    errorfile 400 {prefix}/errors/400.http
    errorfile 413 {prefix}/errors/413.http

frontend alb
    bind {LOOPBACK}:{spec.port}
    maxconn {spec.max_connections}
    http-request return status 404 content-type text/plain string "not found" {metrics}
    http-request deny deny_status 400 if {{ url,length gt {ALB_REQUEST_LINE_MAX} }}
    # What the nginx stand-in refused (issue 15, item 11), in the API's JSON shape.
    http-request deny deny_status 400 if {{ path_sub %00 }}
    http-request deny deny_status 413 if {{ req.hdr_val(content-length) gt {MAX_BODY_BYTES} }}
{search_rule}    default_backend web
"""
    conf += _backend("web", spec.web, idle, spec.spare_slots)
    if spec.search is not None:
        conf += _backend("search", spec.search, idle, spec.spare_slots)
    return conf


def _error_response(status: int, reason: str, message: str) -> str:
    body = '{"error": "' + message + '"}'
    return (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"\r\n{body}"
    )


ERROR_FILES = {
    400: _error_response(400, "Bad Request", "malformed request"),
    413: _error_response(
        413, "Payload Too Large", f"body is larger than 1m; at most {MAX_BODY_BYTES} bytes allowed"
    ),
}


def start(
    registry: Registry,
    name: str,
    prefix: Path,
    spec: AlbSpec,
    enter: Enter | None = None,
) -> ProcessRecord:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        raise LabError("haproxy not found; install the haproxy package")
    (prefix / "errors").mkdir(parents=True, exist_ok=True)
    for status, text in ERROR_FILES.items():
        (prefix / "errors" / f"{status}.http").write_text(text)
    if spec.search_rule_switch:
        (prefix / SEARCH_RULE_ACL).write_text("")  # the rule starts off
    conf_path = prefix / "haproxy.cfg"
    conf_path.write_text(haproxy_conf(spec, prefix))
    checked = _check_config(binary, conf_path)
    if checked:
        raise LabError(f"haproxy refused {conf_path}: {checked}")
    record = spawn(
        registry,
        name,
        # -db: stay in the foreground (the lab supervises it); SIGTERM stops it.
        [binary, "-db", "-f", str(conf_path)],
        log=prefix / "haproxy.log",
        port=spec.port,
        enter=enter,
    )
    wait_until(lambda: port_open(spec.port), f"{name} on port {spec.port}", 20, record)
    wait_until(lambda: port_open(spec.admin_port), f"{name} admin", 20, record)
    return record


def _check_config(binary: str, conf_path: Path) -> str | None:
    import subprocess

    done = subprocess.run(
        [binary, "-c", "-q", "-f", str(conf_path)], capture_output=True, text=True, timeout=30
    )
    if done.returncode == 0:
        return None
    lines = [x for x in (done.stderr + done.stdout).splitlines() if "ALERT" in x]
    return (lines or [done.stderr.strip() or "exit status " + str(done.returncode)])[0]


def new_spec(
    port: int,
    web: Sequence[tuple[str, int]],
    groups: Mapping[str, TargetGroup],
    search: Sequence[tuple[str, int]] = (),
    search_path: str = "/movies",
    search_query_key: str = "q",
    idle_timeout_s: int = ALB_IDLE_TIMEOUT_S,
    time_scale: float = 1.0,
) -> AlbSpec:
    """A spec with a fresh admin port and the groups' times scaled to the lab's."""
    search_backend = None
    if search:
        group = groups.get("search")
        if group is None:
            raise LabError("search targets given but the program declares no search group")
        search_backend = Backend(group.scaled(time_scale), tuple(search))
    return AlbSpec(
        port=port,
        admin_port=free_port(),
        web=Backend(groups["web"].scaled(time_scale), tuple(web)),
        search=search_backend,
        search_path=search_path,
        search_query_key=search_query_key,
        idle_timeout_s=idle_timeout_s,
        time_scale=time_scale,
        max_connections=max_connections(),
    )


# --- the runtime API: target states, deregistration -------------------------------------


class Admin:
    """haproxy's runtime API on 127.0.0.1:<admin_port> (one command per connection)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def command(self, line: str) -> str:
        with socket.create_connection((LOOPBACK, self.port), timeout=5) as sock:
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
        return b"".join(chunks).decode()

    def stats(self) -> list[dict[str, str]]:
        """`show stat`: one row per frontend, backend and server."""
        lines = self.command("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            raise LabError(f"haproxy show stat: unexpected answer {lines[:1]!r}")
        header = lines[0][2:].split(",")
        return [dict(zip(header, row.split(","), strict=False)) for row in lines[1:] if row]

    def server(self, backend: str, server: str) -> dict[str, str]:
        for row in self.stats():
            if row.get("pxname") == backend and row.get("svname") == server:
                return row
        raise LabError(f"haproxy: no server {backend}/{server}")

    def status(self, backend: str, server: str) -> str:
        """UP, DOWN, DRAIN, MAINT, or a transition such as "UP 1/3"."""
        return self.server(backend, server)["status"]

    def in_flight(self, backend: str, server: str) -> int:
        """Requests being served by the target now (haproxy's current sessions)."""
        return int(self.server(backend, server)["scur"] or 0)

    def set_state(self, backend: str, server: str, state: str) -> None:
        if state not in ("ready", "drain", "maint"):
            raise LabError(f"state {state!r}; allowed: ready, drain, maint")
        answer = self.command(f"set server {backend}/{server} state {state}").strip()
        if answer:
            raise LabError(f"haproxy set server {backend}/{server} state {state}: {answer}")

    def register(self, backend: str, slot: str, port: int) -> None:
        """A new target in a spare slot (`AlbSpec.spare_slots`): its address, then out of
        maint, so the health checks start (it gets requests once they pass, as a target
        registered with an ALB does)."""
        answer = self.command(f"set server {backend}/{slot} addr {LOOPBACK} port {port}")
        if "not" in answer.lower() or "error" in answer.lower() or "unknown" in answer.lower():
            raise LabError(f"haproxy set server {backend}/{slot} addr: {answer.strip()}")
        self.set_state(backend, slot, "ready")

    def set_search_rule(self, prefix: Path, on: bool) -> None:
        """Turn the search listener rule on (it forwards from now on) or off."""
        path = prefix / SEARCH_RULE_ACL
        line = f"add acl {path} on" if on else f"clear acl {path}"
        answer = self.command(line).strip()
        if answer and "done" not in answer.lower():
            raise LabError(f"haproxy {line}: {answer}")

    def up_servers(self, backend: str) -> list[str]:
        """The backend's targets that pass their health checks now."""
        return [
            r["svname"]
            for r in self.stats()
            if r.get("pxname") == backend
            and r.get("svname") not in ("FRONTEND", "BACKEND")
            and r.get("status", "").startswith("UP")
        ]

    def deregister(self, backend: str, server: str, delay_s: float) -> dict[str, float]:
        """Deregister a target as the ALB does: it gets no new requests from now on
        (draining), requests in flight carry on, and after the deregistration delay it is
        out (haproxy's maint). Returns the timings and the requests in flight at the end.

        The whole delay is waited: the ELB guide lets a target with no in-flight requests
        *and no active connections* finish early, and the ALB keeps idle keep-alive
        connections to its targets, so under load it waits the delay."""
        started = time.perf_counter()
        self.set_state(backend, server, "drain")
        peak_after = 0
        while (elapsed := time.perf_counter() - started) < delay_s:
            peak_after = max(peak_after, self.in_flight(backend, server))
            time.sleep(min(0.1, max(0.0, delay_s - elapsed)))
        left = self.in_flight(backend, server)
        self.set_state(backend, server, "maint")
        return {
            "draining_s": round(time.perf_counter() - started, 3),
            "in_flight_max_while_draining": peak_after,
            "in_flight_at_end": left,
        }
