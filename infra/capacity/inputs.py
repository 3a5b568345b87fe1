"""Capacity model inputs: the workload, the per-unit rates and the lab's observed ratios.

Read from `assumptions/workload.yaml`, `assumptions/capacity.yaml`,
`assumptions/measured.json` and the pinned lab bench `assumptions/lab-bench.json` (when
present).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from infra import ASSUMPTIONS_DIR, REPO_ROOT
from infra.capacity.app_paths import AppPaths, app_paths
from infra.catalog import CLASSES_FILE, CatalogError, ClassSize, class_sizes

# A class's size (vCPUs, memory, burstable baseline) is the catalogue's.
from infra.jsonfile import JsonError, load_json
from infra.yamlfile import YamlError, load_yaml, shown

ROOT = REPO_ROOT
WORKLOAD_FILE = ASSUMPTIONS_DIR / "workload.yaml"
CAPACITY_FILE = ASSUMPTIONS_DIR / "capacity.yaml"
SECONDS_PER_DAY = 86_400
GB = 1e9
GIB = 2**30

Scale = Literal["today", "target"]


class ModelError(ValueError):
    """A model input is missing or wrong; the message is one line."""


# --- inputs -----------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path)
    except YamlError as exc:
        raise ModelError(str(exc)) from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a mapping at the top level")
    return data


def _number(
    dotted: str, low: float = 0.0, high: float | None = None, *, optional: bool = False
) -> Any:
    """A number at `dotted` in the YAML, checked to lie in [low, high] (as one rule: the
    check, its one-line error and the field's place in the file are declared together)."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _problem(f"expected a number, got {shown(value)}")
        if value < low or (high is not None and value > high):
            allowed = f"{low}..{high}" if high is not None else f">= {low}"
            raise _problem(f"invalid value {shown(value)}; allowed: {allowed}")
        return float(value)

    kind = float | None if optional else float
    return Annotated[
        kind, BeforeValidator(check), Field(validation_alias=AliasPath(*dotted.split(".")))
    ]


def _share(dotted: str) -> Any:
    return _number(dotted, high=1.0)


def _flag(dotted: str) -> Any:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise _problem(f"invalid value {shown(value)}; allowed: true, false")
        return value

    return Annotated[
        bool, BeforeValidator(check), Field(validation_alias=AliasPath(*dotted.split(".")))
    ]


def _problem(detail: str) -> PydanticCustomError:
    return PydanticCustomError("model", "{detail}", {"detail": detail})


def _model_error(exc: ValidationError) -> ModelError:
    """The first problem as `dotted.key: what is wrong`, one line."""
    err = exc.errors(include_url=False)[0]
    key = ".".join(str(part) for part in err["loc"])
    if err["type"] == "missing":
        return ModelError(f"{key}: required key is missing")
    if err["type"] == "model":
        return ModelError(f"{key}: {err['ctx']['detail']}")
    return ModelError(f"{key}: {err['msg']}")


class Workload(BaseModel):
    """assumptions/workload.yaml, read here only: the capacity model, the cost model and the
    lab's request mix all take their figures from this (shares are 0..1). Each field names
    its place in the file and its allowed range."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    movies: _number("today.movies", low=1)
    hits_per_day: _number("today.hits_per_day", low=1)
    multiplier: _number("target_multiplier", low=1)
    peak_factor: _number("traffic.peak_factor", low=1)
    # The short surge on top of the peak an ASG's max_size must absorb (size.py).
    surge_factor: _number("traffic.surge_factor", low=1, high=10)
    read_share: _share("traffic.read_share")
    search_share: _share("traffic.search_share")
    poster_share: _share("traffic.poster_share")
    anonymous_share: _share("traffic.anonymous_share")
    # Zipf exponent of movie popularity (the lab's load model draws movie ids with it; the
    # road past 5x reads how hot the hottest key is from it).
    popularity_zipf_s: _number("traffic.zipf_s", low=0.01, high=3.0)
    hot_set_share: _share("traffic.hot_set_share")
    cacheable_share: _share("caching.cacheable_share")
    app_cache_hit_ratio: _share("caching.app_cache_hit_ratio")
    edge_cache_hit_ratio: _share("caching.edge_cache_hit_ratio")
    search_ttl_s: _number("requests.search_cache.ttl_seconds", low=1)
    search_ttl_jitter: _number("requests.search_cache.ttl_jitter", high=0.5)
    search_stale_s: _number("requests.search_cache.stale_seconds")
    search_invalidate_on_write: _flag("requests.search_cache.invalidate_on_write")
    search_zipf_s: _number("requests.search_cache.zipf_s", low=0.01, high=3.0)
    search_keys_per_movie: _number("requests.search_cache.distinct_keys_per_movie", low=0.001)
    search_match_share: _share("requests.search_match_share")
    replica_read_share: _share("requests.replica_read_share")
    redis_ops_per_read: _number("requests.redis_ops_per_read")
    redis_ops_per_miss: _number("requests.redis_ops_per_miss")
    redis_ops_per_write: _number("requests.redis_ops_per_write")
    redis_ops_per_search: _number("requests.redis_ops_per_search")
    db_statements_per_write: _number("requests.db_statements_per_write")
    movie_row_bytes: _number("objects.movie_row_bytes", low=1)
    redis_entry_bytes: _number("objects.redis_entry_bytes", low=1)
    search_page_bytes: _number("objects.search_page_bytes", low=1)
    movie_json_bytes: _number("objects.movie_json_bytes", low=1)
    poster_bytes: _number("objects.poster_bytes", low=1)

    @classmethod
    def load(cls, path: Path = WORKLOAD_FILE) -> Workload:
        try:
            return cls.model_validate(_read_yaml(path))
        except ValidationError as exc:
            raise _model_error(exc) from None

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


@lru_cache(maxsize=16)
def _zipf_head(zipf_s: float, head: int) -> tuple[tuple[float, ...], float]:
    """k**-zipf_s for the ranks 1..head, and their sum: the same for every rate and TTL."""
    weights = tuple(k**-zipf_s for k in range(1, head + 1))
    return weights, sum(weights)


@lru_cache(maxsize=16)
def _simpson_coefficients(steps: int) -> tuple[int, ...]:
    """Simpson's rule's 1, 4, 2, ..., 2, 4, 1 over steps + 1 points (steps is even)."""
    ends = (0, steps)
    return tuple(1 if i in ends else 4 if i % 2 else 2 for i in range(steps + 1))


# A pure function of its arguments: the sizer and the road ask for the same figures many
# times while they search classes and multipliers.
@lru_cache(maxsize=4096)
def ttl_cache_hit_ratio(
    rate: float, ttl: float, keys: int, zipf_s: float, *, head: int = 2_000, steps: int = 4_000
) -> float:
    """Hit ratio of a TTL cache (entry set on a miss, not extended by hits) under Poisson
    requests at `rate`/s spread Zipf(`zipf_s`) over `keys` keys.

    A key requested at rate r sees one miss, then r*T hits on average before its entry
    expires: a hit share of r*T / (1 + r*T). The sum over keys is exact for the `head` most
    popular ones and Simpson's rule over log-rank for the rest (error < 1e-6 against the
    exact sum in tests/capacity).

    Each term is rank weight w = k**-s times the hit share x / (1 + x), x = per_ttl * w,
    computed as (w * x) / (1 + x) and summed left to right with `sum`; the head's weights
    are cached per (s, head), and the tail's comprehension does the same operations in the
    same order as the plain loop it replaced, so every result is the same float (the search
    of multipliers asks for a new `keys` each time: this is its inner loop).
    """
    if keys < 1 or rate <= 0 or ttl <= 0:
        return 0.0
    head = min(head, keys)
    lo, hi = head + 0.5, keys + 0.5  # the tail's ranks, as an integral
    weights, norm = _zipf_head(zipf_s, head)
    if keys > head:
        norm += (
            math.log(hi / lo)
            if zipf_s == 1.0
            else (hi ** (1 - zipf_s) - lo ** (1 - zipf_s)) / (1 - zipf_s)
        )
    per_ttl = rate * ttl / norm
    hits = sum([w * (x := per_ttl * w) / (1 + x) for w in weights])
    if keys > head:
        a, b = math.log(lo), math.log(hi)
        h = (b - a) / steps  # steps is even
        exp, neg_s = math.exp, -zipf_s
        # Over log-rank u = log k the integrand is k * k**-s * hit share, at k = exp(a + i*h).
        hits += (
            h
            / 3
            * sum(
                [
                    c * (k := exp(a + i * h)) * ((w := k**neg_s) * (x := per_ttl * w) / (1 + x))
                    for i, c in enumerate(_simpson_coefficients(steps))
                ]
            )
        )
    return hits / norm


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
    machines: Mapping[str, ClassSize]
    sources: Mapping[str, str] = field(default_factory=dict)
    # DB connections one service worker may hold per endpoint (MOVIES_DB_POOL_MAX); each
    # instance runs one worker per vCPU.
    db_pool_per_worker: float = 10.0
    # The API's CPU per request by path (no cache, Redis hit, Redis miss), from the bench;
    # None while the bench has no rows to read them from.
    app_paths: AppPaths | None = None

    def machine(self, kind: str) -> ClassSize:
        if kind not in self.machines:
            raise ModelError(
                f"{kind}: no capacity entry in {CLASSES_FILE.name}; allowed: "
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
        doc = load_json(path, "bench results")
    except JsonError as exc:
        raise ModelError(str(exc)) from None
    rows = doc.get("stages", []) if isinstance(doc, dict) else []
    return {r["stage"]: r for r in rows if isinstance(r, dict) and "stage" in r}


@dataclass(frozen=True)
class QueryFactor:
    """How much more CPU the service's own queries cost the primary than pgbench's."""

    factor: float
    source: str


def db_query_factor(
    row: Mapping[str, Any] | None,
    *,
    point_read_s: float,
    write_s: float,
    search_s: Callable[[float], float],
) -> QueryFactor:
    """The primary's measured CPU over pgbench's prediction for the queries it ran, in a
    bench row of a stage without a cache (lab/bench.py's steady-state window): searches =
    the search requests (each one query when nothing caches), point reads = the other
    reads pg_stat_statements counted (movie and poster lookups, API-key checks), writes =
    its writes; searches at the lab's average matches. 1.0 (and says why) without one."""
    if row is None:
        return QueryFactor(1.0, "no bench row to calibrate from: pgbench's costs as measured")
    stage = row.get("stage", "?")
    db_ms = _positive(row.get("tier_cpu_ms_per_request"), "db-primary")
    requests = _positive(row, "api_requests")
    pss = row.get("pg_stat_statements") or {}
    kinds = row.get("by_kind") or {}
    matches = _positive(row, "lab_search_matches")
    reads, writes = pss.get("primary_reads"), pss.get("primary_writes", 0)
    searches = kinds.get("search", 0)
    if (
        db_ms is None
        or requests is None
        or matches is None
        or not isinstance(reads, int | float)
        or not isinstance(searches, int | float)
        or reads < searches
        or row.get("cache_hit_ratio") is not None
    ):
        return QueryFactor(
            1.0,
            f"bench row {stage} lacks a cache-free steady state with the primary's CPU and "
            "its query counts: pgbench's costs as measured",
        )
    predicted_ms = 1000 * (
        (reads - searches) * point_read_s + searches * search_s(matches) + writes * write_s
    )
    measured_ms = db_ms * requests
    factor = measured_ms / predicted_ms
    return QueryFactor(
        factor,
        f"measured: lab bench {stage} steady state, the primary's cgroup spent "
        f"{measured_ms:,.0f} ms of CPU on {reads - searches:,.0f} point reads, "
        f"{searches:,.0f} searches ({matches:,.0f} matches) and {writes:,.0f} writes that "
        f"pgbench's costs put at {predicted_ms:,.0f} ms: x {factor:.2f}",
    )


def _positive(row: Mapping[str, Any] | None, key: str) -> float | None:
    value = (row or {}).get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _machines() -> dict[str, ClassSize]:
    try:
        return class_sizes()
    except CatalogError as exc:
        raise ModelError(str(exc)) from exc


def _text(dotted: str) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise _problem(f"expected a non-empty string, got {shown(value)}")
        return value

    return Annotated[
        str, BeforeValidator(check), Field(validation_alias=AliasPath(*dotted.split(".")))
    ]


class CapacityFile(BaseModel):
    """assumptions/capacity.yaml: the per-unit capacities that are not measured here (AWS
    documentation and stated assumptions), and where the measured ones are read from."""

    model_config = ConfigDict(frozen=True)

    lab_vcpus: _number("lab.vcpus", low=1)
    aws_vcpu_per_lab_vcpu: _number("lab.aws_vcpu_per_lab_vcpu", low=0.1)
    measured_backends: _text("measured.backends")
    measured_bench: _text("measured.bench")
    app_bench_stage: _text("app.bench_stage")
    # Read only while the lab bench has no row for app_bench_stage.
    app_fallback_rps_per_vcpu: _number("app.fallback_rps_per_vcpu", low=1, optional=True) = None
    search_cost_factor: _number("app.search_cost_factor", low=1)
    db_bench_stage: _text("database.bench_stage")
    cloudfront_rps_quota: _number("edge.cloudfront_rps_quota", low=1)
    db_pool_per_worker: _number("app.db_pool_per_worker", low=1)
    db_cache_memory_share: _number("database.cache_memory_share", high=1)
    gp3_iops: _number("database.gp3_iops", low=1)
    gp3_iops_from_400_gib: _number("database.gp3_iops_from_400_gib", low=1)
    iops_per_write: _number("database.iops_per_write")
    replica_replay_cost_factor: _number("database.replica_replay_cost_factor")
    cache_usable_memory_share: _number("cache.usable_memory_share", high=1)
    cache_nodes_serving: _number("cache.nodes_serving", low=1)
    required_headroom: _number("required_headroom", high=1)

    @classmethod
    def load(cls, path: Path = CAPACITY_FILE) -> CapacityFile:
        try:
            return cls.model_validate(_read_yaml(path))
        except ValidationError as exc:
            raise _model_error(exc) from None


def pinned_bench_rows(
    capacity_file: Path = CAPACITY_FILE, root: Path = ROOT
) -> dict[str, dict[str, Any]]:
    """stage -> row of the pinned lab bench (capacity.yaml `measured.bench`)."""
    return _bench_rows(root / CapacityFile.load(capacity_file).measured_bench)


def load_rates(
    capacity_file: Path = CAPACITY_FILE,
    root: Path = ROOT,
    bench_rows: Mapping[str, Mapping[str, Any]] | None = None,
    bench_label: str | None = None,
) -> tuple[Rates, Observed]:
    """Per-unit rates from assumptions/capacity.yaml, the measured backends and the bench.

    `bench_rows` (stage -> row), with `bench_label` saying where they came from
    (`sources["bench"]`), stand in for the pinned bench: the lab checks the model against a
    run with the app's and the DB's costs taken from that run (lab/bench.py
    `run_calibration`), since a CPU-second on this machine does more in one hour than in
    another."""
    doc = CapacityFile.load(capacity_file)
    lab_vcpus = doc.lab_vcpus
    per_aws_vcpu = doc.aws_vcpu_per_lab_vcpu
    backends_path = root / doc.measured_backends
    if not backends_path.is_file():
        raise ModelError(
            f"measured.backends: {backends_path} is missing; run "
            "`python -m infra.capacity.measure` to measure it"
        )
    try:
        measured = load_json(backends_path, "measured backend rates")
    except JsonError as exc:
        raise ModelError(str(exc)) from None
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

    if bench_rows is None:
        bench, bench_source = _bench_rows(root / doc.measured_bench), doc.measured_bench
    else:
        bench, bench_source = dict(bench_rows), bench_label or "rows given by the caller"
    app_stage = doc.app_bench_stage
    row = bench.get(app_stage)
    per_cpu_s = _positive(row, "requests_per_lab_cpu_second")
    bench_rps = _positive(row, "rps")
    app_ms = _positive((row or {}).get("tier_cpu_ms_per_request"), "app")
    when = measured.get("measured_at", "?")
    search_factor = doc.search_cost_factor
    search_share = Workload.load().search_share
    if app_ms is not None:
        # The API processes' own CPU per request, from their cgroup at the bench's steady
        # state (lab/bench.py): the lab's mix has `search_share` searches at
        # `search_cost_factor` each, so a plain request costs that much less.
        mix_cost = 1 + (search_factor - 1) * search_share
        app_rate = 1000 / app_ms * mix_cost * per_aws_vcpu
        app_source = (
            f"measured: lab bench {app_stage} stage at steady state, {app_ms:.3f} ms of the "
            f"API processes' own CPU (their cgroup) per request of the lab's mix = "
            f"{app_rate:,.0f} plain requests/s per vCPU"
        )
    elif per_cpu_s is not None:
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
        if doc.app_fallback_rps_per_vcpu is None:
            raise ModelError("app.fallback_rps_per_vcpu: required key is missing")
        app_rate = doc.app_fallback_rps_per_vcpu
        app_source = (
            f"assumption: {app_rate:,.0f} rps per vCPU (no {app_stage} row in the lab bench yet)"
        )
    pg = f"measured {when}: pgbench, per CPU-second of the PostgreSQL processes"
    query = db_query_factor(
        bench.get(doc.db_bench_stage),
        point_read_s=1 / per_vcpu["point_read"],
        write_s=1 / per_vcpu["write"],
        search_s=lambda m: fixed + per_match * m,
    )
    k = query.factor
    pg += f", x {k:.2f} ({query.source})"
    # Redis runs commands on one thread: a node does at most one CPU-second per second.
    redis_get = float(measured["redis"]["ops"]["get"]["per_cpu_second"])
    rates = Rates(
        app_rps_per_vcpu=app_rate,
        search_app_cost=doc.search_cost_factor,
        db_point_read_s=k / per_vcpu["point_read"],
        db_write_s=k / per_vcpu["write"],
        db_search_fixed_s=k * fixed,
        db_search_per_match_s=k * per_match,
        redis_ops_per_node=redis_get,
        cloudfront_rps=doc.cloudfront_rps_quota,
        db_pool_per_worker=doc.db_pool_per_worker,
        app_paths=app_paths(bench),
        db_cache_memory_share=doc.db_cache_memory_share,
        gp3_iops=doc.gp3_iops,
        gp3_iops_large=doc.gp3_iops_from_400_gib,
        iops_per_write=doc.iops_per_write,
        replay_cost_factor=doc.replica_replay_cost_factor,
        redis_usable_share=doc.cache_usable_memory_share,
        redis_nodes_serving=doc.cache_nodes_serving,
        required_headroom=doc.required_headroom,
        machines=_machines(),
        sources={
            "app": app_source,
            "bench": bench_source,
            "db_query_factor": query.source,
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
