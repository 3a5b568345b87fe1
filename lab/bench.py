"""`lab bench`: every stage in turn, the same load against each, one table and one JSON
(`lab/results/bench.json`, schema in docs/lab.md), measured against the issue's targets."""

from __future__ import annotations

import datetime as dt
import io
import json
import platform
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infra.config import STAGES
from lab import observe, redis_server, stack
from lab.load import LoadConfig, Mix, RequestMaker, run_with_progress
from lab.state import REPO, Registry, lab_dir
from lab.stats import EDGE_HITS, summarize

RESULTS = REPO / "lab" / "results"
# The default bench: every stage but scale-5x (docs/lab.md: it comes up with `lab up`
# but is not in the default bench).
BENCH_STAGES = tuple(stage for stage in STAGES if stage != "scale-5x")
SCHEMA_VERSION = 1
LATE_SHARE = 0.25  # the last quarter of the measured window, reported apart


@dataclass(frozen=True)
class BenchSettings:
    movies: int = 100_000
    duration: float = 20.0
    warmup: float = 5.0
    concurrency: int = 32
    client: str = "raw"
    env: str = "prod"
    pin: bool = True
    # Stages with a cache get a longer warm-up, and Redis keeps its contents from one
    # cached stage to the next (a stage change is a `pulumi up` that keeps ElastiCache).
    cache_warmup: float = 40.0
    carry_cache: bool = True
    # MOVIES_* settings given to every API process (experiments such as a longer max-age).
    service_env: tuple[tuple[str, str], ...] = ()


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    import os

    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        # Other work on the machine competes with the lab; the 1-minute load says how much.
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
    }


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def stage_row(stage: str, reg: Registry, result, delta: observe.Snapshot) -> dict[str, Any]:
    """One table row from a run's samples and what the servers counted meanwhile."""
    summary = summarize(result.samples, result.measured_seconds)
    # Per request that the client sent to the entry point (poster bytes fetched from the
    # edge are not API requests and are left out of the denominator).
    api_requests = sum(1 for s in result.samples if s.kind != "media")
    svc = delta.service
    hits = observe.total(svc, "movies_cache_hits_total")
    misses = observe.total(svc, "movies_cache_misses_total")
    db_reads = delta.primary_reads + delta.replica_reads
    return {
        "stage": stage,
        "topology": reg.endpoints["topology"],
        "requests": summary.requests,
        "api_requests": api_requests,
        "seconds": round(summary.seconds, 2),
        "rps": round(summary.rps, 1),
        "p50_ms": _round(summary.p50_ms, 2),
        "p99_ms": _round(summary.p99_ms, 2),
        "errors": summary.errors,
        "error_rate": round(summary.error_rate, 5),
        "client_errors": summary.client_errors,
        "by_kind": summary.by_kind,
        "db_queries_per_request": {
            "primary": _round(ratio(delta.primary_reads + delta.primary_writes, api_requests), 4),
            "replica": _round(ratio(delta.replica_reads, api_requests), 4),
        },
        "db_reads_per_request": _round(ratio(db_reads, api_requests), 4),
        "replica_read_share": _round(ratio(delta.replica_reads, db_reads), 4),
        "cache_hit_ratio": _round(ratio(hits, hits + misses), 4),
        "edge_hit_ratio": _round(summary.edge_hit_ratio, 4),
        "pg_stat_statements": {
            "primary_reads": delta.primary_reads,
            "primary_writes": delta.primary_writes,
            "replica_reads": delta.replica_reads,
            "pool_resets": delta.pool_resets,
        },
        "service_db_queries": {
            "primary": observe.total(svc, "movies_db_queries_total", role="primary"),
            "replica": observe.total(svc, "movies_db_queries_total", role="replica"),
        },
        "primary_top_statements": delta.top_primary_statements(),
    }


