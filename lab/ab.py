"""`python -m lab.ab`: the service from two source trees, side by side on one lab stack.

Issue 12's before/after: the `cached` stage is brought up once (PostgreSQL, replica, Redis);
then each variant (a source tree plus settings) runs as one extra API process on the same
CPUs, in turn, `--rounds` times interleaved, under the same anonymous read load (Zipf over
`--keys` movie ids). Per variant: requests per second, p50/p99, the API process's CPU per
request (/proc/<pid>/stat, robust on a shared machine), Redis commands per request (INFO
`total_commands_processed`) and, with `--profile`, py-spy's top functions.

    python -m lab.ab --before /work/main/app_image --keys 1000
    python -m lab.ab --keys 100000 --hot          # the hot-key cache off vs on (this tree)
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lab import observe, stack
from lab.limit import READ_ONLY, cpu_seconds, touch_all
from lab.load import LoadConfig, RequestMaker, run_with_progress
from lab.procs import LOOPBACK, free_port, pin, spawn, stop, wait_until
from lab.results import RESULTS, machine
from lab.state import lab_dir
from lab.stats import summarize


def _redis_commands(port: int) -> int:
    import redis

    client = redis.Redis(host=LOOPBACK, port=port)
    try:
        return int(client.info("stats")["total_commands_processed"])
    finally:
        client.close()


def _top(raw: Path, n: int = 12) -> list[dict[str, Any]]:
    """Top functions by own samples and by inclusive samples from py-spy's raw output."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack_text.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            incl[frame] += int(count)
    return [
        {
            "function": f,
            "own_pct": round(100 * c / total, 1),
            "incl_pct": round(100 * incl[f] / total, 1),
        }
        for f, c in own.most_common(n)
    ]


def _run_variant(
    name: str, tree: Path, env: dict[str, str], args: argparse.Namespace, ep: dict[str, Any], reg
) -> dict[str, Any]:
    port = free_port()
    cpus = ep["topology"].get("api_cpus")
    record = spawn(
        reg,
        f"ab-{name}",
        [*pin(cpus), stack.service_python(), "-m", "movies_api", "serve", "--host", LOOPBACK,
         "--port", str(port)],
        log=lab_dir() / "run" / f"ab-{name}.log",
        env=stack.service_env({**env, "PYTHONPATH": str(tree)}),
        cwd=tree,
        port=port,
    )  # fmt: skip
    try:
        wait_until(lambda: stack.healthy(port), f"ab-{name}", 60, record)
        url = f"http://{LOOPBACK}:{port}"
        config = LoadConfig(
            base_url=url, duration=args.duration, warmup=args.warmup, concurrency=args.concurrency
        )
        maker = RequestMaker(READ_ONLY, args.keys)
        # Warm the cache first (not measured), so the rounds compare steady states: every
        # id once when that is quick, else a Zipf warm-up.
        if args.keys <= 10_000:
            touch_all(port, args.keys)
        else:
            warm = LoadConfig(base_url=url, duration=args.warmup, warmup=0, concurrency=8)
            run_with_progress(warm, maker, f"{name}: warm-up", quiet=args.quiet)
        before_n = observe.total(observe.service_counters(port), "movies_requests_total")
        before_cmd = _redis_commands(ep["redis_port"])
        before_cpu = cpu_seconds(record.pid)
        spy = None
        if args.profile:
            raw = lab_dir() / "run" / f"ab-{name}.pyspy"
            spy = subprocess.Popen(
                [args.py_spy, "record", "--pid", str(record.pid), "--format", "raw",
                 "--output", str(raw), "--duration", str(int(args.warmup + args.duration)),
                 "--rate", "200", "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        result = run_with_progress(config, maker, name, quiet=args.quiet)
        cpu = cpu_seconds(record.pid) - before_cpu
        commands = _redis_commands(ep["redis_port"]) - before_cmd
        served = observe.total(observe.service_counters(port), "movies_requests_total")
        served -= before_n + 1  # the first /metrics scrape
        s = summarize(result.samples, result.measured_seconds)
        out = {
            "rps": round(s.rps, 1),
            "p50_ms": None if s.p50_ms is None else round(s.p50_ms, 2),
            "p99_ms": None if s.p99_ms is None else round(s.p99_ms, 2),
            "errors": s.errors,
            "app_cpu_ms_per_request": round(1000 * cpu / served, 4),
            "redis_commands_per_request": round(commands / served, 3),
            "requests_incl_warmup": int(served),
        }
        if spy is not None:
            spy.wait(timeout=args.warmup + args.duration + 30)
            out["profile_top"] = _top(lab_dir() / "run" / f"ab-{name}.pyspy")
        return out
    finally:
        stop(record)
        reg.remove(f"ab-{name}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.ab", description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, help="app_image/ of the tree to compare against")
    p.add_argument("--hot", action="store_true", help="compare MOVIES_HOT_CACHE_MS 0 vs 1000")
    p.add_argument("--cache-off", action="store_true", help="also run each tree with no cache")
    p.add_argument("--keys", type=int, default=1000, help="Zipf s=1.0 over this many ids")
    p.add_argument("--movies", type=int, default=100_000)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--profile", action="store_true", help="py-spy record each variant")
    beside = Path(sys.executable).parent / "py-spy"
    p.add_argument("--py-spy", default=shutil.which("py-spy") or str(beside))
    p.add_argument("--out", type=Path, default=RESULTS / "service_ab.json")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if not 1 <= args.keys <= args.movies:
        p.error(f"--keys={args.keys}; allowed 1..--movies ({args.movies})")
    here = stack.APP_DIR
    variants: list[tuple[str, Path, dict[str, str]]] = []
    if args.before is not None:
        if not (args.before / "movies_api").is_dir():
            p.error(f"--before {args.before}: no movies_api/ package there")
        variants.append(("before", args.before.resolve(), {"MOVIES_HOT_CACHE_MS": "0"}))
    variants.append(("after", here, {"MOVIES_HOT_CACHE_MS": "0"}))
    if args.hot:
        variants.append(("after+hot", here, {"MOVIES_HOT_CACHE_MS": "1000"}))
    if args.cache_off:
        variants += [
            (f"{n} cache-off", t, {**e, "MOVIES_CACHE_ENABLED": "false"}) for n, t, e in variants
        ]
    reg = stack.up("cached", args.movies, "dev", True, say=lambda _m: None)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in variants}
    try:
        ep = reg.endpoints
        for _ in range(args.rounds):
            for name, tree, extra in variants:
                env = {**ep["service_env"], **extra}
                runs[name].append(_run_variant(name, tree, env, args, ep, reg))
    finally:
        stack.down(say=lambda _m: None)
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'variant':<22}{'rps':>9}{'p99 ms':>9}{'CPU ms/req':>12}{'Redis cmd/req':>15}")
    for name, results in runs.items():
        for r in results:
            print(
                f"{name:<22}{r['rps']:>9,.0f}{r['p99_ms'] or 0:>9.2f}"
                f"{r['app_cpu_ms_per_request']:>12.3f}{r['redis_commands_per_request']:>15.3f}"
            )
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
