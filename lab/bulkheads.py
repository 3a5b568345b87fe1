"""`lab fault frozen-replica` and `lab fault search-flood`: one slow dependency under the
lab's load, and what it cost the rest (issue 22, findings 3 and 4, "What to build" item 3).

- frozen-replica: one replica's postmaster and every backend SIGSTOPped for FROZEN_S, then
  SIGCONT. A frozen server keeps its sockets and the kernel still accepts connections, so a
  read that reaches it waits until something gives up; the service's per-query replica
  deadline is that something. Target: no read pays more than one deadline, 0 client
  timeouts.
- search-flood: FLOOD_CONNECTIONS concurrent cache-busting searches (wrk, never-repeated
  queries) while the lab's normal mix runs. Target: point-read p99 <= 50 ms; the searches
  over the service's search slots are shed with 503 + Retry-After; no healthy replica
  marked down and no Redis breaker trip caused by the flood.

The service's counters are read from every API process directly: /metrics is not
reachable through the ALB stand-in (its "/metrics*" rule answers 404).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lab import observe, stack
from lab.load_command import run_mix_load
from lab.procs import LOOPBACK, LabError, live_processes, run
from lab.state import Registry
from lab.stats import TRANSPORT_ERROR, Sample, is_error, percentile

STAGE = "read-replicas"
FROZEN_TARGET = "pg-replica1"
FROZEN_S = 15.0  # the finding: SIGSTOP for 15 s
BEFORE_S = 5.0  # measured seconds before the fault
AFTER_S = 10.0  # measured seconds after it
SLOW_READ_S = 1.0  # "reads over a second", the figure
FLOOD_CONNECTIONS = 150  # the finding: 150 concurrent cache-busting searches
FLOOD_S = 15.0
FLOOD_THREADS = 2  # wrk threads: one per core of this machine
POINT_READ_P99_TARGET_MS = 50.0
FLOOD_SCRIPT = Path(__file__).with_name("flood.lua")

# The service's own settings, as its processes load them from their environment (one home:
# app_image/movies_api/settings.py), so a figure is judged against the deadline in force.
_SETTINGS_CODE = """
import json, sys
from movies_api.settings import load_settings
s = load_settings(json.loads(sys.argv[1]))
print(json.dumps({
    "replica_deadline_s": s.replica_deadline_seconds,
    "replica_retry_s": s.replica_retry_seconds,
    "search_slots_per_process": s.search_slots,
    "search_queue_s": s.search_queue_seconds,
    "db_pool_max": s.db_pool_max,
    "redis_breaker_s": s.redis_breaker_seconds,
}))
"""

COUNTERS = {
    "replica_deadlines": "movies_db_replica_deadlines_total",
    # Every fallback marks the replica down for replica_retry_s (app_image/movies_api/db.py).
    "replica_markdowns": "movies_db_replica_fallbacks_total",
    "searches_shed": "movies_search_shed_total",
    # Each trip of the Redis breaker counts one cache error (cache.py `_trip`).
    "redis_breaker_trips": "movies_cache_errors_total",
    "cache_bypassed": "movies_cache_bypassed_total",
}


def service_settings(reg: Registry) -> dict[str, float]:
    env = reg.endpoints["service_env"]
    out = run(
        [sys.executable, "-c", _SETTINGS_CODE, json.dumps(env)],
        env=stack.service_env(env),
        cwd=stack.APP_DIR,
        timeout=60,
    )
    return json.loads(out)


def process_counters(port: int) -> dict[str, float]:
    """Every sample of one API process's /metrics (observe.service_counters keeps only the
    bench's counters, not the bulkheads' deadlines and sheds)."""
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=5) as resp:
        return observe.parse_prometheus(resp.read().decode())


def counters(reg: Registry) -> dict[str, dict[str, float]]:
    """Each API process's counters (port -> name -> value), read from the process itself."""
    out: dict[str, dict[str, float]] = {}
    for port in [*reg.endpoints.get("api_ports", []), *reg.endpoints.get("search_ports", [])]:
        with contextlib.suppress(OSError):
            out[str(port)] = process_counters(port)
    return out


