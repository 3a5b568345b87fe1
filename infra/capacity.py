"""The capacity model: the load each tier of a stage sees, its capacity and its headroom.

`python -m infra capacity [--env prod] [--stage S ...]` prints one table per stage: each
tier's capacity, today's peak load and headroom, and the same at 5x.

For the report (and tests), `capacity_tables(env="prod", stages=None) -> list[StageCapacity]`
returns the same figures as data: each `StageCapacity` has `checks` (one `TierCheck` per
tier and measure, with `capacity`, `load_today`, `load_target`, `headroom(scale)` and a
`basis` string saying where the capacity comes from), `tier_headroom(scale)` (the tightest
check per tier) and `failing(scale)` (checks under the required headroom). `scale` is
"today" or "target" (5x). `model_sources()` lists where every per-unit figure came from.

Inputs: the workload (`stacks/workload.yaml`), the per-unit capacities
(`stacks/capacity.yaml`), the measured backend rates (`infra/capacity_data/measured.json`),
the lab bench (`lab/results/bench.json`, when present) and each stage's sizes through
`infra.config.load_stack_config`. Load is peak requests/s; headroom is 1 - load/capacity.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from infra.config import ENVIRONMENTS, STAGES, ConfigError, StageSpec, load_stack_config

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD_FILE = ROOT / "stacks" / "workload.yaml"
CAPACITY_FILE = ROOT / "stacks" / "capacity.yaml"
SECONDS_PER_DAY = 86_400
GB = 1e9
GIB = 2**30

Scale = Literal["today", "target"]


class ModelError(ValueError):
    """A model input is missing or wrong; the message is one line."""


# --- inputs -----------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"{path}: cannot read: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a mapping at the top level")
    return data


def _flag(doc: Mapping[str, Any], dotted: str) -> bool:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ModelError(f"{dotted}: required key is missing")
        value = value[part]
    if not isinstance(value, bool):
        raise ModelError(f"{dotted}: invalid value {value!r}; allowed: true, false")
    return value


def _num(
    doc: Mapping[str, Any],
    dotted: str,
    *,
    low: float = 0.0,
    high: float | None = None,
    path: tuple[str, ...] | None = None,
) -> float:
    """The number at `a.b.c` (or at `path`) in doc, checked to lie in [low, high]."""
    value: Any = doc
    for part in path or dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ModelError(f"{dotted}: required key is missing")
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelError(f"{dotted}: expected a number, got {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise ModelError(f"{dotted}: invalid value {value!r}; allowed: {allowed}")
    return float(value)


@dataclass(frozen=True)
class Workload:
    """stacks/workload.yaml, the figures the model uses (shares are 0..1)."""

    movies: float
    hits_per_day: float
    multiplier: float
    peak_factor: float
    read_share: float
    search_share: float
    poster_share: float
    hot_set_share: float
    cacheable_share: float
    app_cache_hit_ratio: float
    edge_cache_hit_ratio: float
    search_ttl_s: float
    search_ttl_jitter: float
    search_stale_s: float
    search_invalidate_on_write: bool
    search_zipf_s: float
    search_keys_per_movie: float
    search_match_share: float
    replica_read_share: float
    redis_ops_per_read: float
    redis_ops_per_miss: float
    redis_ops_per_write: float
    redis_ops_per_search: float
    db_statements_per_write: float
    movie_row_bytes: float
    redis_entry_bytes: float
    search_page_bytes: float

    @classmethod
    def load(cls, path: Path = WORKLOAD_FILE) -> Workload:
        d = _read_yaml(path)

        def share(key: str) -> float:
            return _num(d, key, high=1.0)

        return cls(
            movies=_num(d, "today.movies", low=1),
            hits_per_day=_num(d, "today.hits_per_day", low=1),
            multiplier=_num(d, "target_multiplier", low=1),
            peak_factor=_num(d, "traffic.peak_factor", low=1),
            read_share=share("traffic.read_share"),
            search_share=share("traffic.search_share"),
            poster_share=share("traffic.poster_share"),
            hot_set_share=share("traffic.hot_set_share"),
            cacheable_share=share("caching.cacheable_share"),
            app_cache_hit_ratio=share("caching.app_cache_hit_ratio"),
            edge_cache_hit_ratio=share("caching.edge_cache_hit_ratio"),
            search_ttl_s=_num(d, "requests.search_cache.ttl_seconds", low=1),
            search_ttl_jitter=_num(d, "requests.search_cache.ttl_jitter", high=0.5),
            search_stale_s=_num(d, "requests.search_cache.stale_seconds"),
            search_invalidate_on_write=_flag(d, "requests.search_cache.invalidate_on_write"),
            search_zipf_s=_num(d, "requests.search_cache.zipf_s", low=0.01, high=3.0),
            search_keys_per_movie=_num(
                d, "requests.search_cache.distinct_keys_per_movie", low=0.001
            ),
            search_match_share=share("requests.search_match_share"),
            replica_read_share=share("requests.replica_read_share"),
            redis_ops_per_read=_num(d, "requests.redis_ops_per_read"),
            redis_ops_per_miss=_num(d, "requests.redis_ops_per_miss"),
            redis_ops_per_write=_num(d, "requests.redis_ops_per_write"),
            redis_ops_per_search=_num(d, "requests.redis_ops_per_search"),
            db_statements_per_write=_num(d, "requests.db_statements_per_write"),
            movie_row_bytes=_num(d, "objects.movie_row_bytes", low=1),
            redis_entry_bytes=_num(d, "objects.redis_entry_bytes", low=1),
            search_page_bytes=_num(d, "objects.search_page_bytes", low=1),
        )

    def factor(self, scale: Scale) -> float:
        return self.multiplier if scale == "target" else 1.0

    def peak_searches(self, scale: Scale) -> float:
        """Searches per second at peak, before any edge."""
        f = self.factor(scale)
        return self.hits_per_day * f / SECONDS_PER_DAY * self.peak_factor * self.search_share

    def search_hit_ratio(self, scale: Scale) -> float:
        """Share of searches Redis answers fresh (no DB query), from the TTL and the query
        popularity assumption; none when every write retires every page."""
        if self.search_invalidate_on_write:
            return 0.0
        return ttl_cache_hit_ratio(
            self.peak_searches(scale),
            self.search_ttl_s * (1 - self.search_ttl_jitter),  # the shortest jittered TTL
            round(self.movies * self.factor(scale) * self.search_keys_per_movie),
            self.search_zipf_s,
        )

    @property
    def search_page_lifetime_s(self) -> float:
        """How long Redis holds a search page: the longest jittered TTL plus the stale window."""
        return self.search_ttl_s * (1 + self.search_ttl_jitter) + self.search_stale_s


def ttl_cache_hit_ratio(
    rate: float, ttl: float, keys: int, zipf_s: float, *, head: int = 2_000, steps: int = 4_000
) -> float:
    """Hit ratio of a TTL cache (entry set on a miss, not extended by hits) under Poisson
    requests at `rate`/s spread Zipf(`zipf_s`) over `keys` keys.

    A key requested at rate r sees one miss, then r*T hits on average before its entry
    expires: a hit share of r*T / (1 + r*T). The sum over keys is exact for the `head` most
    popular ones and Simpson's rule over log-rank for the rest (error < 1e-6 against the
    exact sum in tests/capacity).
    """
    if keys < 1 or rate <= 0 or ttl <= 0:
        return 0.0
    head = min(head, keys)
    lo, hi = head + 0.5, keys + 0.5  # the tail's ranks, as an integral
    norm = sum(k**-zipf_s for k in range(1, head + 1))
    if keys > head:
        norm += (
            math.log(hi / lo)
            if zipf_s == 1.0
            else (hi ** (1 - zipf_s) - lo ** (1 - zipf_s)) / (1 - zipf_s)
        )
    per_ttl = rate * ttl / norm

    def weighted_hit(k: float) -> float:  # k^-s * hit share of rank k
        x = per_ttl * k**-zipf_s
        return k**-zipf_s * x / (1 + x)

    hits = sum(weighted_hit(k) for k in range(1, head + 1))
    if keys > head:
        a, b = math.log(lo), math.log(hi)
        h = (b - a) / steps  # steps is even
        ends = (0, steps)
        hits += (
            h
            / 3
            * sum(
                (1 if i in ends else 4 if i % 2 else 2)
                * math.exp(a + i * h)
                * weighted_hit(math.exp(a + i * h))
                for i in range(steps + 1)
            )
        )
    return hits / norm


@dataclass(frozen=True)
class Machine:
    vcpus: float
    memory_gib: float
    baseline: float  # sustained share of each vCPU (1.0 unless burstable)

    @property
    def sustained_vcpus(self) -> float:
        return self.vcpus * self.baseline


@dataclass(frozen=True)
class Rates:
    """Per-unit capacities, each with the sentence that says where it came from."""

    app_rps_per_vcpu: float
    search_app_cost: float
    db_point_read_s: float  # vCPU-seconds per primary-key read
    db_write_s: float  # vCPU-seconds per single-row write
    db_search_fixed_s: float  # vCPU-seconds per search, fixed part
    db_search_per_match_s: float  # vCPU-seconds per search, per matched row
    redis_ops_per_node: float
    cloudfront_rps: float
    db_cache_memory_share: float
    gp3_iops: float
    gp3_iops_large: float
    iops_per_write: float
    replay_cost_factor: float
    redis_usable_share: float
    redis_nodes_serving: float
    required_headroom: float
    machines: Mapping[str, Machine]
    sources: Mapping[str, str] = field(default_factory=dict)

    def machine(self, kind: str) -> Machine:
        if kind not in self.machines:
            raise ModelError(
                f"{kind}: no capacity entry in {CAPACITY_FILE.name}; allowed: "
                + ", ".join(sorted(self.machines))
            )
        return self.machines[kind]

    def db_search_s(self, matches: float) -> float:
        return self.db_search_fixed_s + self.db_search_per_match_s * matches


@dataclass(frozen=True)
class Observed:
    """Ratios the lab measured, where it did (None where not)."""

    cache_hit_ratio: float | None = None  # key reads (movie); all cached reads if no split
    search_cache_hit_ratio: float | None = None
    edge_hit_ratio: float | None = None
    replica_read_share: float | None = None
    # stage -> DB reads per API request, for cross_checks() (not an input of the model)
    db_reads_per_request: Mapping[str, float] = field(default_factory=dict)


def _bench_rows(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON: {exc}") from exc
    rows = doc.get("stages", []) if isinstance(doc, dict) else []
    return {r["stage"]: r for r in rows if isinstance(r, dict) and "stage" in r}


def _positive(row: Mapping[str, Any] | None, key: str) -> float | None:
    value = (row or {}).get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _machine(doc: Mapping[str, Any], family: str, kind: str) -> Machine:
    # Type names contain dots, so each key's path is given as a tuple.
    def at(key: str, low: float, high: float | None = None) -> float:
        return _num(doc, f"{family}.{kind}.{key}", low=low, high=high, path=(family, kind, key))

    burstable = "burstable_baseline" in doc[family][kind]
    return Machine(
        vcpus=at("vcpus", 1),
        memory_gib=at("memory_gib", 0.1),
        baseline=at("burstable_baseline", 0.01, 1.0) if burstable else 1.0,
    )


def _machines(doc: Mapping[str, Any]) -> dict[str, Machine]:
    return {
        kind: _machine(doc, family, kind)
        for family in ("ec2", "rds", "elasticache")
        for kind in doc.get(family) or {}
    }


def load_rates(capacity_file: Path = CAPACITY_FILE, root: Path = ROOT) -> tuple[Rates, Observed]:
    """Per-unit rates from stacks/capacity.yaml, the measured backends and the bench."""
    doc = _read_yaml(capacity_file)
    lab_vcpus = _num(doc, "lab.vcpus", low=1)
    per_aws_vcpu = _num(doc, "lab.aws_vcpu_per_lab_vcpu", low=0.1)
    backends_path = root / str(doc.get("measured", {}).get("backends", ""))
    if not backends_path.is_file():
        raise ModelError(
            f"measured.backends: {backends_path} is missing; run "
            "`python -m infra.capacity_data.measure` to measure it"
        )
    measured = json.loads(backends_path.read_text(encoding="utf-8"))
    # Operations per CPU-second of the server's own processes = per fully used vCPU.
    per_vcpu = {
        name: float(figures["per_cpu_second"]) * per_aws_vcpu
        for name, figures in measured["postgres"]["transactions"].items()
    }
    matches = measured["postgres"]["search_matches"]
    # Two searches of different selectivity give a fixed and a per-matched-row cost.
    narrow_s, wide_s = 1 / per_vcpu["search"], 1 / per_vcpu["search_wide"]
    per_match = (wide_s - narrow_s) / (matches["search_wide"] - matches["search"])
    fixed = max(narrow_s - per_match * matches["search"], 0.0)

    bench = _bench_rows(root / str(doc.get("measured", {}).get("bench", "")))
    app_stage = str(doc["app"]["bench_stage"])
    row = bench.get(app_stage)
    per_cpu_s = _positive(row, "requests_per_lab_cpu_second")
    bench_rps = _positive(row, "rps")
    when = measured.get("measured_at", "?")
    if per_cpu_s is not None:
        # Requests per CPU-second the lab's servers and load generator burnt: unlike rps it
        # does not move with what else the shared machine runs meanwhile.
        app_rate = per_cpu_s * per_aws_vcpu
        app_source = (
            f"measured: lab bench {app_stage} stage, {per_cpu_s:,.0f} requests per CPU-second "
            "of the lab's servers + load generator = rps per vCPU"
        )
    elif bench_rps is not None:
        app_rate = bench_rps / lab_vcpus * per_aws_vcpu
        app_source = (
            f"measured: lab bench {app_stage} stage {bench_rps:,.0f} rps / {lab_vcpus:g} lab "
            f"vCPUs = {app_rate:,.0f} rps per vCPU (servers and load generator shared them)"
        )
    else:
        app_rate = _num(doc, "app.fallback_rps_per_vcpu", low=1)
        app_source = (
            f"assumption: {app_rate:,.0f} rps per vCPU (no {app_stage} row in the lab bench yet)"
        )
    pg = f"measured {when}: pgbench, per CPU-second of the PostgreSQL processes"
    # Redis runs commands on one thread: a node does at most one CPU-second per second.
    redis_get = float(measured["redis"]["ops"]["get"]["per_cpu_second"])
    rates = Rates(
        app_rps_per_vcpu=app_rate,
        search_app_cost=_num(doc, "app.search_cost_factor", low=1),
        db_point_read_s=1 / per_vcpu["point_read"],
        db_write_s=1 / per_vcpu["write"],
        db_search_fixed_s=fixed,
        db_search_per_match_s=per_match,
        redis_ops_per_node=redis_get,
        cloudfront_rps=_num(doc, "edge.cloudfront_rps_quota", low=1),
        db_cache_memory_share=_num(doc, "database.cache_memory_share", high=1),
        gp3_iops=_num(doc, "database.gp3_iops", low=1),
        gp3_iops_large=_num(doc, "database.gp3_iops_from_400_gib", low=1),
        iops_per_write=_num(doc, "database.iops_per_write"),
        replay_cost_factor=_num(doc, "database.replica_replay_cost_factor"),
        redis_usable_share=_num(doc, "cache.usable_memory_share", high=1),
        redis_nodes_serving=_num(doc, "cache.nodes_serving", low=1),
        required_headroom=_num(doc, "required_headroom", high=1),
        machines=_machines(doc),
        sources={
            "app": app_source,
            "db_point_read": f"{pg}: {per_vcpu['point_read']:,.0f} primary-key reads/s",
            "db_write": f"{pg}: {per_vcpu['write']:,.0f} single-row updates/s",
            "db_search": (
                f"{pg}: {per_vcpu['search']:,.0f} searches/s at {matches['search']} matches, "
                f"{per_vcpu['search_wide']:,.0f} at {matches['search_wide']}: "
                f"{fixed * 1e6:,.0f} us + {per_match * 1e6:.2f} us per matched row"
            ),
            "redis": f"measured {when}: redis-benchmark GET 2.4 kB, per CPU-second of "
            f"redis-server (one thread): {redis_get:,.0f} ops/s",
            "cloudfront": "CloudFront default quota, requests/s per distribution",
            "alb": "elastic: the ALB scales itself; no published request-rate limit",
        },
    )
    cached = bench.get("cached")
    by_kind = (cached or {}).get("cache_hit_ratio_by_kind")
    by_kind = by_kind if isinstance(by_kind, dict) else None
    observed = Observed(
        # Per-kind ratios (the service labels its cache counters movie / search) when the
        # bench reports them; else the overall ratio stands for key reads.
        cache_hit_ratio=_positive(by_kind, "movie") or _positive(cached, "cache_hit_ratio"),
        search_cache_hit_ratio=_positive(by_kind, "search"),
        edge_hit_ratio=_positive(bench.get("edge"), "edge_hit_ratio"),
        replica_read_share=_positive(bench.get("read-replicas"), "replica_read_share"),
        db_reads_per_request={
            stage: value
            for stage, row in bench.items()
            if (value := _positive(row, "db_reads_per_request")) is not None
        },
    )
    return rates, observed


# --- load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """Peak per-second load on each tier of one stage at one scale."""

    cdn_rps: float  # API requests plus poster image fetches at CloudFront
    origin_rps: float  # what reaches the ALB (or the box)
    web_rps: float  # to the web tier
    search_rps: float  # to the search tier (0 when searches stay on the web tier)
    web_search_share: float  # share of web_rps that are searches
    db_point_reads: float
    db_searches: float
    db_writes: float
    db_search_matches: float
    redis_ops: float
    redis_hot_bytes: float
    db_hot_bytes: float
    db_data_bytes: float


def flow(w: Workload, obs: Observed, stage: StageSpec, scale: Scale) -> Flow:
    f = w.factor(scale)
    movies = w.movies * f
    rps = w.hits_per_day * f / SECONDS_PER_DAY * w.peak_factor
    all_reads, writes = rps * w.read_share, rps * (1 - w.read_share)
    all_searches = rps * w.search_share
    edge_hit = obs.edge_hit_ratio if obs.edge_hit_ratio is not None else w.edge_cache_hit_ratio
    # CloudFront answers cacheable (anonymous GET) requests only, of every kind alike.
    absorbed = rps * w.cacheable_share * edge_hit if stage.edge is not None else 0.0
    reads = all_reads - absorbed
    searches = all_searches * reads / all_reads
    origin = reads + writes
    cdn = rps * (1 + w.poster_share) if stage.edge is not None else 0.0  # + poster images
    cached = stage.cache is not None
    hit = obs.cache_hit_ratio if obs.cache_hit_ratio is not None else w.app_cache_hit_ratio
    if cached:
        # Misses are counted on the traffic before the edge: what CloudFront answers are the
        # hottest objects, which Redis would have answered too. The lab agrees: DB reads
        # per request were 0.353 at cached and 0.348 at edge (lab/results/bench.json).
        key_misses = min((all_reads - all_searches) * (1 - hit), reads - searches)
        search_hit = w.search_hit_ratio(scale)
        if obs.search_cache_hit_ratio is not None:
            # The lab draws searches from a few dozen terms: its ratio is an upper bound.
            search_hit = min(search_hit, obs.search_cache_hit_ratio)
        search_misses = min(all_searches * (1 - search_hit), searches)
    else:
        key_misses, search_misses = reads - searches, searches
    generation = 1.0 if w.search_invalidate_on_write else 0.0  # GET per search, INCR per write
    redis_ops = (
        reads * w.redis_ops_per_read
        + (key_misses + search_misses) * w.redis_ops_per_miss
        + writes * (w.redis_ops_per_write + generation)
        + searches * (w.redis_ops_per_search + generation)
        if cached
        else 0.0
    )
    # Each fill keeps a page in Redis for its lifetime, whether or not it is asked for again.
    search_pages = search_misses * w.search_page_lifetime_s if cached else 0.0
    split = stage.search is not None
    return Flow(
        cdn_rps=cdn,
        origin_rps=origin,
        web_rps=origin - searches if split else origin,
        search_rps=searches if split else 0.0,
        web_search_share=0.0 if split else w.search_share,
        db_point_reads=key_misses,
        db_searches=search_misses,
        db_writes=writes * w.db_statements_per_write,
        db_search_matches=movies * w.search_match_share,
        redis_ops=redis_ops,
        redis_hot_bytes=movies * w.hot_set_share * w.redis_entry_bytes
        + search_pages * w.search_page_bytes,
        db_hot_bytes=movies * w.hot_set_share * w.movie_row_bytes,
        db_data_bytes=movies * w.movie_row_bytes,
    )


# --- capacity and headroom --------------------------------------------------------------


@dataclass(frozen=True)
class TierCheck:
    """One measure of one tier: its capacity and the load on it today and at target."""

    tier: str
    measure: str
    unit: str
    capacity: float | None  # None: elastic (no fixed ceiling)
    load_today: float
    load_target: float
    basis: str

    def load(self, scale: Scale) -> float:
        return self.load_target if scale == "target" else self.load_today

    def headroom(self, scale: Scale) -> float | None:
        if self.capacity is None:
            return None
        return 1 - self.load(scale) / self.capacity


@dataclass(frozen=True)
class StageCapacity:
    env: str
    stage: str
    checks: tuple[TierCheck, ...]
    required_headroom: float
    multiplier: float

    def failing(self, scale: Scale) -> list[TierCheck]:
        """Checks whose headroom is under the required margin (elastic tiers never fail)."""
        return [
            c
            for c in self.checks
            if (h := c.headroom(scale)) is not None and h < self.required_headroom
        ]

    def tier_headroom(self, scale: Scale) -> dict[str, float | None]:
        """The tightest headroom per tier (None when every measure of it is elastic)."""
        out: dict[str, float | None] = {}
        for c in self.checks:
            h = c.headroom(scale)
            prev = out.get(c.tier)
            out[c.tier] = h if prev is None else (prev if h is None else min(prev, h))
        return out


def _asg_checks(
    tier: str,
    spec: Any,
    rates: Rates,
    loads: tuple[float, float],
    search_share: tuple[float, float],
) -> list[TierCheck]:
    m = rates.machine(spec.instance_type)
    cost = 1 + (rates.search_app_cost - 1) * search_share[1]
    per_instance = m.sustained_vcpus * rates.app_rps_per_vcpu / cost
    burst = f" x {m.baseline:.0%} baseline" if m.baseline < 1 else ""
    return [
        TierCheck(
            tier,
            "cpu",
            "rps",
            spec.max_size * per_instance,
            *loads,
            f"max {spec.max_size} x {spec.instance_type} ({m.vcpus:g} vCPU{burst}) x "
            f"{rates.app_rps_per_vcpu:,.0f} rps/vCPU"
            + (f" / {cost:.2f} (search mix)" if cost > 1 else ""),
        ),
        TierCheck(
            tier,
            "scaling ceiling",
            "rps",
            float(spec.max_size * spec.scale_target_rps),
            *loads,
            f"max {spec.max_size} x target {spec.scale_target_rps} rps per instance",
        ),
    ]


def _db_cpu_seconds(rates: Rates, fl: Flow, *, reads: float, replay: bool = False) -> float:
    """vCPU-seconds per second the DB spends on a `reads` share of the reads, plus writes."""
    read_s = (
        fl.db_point_reads * rates.db_point_read_s
        + fl.db_searches * rates.db_search_s(fl.db_search_matches)
    ) * reads
    write_s = fl.db_writes * rates.db_write_s * (rates.replay_cost_factor if replay else 1)
    return read_s + write_s


def stage_capacity(
    env: str,
    stage_name: str,
    w: Workload | None = None,
    rates: Rates | None = None,
    obs: Observed | None = None,
) -> StageCapacity:
    if w is None:
        w = Workload.load()
    if rates is None or obs is None:
        rates, obs = load_rates()
    stage = load_stack_config(env, stage_name).stage
    today, target = flow(w, obs, stage, "today"), flow(w, obs, stage, "target")
    both = (today, target)

    def pair(attr: str) -> tuple[float, float]:
        return (getattr(today, attr), getattr(target, attr))

    checks: list[TierCheck] = []
    if stage.edge is not None:
        checks.append(
            TierCheck(
                "edge",
                "requests",
                "rps",
                rates.cloudfront_rps,
                *pair("cdn_rps"),
                rates.sources["cloudfront"],
            )
        )
    if stage.web is not None:
        checks.append(
            TierCheck("alb", "requests", "rps", None, *pair("origin_rps"), rates.sources["alb"])
        )
        checks += _asg_checks("app", stage.web, rates, pair("web_rps"), pair("web_search_share"))
    if stage.search is not None:
        checks += _asg_checks("search", stage.search, rates, pair("search_rps"), (1.0, 1.0))
    if stage.single_box is not None:
        checks += _box_checks(stage, rates, both, w)
    if stage.cache is not None:
        checks += _redis_checks(stage, rates, both)
    if stage.database is not None:
        checks += _db_checks(stage, rates, both, w, obs)
    return StageCapacity(env, stage.name, tuple(checks), rates.required_headroom, w.multiplier)


def _box_checks(
    stage: StageSpec, rates: Rates, both: tuple[Flow, Flow], w: Workload
) -> list[TierCheck]:
    box = stage.single_box
    assert box is not None
    m = rates.machine(box.instance_type)
    name = f"{box.instance_type} ({m.vcpus:g} vCPU)"

    def app_s(fl: Flow) -> float:
        cost = 1 + (rates.search_app_cost - 1) * fl.web_search_share
        return fl.web_rps * cost / rates.app_rps_per_vcpu

    if stage.database is not None:  # split-db: the box runs the API only
        cost = 1 + (rates.search_app_cost - 1) * both[1].web_search_share
        return [
            TierCheck(
                "app",
                "cpu",
                "rps",
                m.sustained_vcpus * rates.app_rps_per_vcpu / cost,
                both[0].web_rps,
                both[1].web_rps,
                f"1 x {name}, API only, {rates.app_rps_per_vcpu:,.0f} rps/vCPU"
                + (f" / {cost:.2f} (search mix)" if cost > 1 else ""),
            )
        ]

    # single-box: the API and PostgreSQL share the box's vCPUs, memory and volume.
    def cpu(fl: Flow) -> float:
        return app_s(fl) + _db_cpu_seconds(rates, fl, reads=1.0)

    cache_bytes = m.memory_gib * GIB * rates.db_cache_memory_share
    return [
        TierCheck(
            "box",
            "cpu (API + DB)",
            "vCPU",
            m.sustained_vcpus,
            cpu(both[0]),
            cpu(both[1]),
            f"1 x {name}; API {rates.app_rps_per_vcpu:,.0f} rps/vCPU + DB per query",
        ),
        TierCheck(
            "box",
            "DB hot set in memory",
            "GB",
            cache_bytes / GB,
            both[0].db_hot_bytes / GB,
            both[1].db_hot_bytes / GB,
            f"{rates.db_cache_memory_share:.0%} of {m.memory_gib:g} GiB",
        ),
        TierCheck(
            "box",
            "storage",
            "GB",
            float(box.root_volume_gb) * GIB / GB,
            both[0].db_data_bytes / GB,
            both[1].db_data_bytes / GB,
            f"root gp3 volume {box.root_volume_gb} GiB",
        ),
        TierCheck(
            "box",
            "write IOPS",
            "IOPS",
            rates.gp3_iops,
            both[0].db_writes * rates.iops_per_write,
            both[1].db_writes * rates.iops_per_write,
            f"gp3 baseline; {rates.iops_per_write:g} I/Os per write",
        ),
    ]


def _redis_checks(stage: StageSpec, rates: Rates, both: tuple[Flow, Flow]) -> list[TierCheck]:
    cache_spec = stage.cache
    assert cache_spec is not None
    m = rates.machine(cache_spec.node_type)
    ops = rates.redis_ops_per_node * m.baseline * rates.redis_nodes_serving
    usable = m.memory_gib * GIB * rates.redis_usable_share / GB
    burst = f" x {m.baseline:.0%} baseline" if m.baseline < 1 else ""
    return [
        TierCheck(
            "redis",
            "ops",
            "ops/s",
            ops,
            both[0].redis_ops,
            both[1].redis_ops,
            f"primary {cache_spec.node_type}{burst} at the measured one-thread "
            "GET rate (redis source)",
        ),
        TierCheck(
            "redis",
            "hot set in memory",
            "GB",
            usable,
            both[0].redis_hot_bytes / GB,
            both[1].redis_hot_bytes / GB,
            f"{cache_spec.node_type} {m.memory_gib:g} GiB x "
            f"{rates.redis_usable_share:.0%} (reserved-memory-percent); hot movies + "
            "search pages alive",
        ),
    ]


def _db_checks(
    stage: StageSpec, rates: Rates, both: tuple[Flow, Flow], w: Workload, obs: Observed
) -> list[TierCheck]:
    db = stage.database
    assert db is not None
    m = rates.machine(db.instance_class)
    replicas = db.read_replicas
    share = obs.replica_read_share if obs.replica_read_share is not None else w.replica_read_share
    to_replicas = share if replicas else 0.0
    cache_gb = m.memory_gib * GIB * rates.db_cache_memory_share / GB
    iops = rates.gp3_iops_large if db.allocated_storage_gb >= 400 else rates.gp3_iops
    name = f"{db.instance_class} ({m.vcpus:g} vCPU)"

    def primary_cpu(fl: Flow) -> float:
        return _db_cpu_seconds(rates, fl, reads=1 - to_replicas)

    checks = [
        TierCheck(
            "db-primary",
            "cpu (reads + writes)",
            "vCPU",
            m.sustained_vcpus,
            primary_cpu(both[0]),
            primary_cpu(both[1]),
            f"{name}; {1 - to_replicas:.0%} of DB reads + writes at measured "
            "per-query costs (db_* sources)",
        ),
        TierCheck(
            "db-primary",
            "hot set in memory",
            "GB",
            cache_gb,
            both[0].db_hot_bytes / GB,
            both[1].db_hot_bytes / GB,
            f"{rates.db_cache_memory_share:.0%} of {m.memory_gib:g} GiB "
            "(effective_cache_size default)",
        ),
        TierCheck(
            "db-primary",
            "write IOPS",
            "IOPS",
            iops,
            both[0].db_writes * rates.iops_per_write,
            both[1].db_writes * rates.iops_per_write,
            f"gp3 baseline at {db.allocated_storage_gb} GiB; "
            f"{rates.iops_per_write:g} I/Os per write",
        ),
        TierCheck(
            "db-primary",
            "storage",
            "GB",
            db.max_allocated_storage_gb * GIB / GB,
            both[0].db_data_bytes / GB,
            both[1].db_data_bytes / GB,
            f"storage autoscaling up to {db.max_allocated_storage_gb} GiB",
        ),
    ]
    if replicas and db.replica_instance_class:
        r = rates.machine(db.replica_instance_class)

        def replica_cpu(fl: Flow) -> float:
            return _db_cpu_seconds(rates, fl, reads=to_replicas / replicas, replay=True)

        checks += [
            TierCheck(
                "db-replicas",
                "cpu per replica",
                "vCPU",
                r.sustained_vcpus,
                replica_cpu(both[0]),
                replica_cpu(both[1]),
                f"{replicas} x {db.replica_instance_class} ({r.vcpus:g} vCPU), "
                f"{to_replicas:.0%} of DB reads + WAL replay",
            ),
            TierCheck(
                "db-replicas",
                "hot set in memory",
                "GB",
                r.memory_gib * GIB * rates.db_cache_memory_share / GB,
                both[0].db_hot_bytes / GB,
                both[1].db_hot_bytes / GB,
                f"{rates.db_cache_memory_share:.0%} of {r.memory_gib:g} GiB per replica",
            ),
        ]
    return checks


@cache
def model_inputs() -> tuple[Workload, Rates, Observed]:
    """The workload, the per-unit rates and the lab's observed ratios (read once)."""
    rates, obs = load_rates()
    return Workload.load(), rates, obs