def window_figures(samples, delta: observe.Snapshot) -> dict[str, float | None]:
    """The cache figures over a late part of the window: caches start cold at every stage,
    so these show where the ratios are heading when the run ends."""
    api_requests = sum(1 for s in samples if s.kind != "media")
    hits = observe.total(delta.service, "movies_cache_hits_total")
    misses = observe.total(delta.service, "movies_cache_misses_total")
    db_reads = delta.primary_reads + delta.replica_reads
    anon = [s for s in samples if s.anonymous and s.edge is not None]
    return {
        "db_reads_per_request": _round(ratio(db_reads, api_requests), 4),
        "cache_hit_ratio": _round(ratio(hits, hits + misses), 4),
        "edge_hit_ratio": _round(ratio(sum(1 for s in anon if s.edge in EDGE_HITS), len(anon)), 4),
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def measure_stage(
    stage: str,
    bs: BenchSettings,
    say=print,
    quiet: bool = False,
    carry: Path | None = None,
) -> dict:
    """Up, load, figures, down. With `carry`, Redis starts from that RDB if it exists and
    leaves its contents there at the end."""
    preload = carry if carry is not None and carry.is_file() else None
    reg = stack.up(
        stage,
        bs.movies,
        bs.env,
        bs.pin,
        say=say,
        service_overrides=dict(bs.service_env),
        redis_preload=preload,
    )
    cached = bool(reg.endpoints.get("redis_port"))
    warmup = bs.cache_warmup if cached else bs.warmup
    try:
        readers, writers = stack.load_keys(bs.movies)
        mix = Mix.from_workload()
        maker = RequestMaker(mix, bs.movies, readers, writers)
        config = LoadConfig(
            base_url=reg.endpoints["entry"],
            duration=bs.duration,
            warmup=warmup,
            concurrency=bs.concurrency,
            client=bs.client,
            follow_media=True,
        )
        marks: dict[str, observe.Snapshot] = {}
        cpu: dict[str, observe.CpuMark] = {}
        pgids = {p.pgid for p in reg.processes}

        def mark_start() -> None:
            cpu["before"] = observe.CpuMark.take(pgids)
            marks["before"] = observe.snapshot(reg)

        def mark_late() -> None:
            marks["late"] = observe.snapshot(reg)

        late_at = warmup + bs.duration * (1 - LATE_SHARE)
        result = run_with_progress(
            config,
            maker,
            stage,
            events=[(warmup, mark_start), (late_at, mark_late)],
            quiet=quiet,
        )
        cpu_after = observe.CpuMark.take(pgids)
        after = observe.snapshot(reg)
        row = stage_row(stage, reg, result, after.minus(marks["before"]))
        late_from = bs.duration * (1 - LATE_SHARE)
        row["last_quarter"] = window_figures(
            [s for s in result.samples if s.start >= late_from], after.minus(marks["late"])
        )
        row["warmup_seconds"] = warmup
        # Seconds each counter snapshot took; one of several seconds means its deltas
        # cover a shorter window than the requests they are divided by.
        row["snapshot_seconds"] = {
            "start": marks["before"].seconds,
            "late": marks["late"].seconds,
            "end": after.seconds,
        }
        row["redis_preloaded_keys"] = int(reg.endpoints.get("redis_preloaded_keys", 0))
        if cached and carry is not None:
            row["redis_keys_at_end"] = redis_server.snapshot(
                reg.endpoints["redis_port"], Path(reg.path.parent) / "run" / "redis", carry
            )
        row["cpu_share"] = cpu_after.shares(cpu["before"])
        # Requests per CPU-second the lab (servers + load generator) burnt: unlike rps, it
        # does not move with what else the machine runs meanwhile.
        row["requests_per_lab_cpu_second"] = _round(
            ratio(row["requests"], row["cpu_share"]["lab_cpu_seconds"] or 0), 1
        )
        return row
    finally:
        stack.down(say=lambda _m: None)


# --- targets ----------------------------------------------------------------------------


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {r["stage"]: r for r in rows}
    out: list[dict[str, Any]] = []

    def add(
        name: str, stage: str, figure: float | None, op: str, threshold: float, unit: str
    ) -> None:
        met = None
        if figure is not None:
            met = figure <= threshold if op == "<=" else figure >= threshold
        out.append(
            {
                "target": name,
                "stage": stage,
                "figure": figure,
                "op": op,
                "threshold": threshold,
                "unit": unit,
                "met": met,
            }
        )

    if "cached" in by:
        add(
            "DB reads per request at cached",
            "cached",
            by["cached"]["db_reads_per_request"],
            "<=",
            0.1,
            "reads/request",
        )
    if "cached" in by and "split-db" in by:
        add(
            "cached / split-db throughput",
            "cached",
            _round(ratio(by["cached"]["rps"], by["split-db"]["rps"]), 2),
            ">=",
            3.0,
            "x",
        )
    if "cached" in by and "split-db" in by:
        add(
            "cached / split-db, requests per lab CPU-second (contention-independent)",
            "cached",
            _round(
                ratio(
                    by["cached"].get("requests_per_lab_cpu_second") or 0,
                    by["split-db"].get("requests_per_lab_cpu_second") or 0,
                ),
                2,
            ),
            ">=",
            3.0,
            "x",
        )
    if "read-replicas" in by:
        add(
            "DB reads served by replicas",
            "read-replicas",
            by["read-replicas"]["replica_read_share"],
            ">=",
            0.95,
            "share",
        )
    if "edge" in by:
        add(
            "anonymous requests answered by the edge",
            "edge",
            by["edge"]["edge_hit_ratio"],
            ">=",
            0.80,
            "share",
        )
    return out


# --- output -----------------------------------------------------------------------------


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def _cpu(share: dict[str, float | None] | None) -> str:
    if not share or share.get("lab") is None:
        return "-"
    return f"{share['lab']:.0%}/{share['other']:.0%}"


def table_text(report: dict[str, Any]) -> str:
    """The table as fixed-width text (what rich prints, kept in lab/results/)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"lab bench {report['date']} on {report['machine']['cpu_model']} "
        f"({report['machine']['cores']} cores, "
        f"{report['machine']['memory_gib']} GiB)"
    )
    for col in (
        "stage",
        "rps",
        "p50 ms",
        "p99 ms",
        "errors",
        "DB q/req primary",
        "DB q/req replicas",
        "cache hit",
        "edge hit",
        "CPU lab/other",
        "req/CPU-s",
    ):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for r in report["stages"]:
        table.add_row(
            r["stage"],
            _fmt(r["rps"], ",.0f"),
            _fmt(r["p50_ms"], ".1f"),
            _fmt(r["p99_ms"], ".1f"),
            f"{r['error_rate']:.2%}",
            _fmt(r["db_queries_per_request"]["primary"], ".3f"),
            _fmt(r["db_queries_per_request"]["replica"], ".3f"),
            _fmt(r["cache_hit_ratio"], ".1%"),
            _fmt(r["edge_hit_ratio"], ".1%"),
            _cpu(r.get("cpu_share")),
            _fmt(r.get("requests_per_lab_cpu_second"), ",.0f"),
        )
    targets_table = Table(title="targets (issue 6)")
    for col in ("target", "figure", "threshold", "result"):
        targets_table.add_column(col)
    for t in report["targets"]:
        verdict = {True: "met", False: "NOT met", None: "no figure"}[t["met"]]
        targets_table.add_row(
            t["target"], _fmt(t["figure"]), f"{t['op']} {t['threshold']}", verdict
        )
    console = Console(
        width=140, record=True, force_terminal=False, color_system=None, file=io.StringIO()
    )
    console.print(table)
    console.print(targets_table)
    settings = report["settings"]
    console.print(
        f"load: {settings['duration']:.0f}s measured per stage after a warm-up of "
        f"{settings['warmup']:.0f}s ({settings['cache_warmup']:.0f}s at stages with Redis"
        + (
            ", whose contents carry over from the previous cached stage"
            if settings["carry_cache"]
            else ", which starts empty at every stage"
        )
        + f"), {settings['concurrency']} closed-loop connections ({settings['client']} "
        f"client), {settings['movies']:,} movies, Zipf s={settings['mix']['zipf_s']}; "
        "the load generator shares the 2 cores with the servers it measures; CPU lab/other "
        "is the share of the machine's CPU time used by the lab and by everything else; "
        "req/CPU-s is requests per CPU-second the lab itself used."
    )
    return console.export_text()


def bench(
    stages: tuple[str, ...],
    bs: BenchSettings,
    out_dir: Path = RESULTS,
    say=print,
    quiet: bool = False,
) -> dict[str, Any]:
    started = time.perf_counter()
    stack.ensure_template(bs.movies, say)
    carry = None
    if bs.carry_cache:
        carry = lab_dir() / "cache" / "redis-carry.rdb"
        carry.unlink(missing_ok=True)  # every bench starts from an empty cache
    rows = []
    for stage in stages:
        rows.append(measure_stage(stage, bs, say, quiet, carry))
        r = rows[-1]
        say(
            f"  {stage}: {r['rps']:,.0f} rps, p50 {_fmt(r['p50_ms'], '.1f')} ms, "
            f"p99 {_fmt(r['p99_ms'], '.1f')} ms, errors {r['error_rate']:.2%}"
        )
    report = {
        "schema": SCHEMA_VERSION,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "settings": {
            **asdict(bs),
            "service_env": dict(bs.service_env),
            "mix": asdict(Mix.from_workload()),
        },
        "stages": rows,
        "targets": targets(rows),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    text = table_text(report)
    print(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "bench.txt").write_text(text)
    say(f"bench took {report['wall_seconds']:.0f}s; wrote {out_dir / 'bench.json'}")
    return report