def counter_deltas(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """Per counter: the total over every process and the per-process figures."""
    result: dict[str, Any] = {}
    for key, name in COUNTERS.items():
        per = {
            port: observe.total(after[port], name) - observe.total(before.get(port, {}), name)
            for port in after
        }
        result[key] = {"total": sum(per.values()), "per_process": per}
    for role in ("primary", "replica"):
        result[f"queries_{role}"] = sum(
            observe.total(after[p], "movies_db_queries_total", role=role)
            - observe.total(before.get(p, {}), "movies_db_queries_total", role=role)
            for p in after
        )
    return result


# --- the samples ------------------------------------------------------------------------


def errors_by_status(samples: Sequence[Sample]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        if is_error(s.status):
            key = "transport" if s.status == TRANSPORT_ERROR else str(s.status)
            out[key] = out.get(key, 0) + 1
    return out


def errors_by_kind(samples: Sequence[Sample]) -> dict[str, dict[str, int]]:
    """`errors_by_status` per request kind (movie, search, poster, write, ...)."""
    kinds = sorted({s.kind for s in samples if is_error(s.status)})
    return {k: errors_by_status([s for s in samples if s.kind == k]) for k in kinds}


def window(samples: Sequence[Sample], start: float, end: float) -> dict[str, Any]:
    """Latency and errors of the samples sent in [start, end) (seconds into the run)."""
    inside = [s for s in samples if start <= s.start < end]
    ok = [s.latency for s in inside if not is_error(s.status)]
    return {
        "seconds": round(max(0.0, end - start), 2),
        "requests": len(inside),
        "p50_ms": round(percentile(ok, 50) * 1000, 1) if ok else None,
        "p99_ms": round(percentile(ok, 99) * 1000, 1) if ok else None,
        "max_ms": round(max(ok) * 1000, 1) if ok else None,
        "errors_by_status": errors_by_status(inside),
    }


def is_read(s: Sample) -> bool:
    return s.kind != "write"


def is_point_read(s: Sample) -> bool:
    return s.kind == "movie"


# --- running the lab's mix with a fault mid-run -------------------------------------------


# --- frozen replica ---------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and every live descendant: PostgreSQL's backends each call setsid(), so the
    postmaster's process group does not hold them (and the lab may start it through a
    wrapper), hence the parent links."""
    children: dict[int, list[int]] = {}
    for child, parent, _group in live_processes():
        children.setdefault(parent, []).append(child)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def signal_tree(pid: int, sig: int) -> int:
    """Send `sig` to `pid` first (a stopped postmaster forks no new backend), then to every
    descendant; returns how many processes got it."""
    sent = 0
    for p in process_tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, sig)
            sent += 1
    return sent


def run_frozen_replica(
    reg: Registry,
    args: argparse.Namespace,
    frozen_s: float = FROZEN_S,
    before_s: float = BEFORE_S,
    after_s: float = AFTER_S,
) -> dict[str, Any]:
    settings = service_settings(reg)
    pid = reg.get(FROZEN_TARGET).pid
    duration = max(args.duration, before_s + frozen_s + after_s)
    marks: dict[str, float] = {}
    clock: dict[str, float] = {}
    snaps: dict[str, dict[str, dict[str, float]]] = {}
    frozen: dict[str, int] = {}

    def freeze() -> None:
        snaps["before"] = counters(reg)
        marks["frozen"] = time.perf_counter() - clock["t0"]
        signal_tree(pid, signal.SIGSTOP)
        # A backend forked in the instant before the postmaster stopped: a second pass.
        frozen["stopped"] = signal_tree(pid, signal.SIGSTOP)
        try:
            time.sleep(frozen_s)
        finally:
            frozen["resumed"] = signal_tree(pid, signal.SIGCONT)
            marks["resumed"] = time.perf_counter() - clock["t0"]

    try:
        result = run_mix_load(reg, args, "fault frozen-replica",
                              [(args.warmup + before_s, freeze)], clock, duration)  # fmt: skip
    finally:
        signal_tree(pid, signal.SIGCONT)  # never leave it frozen
    delta = counter_deltas(snaps["before"], counters(reg))
    warm = result.config.warmup
    t_freeze, t_resume = marks["frozen"] - warm, marks["resumed"] - warm
    reads = [s for s in result.samples if is_read(s)]
    from_freeze = [s for s in reads if s.start >= t_freeze]
    slowest = max(from_freeze, key=lambda s: s.latency, default=None)
    deadline = settings["replica_deadline_s"]
    return {
        "fault": "frozen-replica",
        "stage": STAGE,
        "what": f"{FROZEN_TARGET}'s postmaster and all {frozen['stopped']} of its processes "
        f"SIGSTOPped for {frozen_s:g} s under load, then SIGCONT",
        "service": settings,
        "processes_frozen": frozen["stopped"],
        "frozen_seconds": round(t_resume - t_freeze, 2),
        "client_timeout_s": result.config.timeout,
        "reads_before": window(reads, 0, t_freeze),
        "reads_frozen": window(reads, t_freeze, t_resume),
        "reads_after": window(reads, t_resume, result.measured_seconds),
        "reads_from_freeze": len(from_freeze),
        "reads_over_1s": sum(1 for s in from_freeze if s.latency > SLOW_READ_S),
        "reads_over_deadline": sum(1 for s in from_freeze if s.latency > deadline),
        "slowest_read_ms": None if slowest is None else round(slowest.latency * 1000, 1),
        "slowest_read_kind": None if slowest is None else slowest.kind,
        "client_timeouts": sum(1 for s in from_freeze if s.status == TRANSPORT_ERROR),
        "errors_by_status": errors_by_status([s for s in result.samples if s.start >= t_freeze]),
        "errors_by_kind": errors_by_kind([s for s in result.samples if s.start >= t_freeze]),
        "service_counters": delta,
        "duration_used": duration,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def _on_stage(
    args: argparse.Namespace, fault: Callable[[Registry, argparse.Namespace], dict[str, Any]]
) -> dict[str, Any]:
    """`fault` on the bulkhead faults' stage, brought up for it and taken down after."""
    reg = stack.up(STAGE, args.movies, args.env, not args.no_pin, say=lambda _m: None)
    try:
        return fault(reg, args)
    finally:
        stack.down(say=lambda _m: None)


def fault_frozen_replica(args: argparse.Namespace) -> dict[str, Any]:
    return _on_stage(args, run_frozen_replica)


def frozen_headline(r: dict[str, Any]) -> str:
    c = r["service_counters"]
    return (
        f"frozen-replica ({r['processes_frozen']} processes stopped {r['frozen_seconds']} s; "
        f"deadline {r['service']['replica_deadline_s']:g} s): {r['client_timeouts']} client "
        f"timeouts, {r['reads_over_1s']} reads over 1 s, slowest read {r['slowest_read_ms']} "
        f"ms, errors {r['errors_by_status']}; {c['replica_deadlines']['total']:.0f} reads "
        f"cut by the deadline, replica marked down {c['replica_markdowns']['total']:.0f} "
        f"times; read p99 before/frozen/after {r['reads_before']['p99_ms']}/"
        f"{r['reads_frozen']['p99_ms']}/{r['reads_after']['p99_ms']} ms"
    )


# --- search flood -----------------------------------------------------------------------


def wrk_argv(url: str, connections: int, seconds: float, nonce: str) -> list[str]:
    threads = max(1, min(FLOOD_THREADS, connections))
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
            "-s", str(FLOOD_SCRIPT), url, "--", nonce]  # fmt: skip