def capacity_tables(env: str = "prod", stages: list[str] | None = None) -> list[StageCapacity]:
    """Every stage's (or the given stages') capacity in `env`, in stage order."""
    w, rates, obs = model_inputs()
    return [stage_capacity(env, s, w, rates, obs) for s in (stages or list(STAGES))]


@dataclass(frozen=True)
class CrossCheck:
    stage: str
    model: float  # DB reads per API request the model predicts (the bench's denominator)
    measured: float  # what the lab bench counted


def cross_checks() -> list[CrossCheck]:
    """The model's DB reads per API request next to the bench's, per benched stage (today)."""
    w, _, obs = model_inputs()
    checks = []
    for stage, measured in obs.db_reads_per_request.items():
        if stage not in STAGES:
            continue
        fl = flow(w, obs, load_stack_config("prod", stage).stage, "today")
        rps = w.hits_per_day / SECONDS_PER_DAY * w.peak_factor
        model = (fl.db_point_reads + fl.db_searches) / rps
        checks.append(CrossCheck(stage, model, measured))
    return checks


def model_sources() -> dict[str, str]:
    """Where each per-unit figure came from (measured file, AWS doc or assumption)."""
    _, rates, _ = model_inputs()
    return dict(rates.sources)


# --- command line -----------------------------------------------------------------------


