"""Small experiments on what moves the bench's figures (issue 23 item 3), each runnable now
on a busy machine because it compares settings side by side, alternating trials.

`python -m lab.variance cfs`: the CFS period at a small budget. A worker process runs in
a cgroup of this lab's own (named apart from every stage's groups) with a quota of
`--cpus` (default 0.1 CPU) per `--period-ms` period; the driver, outside every budget,
sends it jobs of 1 ms of CPU each at Poisson arrivals at `--load` (default 60%) of the
budget's capacity, for `--seconds` per trial, trials alternating between the periods.
Per trial: jobs/s completed, p50/p99/max latency (arrival to answer). The spread of each
figure across trials of one period, (max - min) / median, is what the bench's spread is.

`python -m lab.variance gc`: the same worker without a budget, allocating like a request
handler (a dict per job), with Python's default GC thresholds, and with `gc.freeze()` after
start-up: how often a collection lands on a job and what it adds.

Nothing here is a figure the bench records; the measurements go into the report and
docs/lab.md with the machine's load beside them."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lab.cgroups import LabGroups, detect, group_name
from lab.state import lab_dir

# The worker: read one byte per job from stdin, burn `job_ms` of its own CPU time, answer one
# byte. CPU time (thread_time), not wall time: a throttled worker's job takes longer in wall
# time, which is what the driver measures.
WORKER = r"""
import gc, json, os, sys, time
job_s = float(sys.argv[1]) / 1000
mode = sys.argv[2]
if mode == "freeze":
    gc.freeze()
pauses = {0: [], 1: [], 2: []}
began = {}
def track(phase, info):
    if phase == "start":
        began["t"] = time.perf_counter()
    else:
        pauses[info["generation"]].append(time.perf_counter() - began["t"])
gc.callbacks.append(track)
keep = []
out = sys.stdout.buffer
inp = sys.stdin.buffer
while True:
    b = inp.read(1)
    if not b:
        break
    if mode in ("gc", "freeze"):
        # A request handler's garbage: a few hundred small objects per job, some kept.
        docs = [{"id": i, "title": "t" * 20, "tags": [i, i + 1]} for i in range(200)]
        keep.append(docs[0])
        if len(keep) > 5000:
            keep.clear()
    t = time.thread_time()
    while time.thread_time() - t < job_s:
        pass
    out.write(b)
    out.flush()
sys.stderr.write(json.dumps({g: [len(v), sum(v), max(v, default=0.0)] for g, v in pauses.items()}))
"""


@dataclass(frozen=True)
class Trial:
    label: str
    jobs: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    gc: dict[str, list[float]] | None = None  # generation -> [collections, total s, max s]

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def spread(values: list[float]) -> float | None:
    """(max - min) / median: how far apart repeated figures are, as the bench reports it."""
    if not values:
        return None
    med = statistics.median(values)
    return (max(values) - min(values)) / med if med else None


def run_trial(argv: list[str], rate: float, seconds: float, label: str, seed: int) -> Trial:
    """Poisson arrivals at `rate` jobs/s for `seconds` into one worker; latency of each."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
    )
    assert proc.stdin is not None and proc.stdout is not None
    # Let it start (and join its group) before timing anything.
    proc.stdin.write(b"w")
    proc.stdout.read(1)
    sent: list[float] = []
    done: list[float] = []

    def reader() -> None:
        assert proc.stdout is not None
        while len(done) < len(sent) or not finished.is_set():
            if not proc.stdout.read(1):
                return
            done.append(time.perf_counter())

    finished = threading.Event()
    rng = random.Random(seed)
    t = threading.Thread(target=reader, daemon=True)
    start = time.perf_counter()
    at = start
    t.start()
    while at - start < seconds:
        at += rng.expovariate(rate)
        delay = at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent.append(at)  # the intended time: open loop, lateness counts
        proc.stdin.write(b"j")
    finished.set()
    deadline = time.perf_counter() + 10
    while len(done) < len(sent) and time.perf_counter() < deadline:
        time.sleep(0.01)
    proc.stdin.close()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    t.join(1)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    try:
        gcs = json.loads(err) if err.startswith("{") else None
    except ValueError:
        gcs = None
    lat = [(d - s) * 1000 for s, d in zip(sent, done, strict=False)]
    elapsed = (done[-1] if done else time.perf_counter()) - start
    return Trial(label, len(done), elapsed, _pct(lat, 0.5), _pct(lat, 0.99), max(lat), gcs)


