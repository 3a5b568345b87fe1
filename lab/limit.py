"""`lab limit`: the same read load against the service, a minimal ASGI app doing one Redis
GET, and nginx serving a static file; the service's throughput as a share of each.

All three run as one process on 127.0.0.1 (one uvicorn process, one nginx worker), so the
ratios compare per-process costs; the load generator shares the cores with each of them.
The minimal app runs on the service's server stack (uvloop, httptools, one worker), so the
ratio is the service's own overhead. On the same load the service's app CPU per request is
read from /proc/<pid>/stat twice: answered from the cache, and by a second API process with
the cache off (every request a database read). `lab clientcheck` runs the raw asyncio
client and httpx against the same nginx."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from lab import nginx, observe, redis_server, stack
from lab.load import LoadConfig, Mix, RequestMaker, run_with_progress
from lab.procs import LOOPBACK, LabError, free_port, pin, port_open, spawn, stop, wait_until
from lab.results import RESULTS, machine
from lab.state import Registry, lab_dir
from lab.stats import summarize

# Reads only, anonymous only, no search: the one request all three can answer.
READ_ONLY = Mix(read_share=1.0, anonymous_share=1.0, search_share=0.0, poster_share=0.0)
# A key space the warm-up fills: the service is then measured on cache hits, as the
# minimal app always is, and the ratio compares per-request overhead, not hit ratios.
LIMIT_KEYS = 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (/proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def touch_all(port: int, keys: int) -> None:
    """GET /movies/1..keys once each: afterwards every read of that key space is a hit."""
    import http.client

    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        for movie_id in range(1, keys + 1):
            conn.request("GET", f"/movies/{movie_id}")
            conn.getresponse().read()
    finally:
        conn.close()


def _app_cpu(reg: Registry, name: str, port: int, run) -> dict[str, Any]:
    """Runs `run()` and reports the CPU the API process `name` spent per request it served
    meanwhile (warm-up included on both sides, so the count and the CPU match)."""
    pid = next(p.pid for p in reg.processes if p.name == name)
    before_n = observe.total(observe.service_counters(port), "movies_requests_total")
    before_cpu = cpu_seconds(pid)
    result = run()
    cpu = cpu_seconds(pid) - before_cpu
    # the two /metrics scrapes are requests too
    served = observe.total(observe.service_counters(port), "movies_requests_total") - before_n - 1
    result["app_cpu_seconds"] = round(cpu, 3)
    result["app_requests"] = int(served)
    result["app_cpu_ms_per_request"] = round(1000 * cpu / served, 4) if served > 0 else None
    return result


def _measure(
    url: str,
    args: argparse.Namespace,
    movies: int,
    label: str,
    client: str | None = None,
    reg: Registry | None = None,
) -> dict[str, Any]:
    maker = RequestMaker(READ_ONLY, movies)
    config = LoadConfig(
        base_url=url,
        duration=args.duration,
        warmup=args.warmup,
        concurrency=args.concurrency,
        client=client or args.client,
    )
    pgids = {p.pgid for p in reg.processes} if reg is not None else set()
    before = observe.CpuMark.take(pgids)
    result = run_with_progress(config, maker, label, quiet=args.quiet)
    cpu = observe.CpuMark.take(pgids).shares(before)
    s = summarize(result.samples, result.measured_seconds)
    return {
        "rps": round(s.rps, 1),
        "p50_ms": None if s.p50_ms is None else round(s.p50_ms, 2),
        "p99_ms": None if s.p99_ms is None else round(s.p99_ms, 2),
        "errors": s.errors,
        "non_200": s.client_errors,
        "cpu_share_incl_warmup": cpu,
        "requests_incl_warmup": len(result.all_samples),
    }


def _static_nginx(reg: Registry, root) -> int:
    docroot = root / "static"
    docroot.mkdir(parents=True, exist_ok=True)
    # A movie document of the service's size, so the bytes on the wire are comparable.
    (docroot / "movie.json").write_text(json.dumps({
        "id": 1, "title": "The Silent River", "year": 1999, "genres": ["drama"],
        "runtime_minutes": 120, "rating": 7.5, "overview": "In Oslo, a quiet river waits.",
        "has_poster": True, "updated_at": "2026-01-01T00:00:00+00:00",
    }))  # fmt: skip
    port = free_port()
    nginx.start(
        reg,
        "static-nginx",
        root / "static-nginx",
        port,
        nginx.static_conf(root / "static-nginx", port, docroot),
    )
    return port


def run_limit(args: argparse.Namespace) -> int:
    import redis

    reg = stack.up("cached", args.movies, "dev", not args.no_pin, say=lambda _m: None)
    results: dict[str, Any] = {}
    try:
        ep = reg.endpoints
        if ep["topology"].get("api_workers", 1) != 1:
            # /proc/<pid>/stat of a uvicorn supervisor would leave its workers' CPU out.
            raise LabError("lab limit measures one API worker process; the topology has more")
        api = f"http://{LOOPBACK}:{ep['api_ports'][0]}"
        # Every id cached first, so "per cache hit" is just that (the warm-up alone left
        # ~5% misses in the figure, each costing a database read and five Redis commands).
        touch_all(ep["api_ports"][0], LIMIT_KEYS)
        before = observe.service_counters(ep["api_ports"][0])
        results["service"] = _app_cpu(
            reg,
            "api1",
            ep["api_ports"][0],
            lambda: _measure(api, args, LIMIT_KEYS, "service (1 process)", reg=reg),
        )
        after = observe.service_counters(ep["api_ports"][0])
        hits = observe.total(after, "movies_cache_hits_total") - observe.total(
            before, "movies_cache_hits_total"
        )
        misses = observe.total(after, "movies_cache_misses_total") - observe.total(
            before, "movies_cache_misses_total"
        )
        results["service"]["cache_hit_ratio_incl_warmup"] = round(hits / (hits + misses), 4)
        # The same service with the cache off: every request is a database read.
        nocache = {**ep["service_env"], "MOVIES_CACHE_ENABLED": "false"}
        cpus = ep["topology"].get("api_cpus")
        dport = stack.start_api(reg, "api-db-reads", nocache, cpus, lab_dir() / "run")
        results["service_db_reads"] = _app_cpu(
            reg,
            "api-db-reads",
            dport,
            lambda: _measure(
                f"http://{LOOPBACK}:{dport}", args, LIMIT_KEYS, "service, cache off", reg=reg
            ),
        )
        stop(next(p for p in reg.processes if p.name == "api-db-reads"))
        reg.remove("api-db-reads")
        # The minimal app reads the very entries the service just cached, header and all.
        port = free_port()
        record = spawn(
            reg,
            "minimal",
            [*pin(cpus), sys.executable, "-m", "lab.minimal_app", "--port", str(port)],
            log=lab_dir() / "run" / "minimal.log",
            env={
                **stack.service_env({}),
                "PYTHONPATH": f"{stack.REPO}{os.pathsep}{stack.APP_DIR}",
                "LAB_MINIMAL_REDIS_URL": redis_server.url(ep["redis_port"]),
            },
            cwd=stack.REPO,
            port=port,
        )
        wait_until(lambda: port_open(port), "minimal ASGI app", 30, record)
        _fill_redis(ep["redis_port"], args.movies, redis)
        before_cpu = cpu_seconds(record.pid)
        minimal = _measure(
            f"http://{LOOPBACK}:{port}", args, LIMIT_KEYS, "minimal ASGI + Redis GET", reg=reg
        )
        cpu = cpu_seconds(record.pid) - before_cpu
        # No /metrics here: the requests are the load generator's (warm-up included, as
        # the CPU is).
        minimal["app_cpu_seconds"] = round(cpu, 3)
        minimal["app_requests"] = minimal["requests_incl_warmup"]
        minimal["app_cpu_ms_per_request"] = round(1000 * cpu / minimal["app_requests"], 4)
        results["minimal_asgi_redis_get"] = minimal
        stop(record)
        reg.remove("minimal")
        sport = _static_nginx(reg, lab_dir() / "run")
        results["nginx_static"] = _measure(
            f"http://{LOOPBACK}:{sport}", args, LIMIT_KEYS, "nginx static file", reg=reg
        )
    finally:
        stack.down(say=lambda _m: None)
    svc = results["service"]["rps"]
    hit_ms = results["service"]["app_cpu_ms_per_request"]
    db_ms = results["service_db_reads"]["app_cpu_ms_per_request"]
    floor_ms = results["minimal_asgi_redis_get"]["app_cpu_ms_per_request"]
    results["ratios"] = {
        "service_vs_minimal_asgi": round(svc / results["minimal_asgi_redis_get"]["rps"], 3),
        # Requests per CPU-second of the one server process, service over minimal app: the
        # same ratio, robust when other work shares the cores (rps swings with it).
        "service_vs_minimal_asgi_per_cpu": round(floor_ms / hit_ms, 3),
        "service_vs_nginx_static": round(svc / results["nginx_static"]["rps"], 3),
        "app_cpu_hit_vs_db_read": round(hit_ms / db_ms, 3) if hit_ms and db_ms else None,
    }
    report = {
        "key_space": LIMIT_KEYS,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "settings": {
            "duration": args.duration,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "client": args.client,
        },
        "results": results,
    }
    for name in ("service", "service_db_reads", "minimal_asgi_redis_get", "nginx_static"):
        r = results[name]
        print(
            f"{name:<24} {r['rps']:>9,.0f} rps  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  "
            f"errors {r['errors']}  CPU lab/other {r['cpu_share_incl_warmup']['lab']:.0%}/"
            f"{r['cpu_share_incl_warmup']['other']:.0%}"
        )
    print(
        f"service / minimal ASGI + Redis GET = {results['ratios']['service_vs_minimal_asgi']}"
        f" in rps, {results['ratios']['service_vs_minimal_asgi_per_cpu']} in requests per "
        f"server CPU-second (target >= 0.85); service / nginx static = "
        f"{results['ratios']['service_vs_nginx_static']}"
    )
    print(
        f"app CPU per request on one API process: cache hit {hit_ms} ms, database read "
        f"{db_ms} ms; hit / read = {results['ratios']['app_cpu_hit_vs_db_read']} "
        "(target <= 0.5)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "limit.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _fill_redis(port: int, movies: int, redis_mod) -> None:
    """Every id gets an entry: the one the service cached if there is one, else a copy."""
    client = redis_mod.Redis(host=LOOPBACK, port=port)
    sample = None
    for key in client.scan_iter("c2:movie:*", count=1000):
        sample = client.get(key)
        if sample:
            break
    sample = sample or b'0 0 + \n{"id":1}'
    pipe = client.pipeline(transaction=False)
    for movie_id in range(1, movies + 1):
        pipe.set(f"c2:movie:{movie_id}", sample, nx=True)
        if movie_id % 5000 == 0:
            pipe.execute()
    pipe.execute()


def client_check(args: argparse.Namespace) -> int:
    """Which client leaves more CPU to the servers: both against one nginx static file."""
    root = lab_dir() / "clientcheck"
    reg = Registry(path=root / "registry.json")
    results: dict[str, Any] = {}
    try:
        port = _static_nginx(reg, root)
        for client in ("raw", "httpx"):
            results[client] = _measure(
                f"http://{LOOPBACK}:{port}", args, 1000, f"{client} client", client=client, reg=reg
            )
    finally:
        for record in reversed(reg.processes):
            stop(record)
    for client, r in results.items():
        print(f"{client:<6} {r['rps']:>9,.0f} rps  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms")
    print(f"raw / httpx = {results['raw']['rps'] / results['httpx']['rps']:.2f}x")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "clientcheck.json").write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": machine(),
                "settings": {"duration": args.duration, "concurrency": args.concurrency},
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    return 0