def _fmt(value: float, unit: str) -> str:
    if unit == "GB":
        return f"{value:,.1f} GB"
    if unit == "vCPU":
        return f"{value:,.2f} vCPU"
    return f"{value:,.0f} {unit}"


def _headroom_cell(check: TierCheck, scale: Scale, required: float) -> str:
    h = check.headroom(scale)
    if h is None:
        return "[cyan]elastic[/]"
    style = "red" if h < required else "green"
    return f"[{style}]{h:.0%}[/]"


def render(tables: list[StageCapacity], console: Any) -> None:
    from rich.table import Table

    for sc in tables:
        fails = sc.failing("target")
        verdict = (
            f"[green]carries {sc.multiplier:g}x with >= {sc.required_headroom:.0%} headroom[/]"
            if not fails
            else "[red]short at {m:g}x on: {t}[/]".format(
                m=sc.multiplier, t=", ".join(sorted({f"{c.tier} {c.measure}" for c in fails}))
            )
        )
        table = Table(title=f"{sc.env}/{sc.stage}: {verdict}", title_justify="left")
        for col in (
            "tier",
            "measure",
            "capacity",
            "today",
            "headroom",
            f"{sc.multiplier:g}x",
            "headroom ",
            "basis",
        ):
            table.add_column(
                col,
                justify="left" if col in {"tier", "measure", "basis"} else "right",
                overflow="fold",
            )
        for c in sc.checks:
            table.add_row(
                c.tier,
                c.measure,
                "elastic" if c.capacity is None else _fmt(c.capacity, c.unit),
                _fmt(c.load_today, c.unit),
                _headroom_cell(c, "today", sc.required_headroom),
                _fmt(c.load_target, c.unit),
                _headroom_cell(c, "target", sc.required_headroom),
                c.basis,
            )
        console.print(table)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra capacity",
        description="Per-tier load, capacity and headroom per stage, today and at the target.",
    )
    parser.add_argument("--env", default="prod", help=f"one of {', '.join(ENVIRONMENTS)}")
    parser.add_argument("--stage", action="append", help="a stage (repeatable); default all")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the figures as JSON")
    out.add_argument("--markdown", action="store_true", help="print a Markdown summary")
    args = parser.parse_args(argv)
    if args.env not in ENVIRONMENTS:
        print(f"error: --env {args.env!r}; allowed: {', '.join(ENVIRONMENTS)}", file=sys.stderr)
        return 2
    for stage in args.stage or []:
        if stage not in STAGES:
            print(f"error: --stage {stage!r}; allowed: {', '.join(STAGES)}", file=sys.stderr)
            return 2
    try:
        tables = capacity_tables(args.env, args.stage)
    except (ModelError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([_as_json(t) for t in tables], indent=2))
        return 0
    if args.markdown:
        print(markdown(tables))
        for sc in tables if args.stage else []:
            print(f"\n{sc.env}/{sc.stage}\n\n{markdown_detail(sc)}")
        return 0
    from rich.console import Console

    console = Console(width=max(Console().width, 160))
    render(tables, console)
    console.print("Sources:")
    for key, text in model_sources().items():
        console.print(f"  {key}: {text}")
    w, _, _ = model_inputs()
    console.print(
        f"  search cache: {w.search_hit_ratio('today'):.1%} hit today, "
        f"{w.search_hit_ratio('target'):.1%} at {w.multiplier:g}x (derived from the TTL and an "
        "assumed query popularity, stacks/workload.yaml requests.search_cache)"
    )
    checks = cross_checks()
    if checks:
        console.print("Cross-check, DB reads per API request today (model vs lab bench):")
        for c in checks:
            console.print(f"  {c.stage}: model {c.model:.3f}, bench {c.measured:.3f}")
    return 0