def flood(url: str, connections: int, seconds: float) -> dict[str, Any]:
    """wrk's searches for `seconds` over `connections` connections (closed loop: each
    connection sends its next search when the last is answered, so `connections` searches
    are in flight all the time, bar wrk's own turnaround); its counts, and its own CPU."""
    nonce = f"{os.getpid()}{time.time_ns() % 10**9}"
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(
            wrk_argv(url, connections, seconds, nonce),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    except FileNotFoundError:
        raise LabError("wrk is not installed: `make deps` (apt-get install wrk)") from None
    assert proc.stdout is not None
    output = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    line = next((x for x in output.splitlines() if x.startswith("FLOOD_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise LabError(f"wrk failed (exit {proc.returncode}): {output.strip()[-300:]}")
    got = json.loads(line.removeprefix("FLOOD_JSON "))
    cpu = usage.ru_utime + usage.ru_stime
    secs = got["duration_us"] / 1e6
    return {
        "connections": connections,
        "seconds": round(secs, 2),
        "requests": got["requests"],
        "rps": round(got["requests"] / secs, 1) if secs else 0.0,
        "statuses": dict(sorted(got["statuses"].items())),
        "shed_503": got["statuses"].get("503", 0),
        "shed_without_retry_after": got["shed_without_retry_after"],
        "socket_errors": got["socket_errors"],
        # Little's law: searches in flight on average = arrival rate x mean time in system.
        "mean_in_flight": round(got["requests"] / secs * got["latency_mean_us"] / 1e6, 1)
        if secs
        else 0.0,
        "latency_p50_ms": round(got["latency_p50_us"] / 1000, 1),
        "latency_p99_ms": round(got["latency_p99_us"] / 1000, 1),
        "latency_max_ms": round(got["latency_max_us"] / 1000, 1),
        "generator_cpu_s": round(cpu, 2),
        "generator_cpus": round(cpu / wall, 3) if wall else None,
    }


def run_search_flood(
    reg: Registry,
    args: argparse.Namespace,
    connections: int = FLOOD_CONNECTIONS,
    flood_s: float = FLOOD_S,
    before_s: float = BEFORE_S,
    after_s: float = 3.0,
) -> dict[str, Any]:
    settings = service_settings(reg)
    duration = max(args.duration, before_s + flood_s + after_s)
    marks: dict[str, float] = {}
    clock: dict[str, float] = {}
    snaps: dict[str, dict[str, dict[str, float]]] = {}
    found: dict[str, Any] = {}
    cpu: dict[str, float] = {}

    def go() -> None:
        snaps["before"] = counters(reg)
        cpu["lab_before"] = time.process_time()
        marks["start"] = time.perf_counter() - clock["t0"]
        found.update(flood(reg.endpoints["entry"], connections, flood_s))
        marks["end"] = time.perf_counter() - clock["t0"]
        cpu["lab_during"] = time.process_time() - cpu["lab_before"]
        snaps["after"] = counters(reg)

    result = run_mix_load(reg, args, "fault search-flood",
                          [(args.warmup + before_s, go)], clock, duration)  # fmt: skip
    delta = counter_deltas(snaps["before"], snaps["after"])
    warm = result.config.warmup
    start, end = marks["start"] - warm, marks["end"] - warm
    points = [s for s in result.samples if is_point_read(s)]
    during = window(points, start, end)
    shed = found["shed_503"]
    return {
        "fault": "search-flood",
        "stage": STAGE,
        "what": f"{connections} concurrent cache-busting searches (wrk, every query new) "
        f"through the entry for {flood_s:g} s while the lab's mix runs "
        f"({args.concurrency} closed-loop connections)",
        "service": settings,
        "api_processes": len(reg.endpoints["api_ports"]),
        "flood": found,
        "point_reads_before": window(points, 0, start),
        "point_reads_during": during,
        "point_reads_after": window(points, end, result.measured_seconds),
        "point_read_p99_target_ms": POINT_READ_P99_TARGET_MS,
        "point_read_p99_met": during["p99_ms"] is not None
        and during["p99_ms"] <= POINT_READ_P99_TARGET_MS,
        "searches_shed": shed,
        "searches_shed_with_retry_after": shed - found["shed_without_retry_after"],
        "mix_errors_by_status_during": errors_by_status(
            [s for s in result.samples if start <= s.start < end]
        ),
        "service_counters": delta,
        # The lab's own mix generator (this process) during the flood, in CPUs.
        "mix_generator_cpus": round(cpu["lab_during"] / (end - start), 3) if end > start else None,
        "duration_used": duration,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def fault_search_flood(args: argparse.Namespace) -> dict[str, Any]:
    return _on_stage(args, run_search_flood)


def flood_headline(r: dict[str, Any]) -> str:
    f, b, d, c = r["flood"], r["point_reads_before"], r["point_reads_during"], r["service_counters"]
    return (
        f"search-flood ({f['connections']} connections, {f['mean_in_flight']} searches in "
        f"flight on average, {f['rps']:,.0f} searches/s, wrk at {f['generator_cpus']} CPUs): "
        f"point reads p50/p99 {b['p50_ms']}/{b['p99_ms']} ms before, {d['p50_ms']}/"
        f"{d['p99_ms']} ms during (target p99 <= {r['point_read_p99_target_ms']:g} ms: "
        f"{'met' if r['point_read_p99_met'] else 'MISSED'}); searches {f['statuses']}, "
        f"{r['searches_shed_with_retry_after']} shed with Retry-After; mix errors "
        f"{r['mix_errors_by_status_during']}; replica mark-downs "
        f"{c['replica_markdowns']['total']:.0f}, Redis breaker trips "
        f"{c['redis_breaker_trips']['total']:.0f}"
    )
