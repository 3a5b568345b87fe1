"""What the servers say about a run: pg_stat_statements on every PostgreSQL instance, the
service's `/metrics` on every API process, Redis INFO. Snapshots before and after a run;
their difference is what the run cost."""

from __future__ import annotations

import contextlib
import os
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from lab import postgres
from lab.procs import LOOPBACK, LabError
from lab.state import Registry


@dataclass(frozen=True)
class Snapshot:
    primary_reads: int  # SELECTs on the primary (pg_stat_statements)
    primary_writes: int  # every other statement on the primary
    replica_reads: int  # statements on all replicas together
    pool_resets: int = 0  # asyncpg's reset on pool release, every instance
    service: dict[str, float] = field(default_factory=dict)  # summed over API processes
    redis_hits: int = 0
    redis_misses: int = 0
    primary_by_statement: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # how long taking the snapshot took (a slow one blurs its deltas)

    def minus(self, before: Snapshot) -> Snapshot:
        keys = set(self.service) | set(before.service)
        return Snapshot(
            primary_reads=self.primary_reads - before.primary_reads,
            primary_writes=self.primary_writes - before.primary_writes,
            replica_reads=self.replica_reads - before.replica_reads,
            pool_resets=self.pool_resets - before.pool_resets,
            service={k: self.service.get(k, 0.0) - before.service.get(k, 0.0) for k in keys},
            redis_hits=self.redis_hits - before.redis_hits,
            redis_misses=self.redis_misses - before.redis_misses,
            primary_by_statement={
                q: n - before.primary_by_statement.get(q, 0)
                for q, n in self.primary_by_statement.items()
                if n - before.primary_by_statement.get(q, 0) > 0
            },
        )

    def top_primary_statements(self, n: int = 5) -> list[dict[str, object]]:
        ranked = sorted(self.primary_by_statement.items(), key=lambda kv: -kv[1])[:n]
        return [{"calls": calls, "statement": query} for query, calls in ranked]


def parse_prometheus(text: str) -> dict[str, float]:
    """`name{labels}` -> value for every sample line (labels kept verbatim, sorted as given)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


WANTED = (
    "movies_requests_total",
    "movies_cache_hits_total",
    "movies_cache_misses_total",
    "movies_cache_stale_served_total",
    "movies_cache_lock_waits_total",
    "movies_cache_errors_total",
    "movies_cache_bypassed_total",
    "movies_db_queries_total",
    "movies_db_replica_fallbacks_total",
)


def service_counters(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=5) as resp:
        samples = parse_prometheus(resp.read().decode())
    return {k: v for k, v in samples.items() if k.startswith(WANTED)}


def total(counters: dict[str, float], prefix: str, **labels: str) -> float:
    """Sum of the samples of one metric whose labels include `labels`."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        v
        for k, v in counters.items()
        if (k == prefix or k.startswith(prefix + "{")) and all(w in k for w in want)
    )


def snapshot(reg: Registry) -> Snapshot:
    started = time.perf_counter()
    ep = reg.endpoints
    try:
        p_reads, p_writes, resets = postgres.statement_calls(ep["primary_port"])
        by_statement = postgres.statement_counts(ep["primary_port"])
    except LabError:
        p_reads = p_writes = resets = 0  # the primary is down (a fault)
        by_statement = {}
    replicas = 0
    for port in ep.get("replica_ports", []):
        # A stopped replica (a fault) answers nothing; its count is lost with it.
        with contextlib.suppress(LabError):
            r_reads, _, r_resets = postgres.statement_calls(port)
            replicas += r_reads
            resets += r_resets
    service: dict[str, float] = {}
    for port in [*ep.get("api_ports", []), *ep.get("search_ports", [])]:
        try:
            for k, v in service_counters(port).items():
                service[k] = service.get(k, 0.0) + v
        except OSError:
            pass
    hits = misses = 0
    if ep.get("redis_port"):
        hits, misses = redis_keyspace(ep["redis_port"])
    return Snapshot(
        p_reads,
        p_writes,
        replicas,
        resets,
        service,
        hits,
        misses,
        by_statement,
        round(time.perf_counter() - started, 3),
    )


def redis_keyspace(port: int) -> tuple[int, int]:
    import redis

    try:
        info = redis.Redis(host=LOOPBACK, port=port, socket_timeout=2).info("stats")
    except redis.RedisError:
        return 0, 0
    return int(info["keyspace_hits"]), int(info["keyspace_misses"])


# --- CPU: how much of the machine the lab had --------------------------------------------


def _proc_jiffies(stat_text: str) -> tuple[int, int]:
    """(process group, utime + stime) from one /proc/PID/stat."""
    fields = stat_text.rsplit(")", 1)[1].split()
    return int(fields[2]), int(fields[11]) + int(fields[12])


def lab_jiffies(pgids: set[int]) -> int:
    """CPU time (clock ticks) of every live process in `pgids`, plus this process."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pgid, used = _proc_jiffies((entry / "stat").read_text())
        except (OSError, IndexError, ValueError):
            continue
        if pgid in pgids or int(entry.name) == os.getpid():
            total += used
    return total


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks over all CPUs since boot, from /proc/stat's first line:
    user nice system idle iowait irq softirq steal (guest time is already in user)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


@dataclass(frozen=True)
class CpuMark:
    lab: int
    busy: int
    total: int

    @classmethod
    def take(cls, pgids: set[int]) -> CpuMark:
        busy, total = machine_jiffies()
        return cls(lab_jiffies(pgids), busy, total)

    def shares(self, before: CpuMark) -> dict[str, float | None]:
        """Shares of the machine's CPU time between two marks: the lab's (servers + load
        generator) and everything else's. A process that exited meanwhile takes its time
        with it, so `lab` is a lower bound."""
        total = self.total - before.total
        if total <= 0:
            return {"lab": None, "other": None, "lab_cpu_seconds": None}
        lab = max(0, self.lab - before.lab)
        busy = self.busy - before.busy
        return {
            "lab": round(lab / total, 3),
            "other": round(max(0, busy - lab) / total, 3),
            "lab_cpu_seconds": round(lab / os.sysconf("SC_CLK_TCK"), 2),
        }