TIER_ORDER = ("edge", "alb", "box", "app", "search", "redis", "db-primary", "db-replicas")


def markdown(tables: list[StageCapacity]) -> str:
    """One row per stage, one column per tier: the tightest headroom today / at target."""
    tiers = [t for t in TIER_ORDER if any(c.tier == t for sc in tables for c in sc.checks)]
    mult = f"{tables[0].multiplier:g}x" if tables else "5x"
    lines = [
        f"| stage | {' | '.join(tiers)} | short at {mult} on |",
        "|---" * (len(tiers) + 2) + "|",
    ]
    for sc in tables:
        today, target = sc.tier_headroom("today"), sc.tier_headroom("target")
        cells = []
        for tier in tiers:
            if tier not in today:
                cells.append("")
            elif today[tier] is None:
                cells.append("elastic")
            else:
                cells.append(f"{_pct(today[tier])} / {_pct(target[tier])}")
        short = sorted({f"{c.tier} {c.measure}" for c in sc.failing("target")})
        lines.append(f"| {sc.stage} | {' | '.join(cells)} | {', '.join(short) or '-'} |")
    return "\n".join(lines)


def markdown_detail(sc: StageCapacity) -> str:
    """Every check of one stage as a Markdown table."""
    lines = [
        f"| tier | measure | capacity | today | headroom | {sc.multiplier:g}x | headroom | basis |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in sc.checks:
        cap = "elastic" if c.capacity is None else _fmt(c.capacity, c.unit)
        h_today, h_target = c.headroom("today"), c.headroom("target")
        lines.append(
            f"| {c.tier} | {c.measure} | {cap} | {_fmt(c.load_today, c.unit)} | "
            f"{'elastic' if h_today is None else _pct(h_today)} | {_fmt(c.load_target, c.unit)} | "
            f"{'elastic' if h_target is None else _pct(h_target)} | {c.basis} |"
        )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _as_json(sc: StageCapacity) -> dict[str, Any]:
    return {
        "env": sc.env,
        "stage": sc.stage,
        "required_headroom": sc.required_headroom,
        "checks": [
            {
                "tier": c.tier,
                "measure": c.measure,
                "unit": c.unit,
                "capacity": c.capacity,
                "today": round(c.load_today, 4),
                "target": round(c.load_target, 4),
                "headroom_today": c.headroom("today"),
                "headroom_target": c.headroom("target"),
                "basis": c.basis,
            }
            for c in sc.checks
        ],
    }