def cfs(cpus: float, periods_ms: list[int], load: float, seconds: float, trials: int) -> dict:
    controller = detect()
    name = group_name(lab_dir()) + "-variance"
    capacity = cpus / 0.001  # jobs of 1 ms CPU per second the budget allows
    rate = load * capacity
    results: dict[str, list[Trial]] = {str(p): [] for p in periods_ms}
    groups = {p: LabGroups(controller, f"{name}-{p}ms", period_us=p * 1000) for p in periods_ms}
    try:
        for g in groups.values():
            g.create({"worker": cpus})
        for i in range(trials):
            for p, g in groups.items():
                argv = g.enter_argv("worker", [sys.executable, "-c", WORKER, "1", "plain"])
                results[str(p)].append(run_trial(argv, rate, seconds, f"{p} ms", seed=i))
    finally:
        for g in groups.values():
            g.remove()
    return _summary(results, {"cpus": cpus, "load": load, "rate": rate, "seconds": seconds})


def set_weight(groups: LabGroups, weight: int) -> None:
    """The CPU weight of a lab's top group against everything else on the machine (v1
    `cpu.shares`, default 1024; v2 `cpu.weight`, default 100: the same ratio is kept)."""
    top = groups.top()
    if groups.controller.version == 2:
        (top / "cpu.weight").write_text(str(max(1, min(10_000, round(weight * 100 / 1024)))))
    else:
        (top / "cpu.shares").write_text(str(weight))


def weights(cpus: float, shares: list[int], load: float, seconds: float, trials: int) -> dict:
    """The worker's budget, its group's weight against the machine's other processes
    varied: a quota is a ceiling, the weight decides what the group gets under contention."""
    controller = detect()
    name = group_name(lab_dir()) + "-variance"
    rate = load * cpus / 0.001
    results: dict[str, list[Trial]] = {str(w): [] for w in shares}
    groups = {w: LabGroups(controller, f"{name}-w{w}") for w in shares}
    try:
        for w, g in groups.items():
            g.create({"worker": cpus})
            set_weight(g, w)
        for i in range(trials):
            for w, g in groups.items():
                argv = g.enter_argv("worker", [sys.executable, "-c", WORKER, "1", "plain"])
                results[str(w)].append(run_trial(argv, rate, seconds, f"weight {w}", seed=i))
    finally:
        for g in groups.values():
            g.remove()
    return _summary(results, {"cpus": cpus, "load": load, "rate": rate, "seconds": seconds})


def gc_modes(rate: float, seconds: float, trials: int) -> dict:
    results: dict[str, list[Trial]] = {"gc": [], "freeze": []}
    for i in range(trials):
        for mode in results:
            argv = [sys.executable, "-c", WORKER, "1", mode]
            results[mode].append(run_trial(argv, rate, seconds, mode, seed=i))
    return _summary(results, {"rate": rate, "seconds": seconds})


def _summary(results: dict[str, list[Trial]], settings: dict) -> dict:
    out = {"settings": settings, "loadavg_1m": os.getloadavg()[0], "by": {}}
    for key, ts in results.items():
        out["by"][key] = {
            "trials": [
                {
                    "rate": round(t.rate, 1),
                    "p50_ms": round(t.p50_ms, 2),
                    "p99_ms": round(t.p99_ms, 2),
                    "max_ms": round(t.max_ms, 1),
                    **({"gc": t.gc} if t.gc else {}),
                }
                for t in ts
            ],
            "p99_spread": _r(spread([t.p99_ms for t in ts])),
            "p99_median_ms": round(statistics.median(t.p99_ms for t in ts), 2),
            "rate_spread": _r(spread([t.rate for t in ts])),
        }
    out["loadavg_1m_at_end"] = os.getloadavg()[0]
    return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.variance")
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("cfs")
    c.add_argument("--cpus", type=float, default=0.1)
    c.add_argument("--periods-ms", default="10,100")
    c.add_argument("--load", type=float, default=0.6)
    c.add_argument("--seconds", type=float, default=8.0)
    c.add_argument("--trials", type=int, default=4)
    w = sub.add_parser("weight")
    w.add_argument("--cpus", type=float, default=0.1)
    w.add_argument("--shares", default="1024,16384")
    w.add_argument("--load", type=float, default=0.6)
    w.add_argument("--seconds", type=float, default=8.0)
    w.add_argument("--trials", type=int, default=4)
    g = sub.add_parser("gc")
    g.add_argument("--rate", type=float, default=150.0)
    g.add_argument("--seconds", type=float, default=8.0)
    g.add_argument("--trials", type=int, default=4)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.what == "cfs":
        periods = [int(x) for x in args.periods_ms.split(",")]
        doc = cfs(args.cpus, periods, args.load, args.seconds, args.trials)
    elif args.what == "weight":
        shares = [int(x) for x in args.shares.split(",")]
        doc = weights(args.cpus, shares, args.load, args.seconds, args.trials)
    else:
        doc = gc_modes(args.rate, args.seconds, args.trials)
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
