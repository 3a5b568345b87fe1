"""`python -m lab.cost_drift`: does the same work cost the service different CPU from one
minute to the next? (issue 23: what moves the bench's figures)

One stage (default cached, prod sizes, ceiling fleet) comes up as the bench brings it up,
with the bench's budgets and clocks, preloaded and warmed; then, for `--minutes`, the same
open-loop probe at one fixed rate (well under the ceiling, so no queue builds) runs again
and again: each probe records the app tier's CPU per request (its cgroup) and, right after,
one sample of the reference loop (lab/speed.py). Prints one line per probe and a summary.

    python -m lab.cost_drift --rate 120 --minutes 8 --out lab/results/<dir>/cost_over_time.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from lab import bench, cgroups, speed, stack
from lab.load import Mix, RequestMaker
from lab.saturate import stage_probe
from lab.state import lab_dir


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.cost_drift")
    ap.add_argument("--stage", default="cached")
    ap.add_argument("--rate", type=float, default=120.0)
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    bs, _ = bench.resolve(bench.BenchSettings())
    fleet = bench.stage_fleet(args.stage, bs)
    env = bench.bench_env(bs)
    reg = stack.up(
        args.stage,
        bs.movies,
        bs.env,
        pin_cpus=False,
        say=lambda _m: None,
        service_overrides=env,
        budgets=True,
        scale=bs.scale,
        fleet=fleet,
    )
    rows = []
    try:
        budgets = reg.endpoints.get("cgroups", {}).get("tiers", {})
        groups = cgroups.LabGroups.for_lab(lab_dir())
        readers, writers = stack.load_keys(bs.movies)
        maker = RequestMaker(Mix.from_workload(), bs.movies, readers, writers)
        bench.warm_caches(reg, maker, bs, groups, budgets)
        bench.warm_connections(reg, maker, bs, groups, budgets)
        probe = stage_probe(
            reg.endpoints,
            groups,
            budgets,
            maker,
            bench.bench_slo(bs),
            bs.probe_seconds,
            bs.probe_warmup,
        )
        started = time.monotonic()
        while time.monotonic() - started < args.minutes * 60:
            p = probe(args.rate)
            loop = speed.measure(1).median
            app = p.tiers["app"]["cpus"] if "app" in p.tiers else None
            done = p.summary.get("completed_rps") or p.rate
            ms = 1000 * app / done if app else None
            row = {
                "t": round(time.monotonic() - started, 1),
                "ok": p.ok,
                "rate": p.rate,
                "completed_rps": done,
                "app_cpus": app,
                "app_ms_per_request": ms,
                "cache_hit_ratio": p.ratios.get("cache_hit_ratio"),
                "loop_cpu_s": loop,
            }
            rows.append(row)
            print(
                f"{row['t']:6.1f}s  app {ms or 0:6.3f} ms/req  hit {row['cache_hit_ratio']}"
                f"  loop {loop:.3f} CPU-s  ok {p.ok}",
                flush=True,
            )
    finally:
        stack.down(say=lambda _m: None)
    ms = [r["app_ms_per_request"] for r in rows if r["app_ms_per_request"]]
    loops = [r["loop_cpu_s"] for r in rows]
    print(
        f"{len(ms)} probes at {args.rate:g} rps: app ms/request min {min(ms):.3f} median "
        f"{statistics.median(ms):.3f} max {max(ms):.3f} (max/min {max(ms) / min(ms):.2f}); "
        f"loop min {min(loops):.3f} median {statistics.median(loops):.3f} max {max(loops):.3f}"
    )
    if len(ms) == len(loops) and len(ms) > 2:
        print(f"correlation app ms vs loop: {statistics.correlation(ms, loops):+.2f}")
    if args.out:
        doc = {"stage": args.stage, "rate": args.rate, "rows": rows}
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
