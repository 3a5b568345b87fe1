"""`lab fault`: one fault injected while the bench's load runs, and what it cost.

- redis: Redis is stopped mid-run and started again (empty) later;
- replica: one streaming replica is stopped mid-run and stays down;
- primary: the primary is restarted (fast shutdown, then started on the same port);
- primary-crash: every primary process SIGKILLed under a watchlist-writing load, then
  every acknowledged write looked up on the primary (lab/crash.py);
- keepalive: idle keep-alive connections reused through the ALB stand-in across the
  instant the service's keep-alive closes them, counting 502s (lab/keepalive.py);
- race: a cold read's cache fill raced against a write with replica replay paused,
  counting reads that still serve the old value afterwards (lab/race.py);
- herd: a cold key, N concurrent requests for it, and the DB queries that follow, with the
  service's stampede protection on and then off;
- sigterm: one API process stopped the way an instance refresh stops an instance: taken out
  of the ALB's target group (deregistered, drained for the deregistration delay), then sent
  SIGTERM; `--no-deregister` sends SIGTERM alone, and the ALB's health checks find it;
- frozen-replica, search-flood: one slow dependency under load, and what it cost the
  rest (lab/bulkheads.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import time
from pathlib import Path
from typing import Any

from lab import alb, bulkheads, crash, keepalive, observe, postgres, race, redis_server, stack
from lab.httpclient import RawClient
from lab.load import LoadResult
from lab.load_command import run_mix_load
from lab.procs import LOOPBACK, stop
from lab.results import RESULTS, machine
from lab.stats import Sample, recovery_seconds, summarize, timeline

HERD_TRIALS = 5  # the herd's size depends on timing: each setting is tried this often


def _window(samples: list[Sample], start: float, end: float) -> dict[str, Any]:
    inside = [s for s in samples if start <= s.start < end]
    if not inside or end <= start:
        return {"seconds": round(max(0.0, end - start), 2), "requests": 0}
    summary = summarize(inside, end - start)
    return {
        "seconds": round(end - start, 2),
        "requests": summary.requests,
        "rps": round(summary.rps, 1),
        "p50_ms": None if summary.p50_ms is None else round(summary.p50_ms, 1),
        "p99_ms": None if summary.p99_ms is None else round(summary.p99_ms, 1),
        "errors": summary.errors,
        "error_rate": round(summary.error_rate, 4),
        "errors_by_kind": _errors_by_kind(inside),
    }


def _errors_by_kind(samples: list[Sample]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        if s.status == 0 or s.status >= 500:
            out[s.kind] = out.get(s.kind, 0) + 1
    return out


def _phases(result: LoadResult, marks: dict[str, float]) -> dict[str, float]:
    """Event times (perf_counter) as seconds into the measured window."""
    return {k: v - result.config.warmup for k, v in marks.items()}


# --- redis ------------------------------------------------------------------------------


# After Redis is back, the cache "serves hits again" once Redis answers hits in every
# HITS_TICK_S for HITS_SUSTAIN_S in a row: longer than the service's breaker stays open
# (MOVIES_REDIS_BREAKER_SECONDS, 5 s), so a breaker that trips again and again on stale
# pooled connections (issue 15, item 8: trips at +2, +7, ..., +28 s) cannot pass for
# recovery, as the first hit after the restart did.
HITS_TICK_S = 0.25
HITS_SUSTAIN_S = 6.0
REDIS_OUT_S = 6.0  # Redis stays down this long
REDIS_AFTER_S = 40.0  # measured after the restart, at least


def hits_again(ticks: list[tuple[float, int]], sustain: float = HITS_SUSTAIN_S) -> float | None:
    """The first time t in `ticks` ((time, keyspace_hits) polls) from which hits grew at
    every poll for `sustain` seconds; None if they never did."""
    start = None
    for (t0, h0), (t1, h1) in itertools.pairwise(ticks):
        if h1 > h0:
            start = t0 if start is None else start
            if t1 - start >= sustain:
                return start
        else:
            start = None
    return None


def fault_redis(args: argparse.Namespace) -> dict[str, Any]:
    reg = stack.up("cached", args.movies, args.env, not args.no_pin, say=lambda _m: None)
    try:
        port = reg.endpoints["redis_port"]
        api_ports = reg.endpoints["api_ports"]
        # At least REDIS_AFTER_S measured after the restart, whatever --duration says.
        duration = max(args.duration, 5 + REDIS_OUT_S + REDIS_AFTER_S)
        stop_at = args.warmup + 5
        start_at = stop_at + REDIS_OUT_S
        marks: dict[str, float] = {}
        clock: dict[str, float] = {}
        ticks: list[tuple[float, int]] = []
        trips: dict[str, float] = {}

        def errors() -> float:
            found = 0.0
            for p in api_ports:
                with contextlib.suppress(OSError):
                    found += observe.service_counters(p).get("movies_cache_errors_total", 0)
            return found

        def kill() -> None:
            stop(reg.get("redis"))
            reg.remove("redis")
            marks["stopped"] = time.perf_counter() - clock["t0"]

        def restart() -> None:
            marks["restarted"] = time.perf_counter() - clock["t0"]
            redis_server.start(reg, "redis", port, Path(reg.path.parent) / "run" / "redis")
            marks["listening"] = time.perf_counter() - clock["t0"]
            trips["at_restart"] = errors()
            # Redis's own count of GETs that found their key, polled: a new server starts
            # at 0, so any growth is the service reading from it again.
            while time.perf_counter() - clock["t0"] < args.warmup + duration:
                hits = observe.redis_keyspace(port)[0]
                # Stamped when the answer is in (an INFO can take a second on a busy
                # machine): the hits counted had happened by then.
                ticks.append((time.perf_counter() - clock["t0"], hits))
                time.sleep(HITS_TICK_S)
            trips["at_end"] = errors()

        events = [(stop_at, kill), (start_at, restart)]
        result = run_mix_load(reg, args, "fault redis", events, clock, duration)
    finally:
        stack.down(say=lambda _m: None)
    m = _phases(result, marks)
    s = result.samples
    line = timeline(s, result.measured_seconds)
    before = _window(s, 0, m["stopped"])
    first_hit = next((t for t, h in ticks if h > 0), None)
    sustained = hits_again(ticks)
    listening = marks["listening"]
    return {
        "fault": "redis",
        "stage": "cached",
        "what": f"Redis stopped mid-run for {REDIS_OUT_S:g}s, started again (empty); the "
        "service's breaker sends reads to PostgreSQL meanwhile; after the restart, Redis's "
        f"keyspace_hits polled every {HITS_TICK_S:g}s",
        "before": before,
        "outage": _window(s, m["stopped"], m["restarted"]),
        "after": _window(s, m["restarted"], result.measured_seconds),
        "seconds_until_first_hit": None if first_hit is None else round(first_hit - listening, 2),
        # The figure: hits in every poll for HITS_SUSTAIN_S from this point on.
        "seconds_until_cache_serves_hits_again": (
            None if sustained is None else round(sustained - listening, 2)
        ),
        "sustain_seconds": HITS_SUSTAIN_S,
        "observed_after_restart_seconds": round(ticks[-1][0] - listening, 1) if ticks else 0,
        "breaker_trips_after_restart": trips.get("at_end", 0) - trips.get("at_restart", 0),
        "recovery_seconds": recovery_seconds(line, m["restarted"], before.get("rps", 0.0)),
        "duration_used": duration,
        "hits_timeline": [(round(t - listening, 2), h) for t, h in ticks],
        "timeline": [(x.t, x.requests, x.errors) for x in line],
    }


# --- replica ----------------------------------------------------------------------------


def fault_replica(args: argparse.Namespace) -> dict[str, Any]:
    reg = stack.up("read-replicas", args.movies, args.env, not args.no_pin, say=lambda _m: None)
    try:
        stop_at = args.warmup + args.duration * 0.3
        marks: dict[str, float] = {}
        clock: dict[str, float] = {}
        snaps: dict[str, observe.Snapshot] = {}

        def kill() -> None:
            snaps["before"] = observe.snapshot(reg)
            stop(reg.get("pg-replica1"))
            reg.remove("pg-replica1")
            marks["stopped"] = time.perf_counter() - clock["t0"]

        result = run_mix_load(reg, args, "fault replica", [(stop_at, kill)], clock)
        delta = observe.snapshot(reg).minus(snaps["before"])
    finally:
        stack.down(say=lambda _m: None)
    m = _phases(result, marks)
    s = result.samples
    line = timeline(s, result.measured_seconds)
    before = _window(s, 0, m["stopped"])
    return {
        "fault": "replica",
        "stage": "read-replicas",
        "what": "pg-replica1 stopped (fast shutdown) mid-run and left down",
        "before": before,
        "after": _window(s, m["stopped"], result.measured_seconds),
        "first_5s_after": _window(s, m["stopped"], m["stopped"] + 5),
        "recovery_seconds": recovery_seconds(line, m["stopped"], before.get("rps", 0.0)),
        "after_stop_db": {
            "replica_fallbacks": observe.total(delta.service, "movies_db_replica_fallbacks_total"),
            "service_queries_primary": observe.total(
                delta.service, "movies_db_queries_total", role="primary"
            ),
            "service_queries_replica": observe.total(
                delta.service, "movies_db_queries_total", role="replica"
            ),
        },
        "timeline": [(x.t, x.requests, x.errors) for x in line],
    }


# --- primary ----------------------------------------------------------------------------


def fault_primary(args: argparse.Namespace) -> dict[str, Any]:
    reg = stack.up("read-replicas", args.movies, args.env, not args.no_pin, say=lambda _m: None)
    try:
        port = reg.endpoints["primary_port"]
        run_dir = Path(reg.path.parent) / "run"
        restart_at = args.warmup + args.duration * 0.3
        marks: dict[str, float] = {}
        clock: dict[str, float] = {}

        def restart() -> None:
            marks["stopping"] = time.perf_counter() - clock["t0"]
            stop(reg.get("pg-primary"))
            reg.remove("pg-primary")
            marks["stopped"] = time.perf_counter() - clock["t0"]
            postgres.start(
                reg, "pg-primary", run_dir / "pg-primary", port, run_dir / "pg-primary.log"
            )
            marks["ready"] = time.perf_counter() - clock["t0"]

        result = run_mix_load(reg, args, "fault primary", [(restart_at, restart)], clock)
    finally:
        stack.down(say=lambda _m: None)
    m = _phases(result, marks)
    s = result.samples
    line = timeline(s, result.measured_seconds)
    before = _window(s, 0, m["stopping"])
    return {
        "fault": "primary",
        "stage": "read-replicas",
        "what": "primary restarted mid-run: fast shutdown, then started on the same port",
        "primary_down_seconds": round(m["ready"] - m["stopping"], 2),
        "before": before,
        "during": _window(s, m["stopping"], m["ready"]),
        "after": _window(s, m["ready"], result.measured_seconds),
        "recovery_seconds_from_restart": recovery_seconds(
            line, m["stopping"], before.get("rps", 0.0)
        ),
        "timeline": [(x.t, x.requests, x.errors) for x in line],
    }


# --- thundering herd --------------------------------------------------------------------


async def _herd(url: str, n: int) -> list[int]:
    async def one() -> int:
        client = RawClient(timeout=15)
        try:
            return (await client.request("GET", url)).status
        except (OSError, TimeoutError):
            return 0
        finally:
            await client.close()

    return list(await asyncio.gather(*(one() for _ in range(n))))


def herd_once(args: argparse.Namespace, protection: bool) -> dict[str, Any]:
    import redis

    overrides = {"MOVIES_STAMPEDE_PROTECTION": "true" if protection else "false"}
    reg = stack.up(
        "cached",
        args.movies,
        args.env,
        not args.no_pin,
        say=lambda _m: None,
        service_overrides=overrides,
    )
    trials = []
    try:
        ep = reg.endpoints
        movie = stack_hot_movie(int(ep["movies"]))
        # Connections and prepared statements first, so the herd measures the cache alone.
        asyncio.run(_herd(f"{ep['entry']}/movies/{movie + 1}", 8))
        for _ in range(HERD_TRIALS):
            redis.Redis(host=LOOPBACK, port=ep["redis_port"]).flushall()
            before = observe.snapshot(reg)
            started = time.perf_counter()
            statuses = asyncio.run(_herd(f"{ep['entry']}/movies/{movie}", args.herd_size))
            seconds = time.perf_counter() - started
            delta = observe.snapshot(reg).minus(before)
            trials.append({
                "ok": sum(1 for x in statuses if x == 200),
                "failed": sum(1 for x in statuses if x != 200),
                "seconds": round(seconds, 3),
                "db_reads": delta.primary_reads + delta.replica_reads,
                "service_db_queries": observe.total(delta.service, "movies_db_queries_total"),
                "cache_lock_waits": observe.total(delta.service, "movies_cache_lock_waits_total"),
            })  # fmt: skip
    finally:
        stack.down(say=lambda _m: None)
    reads = sorted(t["db_reads"] for t in trials)
    return {
        "stampede_protection": protection,
        "concurrent_requests": args.herd_size,
        "trials": trials,
        "db_reads_min": reads[0],
        "db_reads_median": reads[len(reads) // 2],
        "db_reads_max": reads[-1],
        "failed": sum(t["failed"] for t in trials),
    }


def stack_hot_movie(movies: int) -> int:
    from lab.load import ZipfSampler

    return ZipfSampler(movies, 1.0).ids[0]


def fault_herd(args: argparse.Namespace) -> dict[str, Any]:
    runs = [herd_once(args, True), herd_once(args, False)]
    return {
        "fault": "herd",
        "stage": "cached",
        "what": f"Redis flushed, then {args.herd_size} concurrent GETs of the hottest movie "
        "through the ALB; DB reads counted by pg_stat_statements",
        "runs": runs,
    }


# --- sigterm: an instance refresh's stop, one API process --------------------------------

SIGTERM_STAGE = "load-balanced"
SIGTERM_TARGET = "api1"
SIGTERM_AFTER_S = 5.0  # measured seconds before the deregistration starts


def _errors_by_status(samples: list[Sample]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        if s.status == 0 or s.status >= 500:
            key = "transport" if s.status == 0 else str(s.status)
            out[key] = out.get(key, 0) + 1
    return out


def _error_window(samples: list[Sample]) -> dict[str, float] | None:
    errs = [s.start for s in samples if s.status == 0 or s.status >= 500]
    if not errs:
        return None
    return {"first_s": round(min(errs), 2), "last_s": round(max(errs), 2),
            "seconds": round(max(errs) - min(errs), 2)}  # fmt: skip


def fault_sigterm(args: argparse.Namespace) -> dict[str, Any]:
    """Deregister (drain for the target group's delay), then SIGTERM, one API process under
    the bench's load; every error counted by status, and the window they fell in."""
    deregister = not args.no_deregister
    reg = stack.up(
        SIGTERM_STAGE,
        args.movies,
        args.env,
        not args.no_pin,
        say=lambda _m: None,
        alb_time_scale=args.time_scale,
    )
    try:
        ep = reg.endpoints
        group = alb.TargetGroup(**ep["alb_target_groups"]["web"])
        admin = alb.Admin(int(ep["alb_admin_port"]))
        drain_s = group.deregistration_delay_s if deregister else 0.0
        # After the stop: long enough for the health checks to take a target that was not
        # deregistered out (unhealthy threshold x interval) and a few seconds more.
        after_s = group.unhealthy_after_s + group.interval_s + 5
        duration = max(args.duration, SIGTERM_AFTER_S + drain_s + after_s)
        marks: dict[str, float] = {}
        clock: dict[str, float] = {}
        drained: dict[str, float] = {}
        states: list[tuple[float, str]] = []

        def stop_target() -> None:
            marks["deregister"] = time.perf_counter() - clock["t0"]
            if deregister:
                drained.update(admin.deregister("web", SIGTERM_TARGET, drain_s))
            marks["sigterm"] = time.perf_counter() - clock["t0"]
            stop(reg.get(SIGTERM_TARGET))  # SIGTERM; uvicorn finishes what it has, then exits
            marks["exited"] = time.perf_counter() - clock["t0"]
            while time.perf_counter() - clock["t0"] < args.warmup + duration:
                states.append((time.perf_counter() - clock["t0"],
                               admin.status("web", SIGTERM_TARGET)))  # fmt: skip
                time.sleep(0.5)

        events = [(args.warmup + SIGTERM_AFTER_S, stop_target)]
        result = run_mix_load(reg, args, "fault sigterm", events, clock, duration)
    finally:
        stack.down(say=lambda _m: None)
    m = _phases(result, marks)
    s = result.samples
    line = timeline(s, result.measured_seconds)
    after = [x for x in s if x.start >= m["deregister"]]
    return {
        "fault": "sigterm",
        # A non-default run is kept beside the default one (sigterm@no-deregister,
        # sigterm@time-scale-0.083).
        "result_key": "sigterm"
        + ("" if deregister else "@no-deregister")
        + ("" if args.time_scale == 1 else f"@time-scale-{args.time_scale:g}"),
        "stage": SIGTERM_STAGE,
        "what": (
            f"{SIGTERM_TARGET} deregistered from the ALB stand-in's web target group "
            f"(draining {drain_s:g} s, the group's deregistration delay x time scale), then "
            "SIGTERM, under load"
            if deregister
            else f"{SIGTERM_TARGET} sent SIGTERM while registered; the ALB stand-in's health "
            "checks take it out"
        ),
        "deregistered_first": deregister,
        "time_scale": args.time_scale,
        "target_group": ep["alb_target_groups"]["web"],
        "api_processes": len(ep["api_ports"]),
        "draining": drained,
        "seconds_sigterm_to_exit": round(m["exited"] - m["sigterm"], 2),
        "before": _window(s, 0, m["deregister"]),
        "during_drain": _window(s, m["deregister"], m["sigterm"]),
        "after_sigterm": _window(s, m["sigterm"], result.measured_seconds),
        "errors": sum(1 for x in after if x.status == 0 or x.status >= 500),
        "errors_by_status": _errors_by_status(after),
        "error_window": _error_window(after),
        "target_states": _state_changes(states, result.config.warmup),
        "duration_used": duration,
        "timeline": [(x.t, x.requests, x.errors) for x in line],
    }


def _state_changes(states: list[tuple[float, str]], warmup: float) -> list[tuple[float, str]]:
    """The target's haproxy status each time it changed (seconds into the measured window)."""
    out: list[tuple[float, str]] = []
    for t, state in states:
        if not out or out[-1][1] != state:
            out.append((round(t - warmup, 2), state))
    return out


FAULTS = {
    "redis": fault_redis,
    "replica": fault_replica,
    "primary": fault_primary,
    "herd": fault_herd,
    "primary-crash": crash.fault_primary_crash,
    "keepalive": keepalive.fault_keepalive,
    "race": race.fault_race,
    "sigterm": fault_sigterm,
    "frozen-replica": bulkheads.fault_frozen_replica,
    "search-flood": bulkheads.fault_search_flood,
}


def headline(r: dict[str, Any]) -> str:
    kind = r["fault"]
    if kind == "primary-crash":
        return crash.headline(r)
    if kind == "keepalive":
        return keepalive.headline(r)
    if kind == "race":
        return race.headline(r)
    if kind == "frozen-replica":
        return bulkheads.frozen_headline(r)
    if kind == "search-flood":
        return bulkheads.flood_headline(r)
    if kind == "sigterm":
        w = r["error_window"]
        window = "none" if w is None else f"{w['first_s']}-{w['last_s']} s ({w['seconds']} s)"
        how = (
            f"deregistered, drained {r['draining'].get('draining_s')} s, then SIGTERM"
            if r["deregistered_first"]
            else "SIGTERM while registered (health checks only)"
        )
        return (
            f"sigterm ({how}; time scale {r['time_scale']:g}): {r['errors']} errors from the "
            f"deregistration on ({r['errors_by_status']}), error window {window}; "
            f"{r['after_sigterm'].get('requests', 0):,} requests after the SIGTERM at "
            f"{r['after_sigterm'].get('rps', 0):,.0f} rps vs {r['before'].get('rps', 0):,.0f} "
            f"before; target states {r['target_states']}"
        )
    if kind == "redis":
        o, a = r["outage"], r["after"]
        again = r["seconds_until_cache_serves_hits_again"]
        if again is None:
            again = f"more than {r['observed_after_restart_seconds']}"
        return (
            f"redis stopped {o['seconds']}s: {o.get('errors', 0)} errors "
            f"({o.get('error_rate', 0):.2%}), {o.get('rps', 0):,.0f} rps vs "
            f"{r['before'].get('rps', 0):,.0f} before, p99 {o.get('p99_ms')} ms; back: "
            f"first hit after {r['seconds_until_first_hit']}s, cache serving hits again "
            f"(hits every {HITS_TICK_S:g}s for {r['sustain_seconds']:g}s) after "
            f"{again}s, "
            f"{r['breaker_trips_after_restart']:.0f} breaker trips after the restart, "
            f"{a.get('errors', 0)} errors after"
        )
    if kind == "replica":
        f5, a = r["first_5s_after"], r["after"]
        return (
            f"replica stopped: {a.get('errors', 0)} errors after ({f5.get('errors', 0)} in "
            f"the first 5s), {a.get('rps', 0):,.0f} rps vs {r['before'].get('rps', 0):,.0f}"
            f" before, {r['after_stop_db']['replica_fallbacks']:.0f} reads fell back to the "
            f"primary; recovered after {r['recovery_seconds']}s"
        )
    if kind == "primary":
        d = r["during"]
        return (
            f"primary down {r['primary_down_seconds']}s: {d.get('errors', 0)} errors "
            f"during ({d.get('errors_by_kind', {})}), {r['after'].get('errors', 0)} after; "
            f"recovered {r['recovery_seconds_from_restart']}s after the restart began"
        )
    runs = {x["stampede_protection"]: x for x in r["runs"]}
    on, off = runs[True], runs[False]
    return (
        f"herd of {on['concurrent_requests']} on one cold key, {HERD_TRIALS} trials each: "
        f"DB reads min/median/max {on['db_reads_min']}/{on['db_reads_median']}/"
        f"{on['db_reads_max']} with stampede protection ({on['failed']} failed), "
        f"{off['db_reads_min']}/{off['db_reads_median']}/{off['db_reads_max']} without "
        f"({off['failed']} failed)"
    )


def run_faults(args: argparse.Namespace) -> int:
    kinds = list(FAULTS) if args.kind == "all" else [args.kind]
    path = RESULTS / "faults.json"
    report = json.loads(path.read_text()) if path.is_file() else {"faults": {}}
    for kind in kinds:
        r = FAULTS[kind](args)
        r["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        # Per fault: `fault KIND` rewrites one entry, so the top-level settings describe
        # only the last run.
        r["settings"] = {
            "duration": r.pop("duration_used", args.duration),
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "movies": args.movies,
        }
        # A run with a non-default setting (keepalive --keepalive 5, primary-crash
        # --synchronous-commit off) is kept beside the default one, not over it.
        report["faults"][r.pop("result_key", kind)] = r
        print(f"fault {headline(r)}")
    report["machine"] = machine()
    report["settings"] = {
        "duration": args.duration,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "movies": args.movies,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
    return 0
