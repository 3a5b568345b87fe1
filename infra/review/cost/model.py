"""The cost model: a stack's cost lines per scenario (StackCost), the traffic model that
turns the workload into billed units, and the guard that keeps unknown and secret values
out of any price.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.capacity.inputs import WORKLOAD_FILE, Workload
from infra.plans.preview import UNKNOWN
from infra.pricing.usage import USAGE, hourly_profile, hours_per_month, load_usage
from infra.tokens import SECRET_MARKER, ResourceType

GB = 1e9


# ------------------------------------------------- values a real preview does not know yet


class UnpricedValue(Exception):
    """A pricer read a value the engine does not know yet, or a secret."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


def _check(value: Any, path: str) -> Any:
    if value == UNKNOWN:
        raise UnpricedValue(path, "known only after apply")
    if value == SECRET_MARKER:
        raise UnpricedValue(path, "a secret")
    if isinstance(value, dict):
        return _Guarded(value, path)
    if isinstance(value, list):
        return _GuardedList(value, path)
    return value


class _Guarded(Mapping[str, Any]):
    """Read-only view of a resource's inputs or outputs that raises ``UnpricedValue`` when
    a pricer touches an unknown or secret value, so nothing is priced as if it were known
    (plan files hold no unknowns, and no pricer reads a secret: they price as before)."""

    def __init__(self, target: dict[str, Any], path: str) -> None:
        self._target, self._path = target, path

    def __getitem__(self, key: str) -> Any:
        return _check(self._target[key], f"{self._path}.{key}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._target)

    def __len__(self) -> int:
        return len(self._target)

    def raw(self, key: str) -> Any:
        return self._target.get(key)


class _GuardedList(Sequence[Any]):
    def __init__(self, target: list[Any], path: str) -> None:
        self._target, self._path = target, path

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._target)))]
        return _check(self._target[index], f"{self._path}[{index}]")

    def __len__(self) -> int:
        return len(self._target)


def guarded(r: dict) -> dict:
    return {
        **r,
        "inputs": _Guarded(r.get("inputs") or {}, f"{r['name']}.inputs"),
        "outputs": _Guarded(r.get("outputs") or {}, f"{r['name']}.outputs"),
    }


def known(mapping: Any, key: str) -> Any:
    """A value for matching only: None when unknown or secret (it names nothing yet)."""
    value = mapping.raw(key) if isinstance(mapping, _Guarded) else (mapping or {}).get(key)
    return None if value in (UNKNOWN, SECRET_MARKER) else value


def depends_on(r: dict, other: dict) -> bool:
    """The engine's dependency edge: a fact even when the linking value is unknown."""
    return other["urn"] in (r.get("dependencies") or [])


@dataclass(frozen=True)
class Scenario:
    label: str
    hits_per_day: float
    movies: float


@dataclass(frozen=True)
class Assumptions:
    workload: Workload  # the capacity model's reading of assumptions/workload.yaml
    usage: dict[str, Any]

    @property
    def hours(self) -> float:
        return hours_per_month(self.usage)

    @property
    def days(self) -> float:
        return float(self.usage["days_per_month"])

    def scenarios(self, env: str) -> tuple[Scenario, Scenario]:
        mult = self.workload.multiplier
        if env == "dev":
            hits, movies = float(self.usage["dev_hits_per_day"]), float(self.usage["dev_movies"])
            return Scenario("today", hits, movies), Scenario(f"{mult:g}x", hits, movies)
        hits, movies = self.workload.hits_per_day, self.workload.movies
        return Scenario("today", hits, movies), Scenario(f"{mult:g}x", hits * mult, movies * mult)

    def hourly_profile(self) -> list[float]:
        """24 hourly load factors (``infra.pricing.usage.hourly_profile``) for this workload."""
        return hourly_profile(self.workload.peak_factor, float(self.usage["trough_factor"]))


def load_assumptions(workload: Path = WORKLOAD_FILE, usage: Path = USAGE) -> Assumptions:
    return Assumptions(Workload.load(workload), load_usage(usage))


@dataclass(frozen=True)
class Traffic:
    """Monthly request and byte totals per tier, for one plan's shape and one scenario."""

    hits: float
    total_gb: float
    server_requests: float
    alb_requests: float
    alb_gb: float
    internet_gb: float
    cf_requests: float
    cf_gb: float
    s3_gets: float
    notes: tuple[str, ...]
    search_requests: float = 0.0  # searches among server_requests (a rule may route them)


def traffic_for(plan: dict, scenario: Scenario, a: Assumptions) -> Traffic:
    w, overhead = a.workload, float(a.usage["response_overhead_bytes"])
    hits = scenario.hits_per_day * a.days
    poster, search = w.poster_share, w.search_share
    api_share = 1 - poster
    poster_b = w.poster_bytes + overhead
    api_b = (
        search * w.search_page_bytes + (api_share - search) * w.movie_json_bytes
    ) / api_share + overhead
    total_gb = hits * (poster * poster_b + api_share * api_b) / GB
    types = {r["type"] for r in plan["resources"]}
    has_cf = ResourceType.CLOUDFRONT_DISTRIBUTION in types
    has_alb = ResourceType.LB_LOAD_BALANCER in types
    has_bucket = bool(types & {ResourceType.S3_BUCKET, ResourceType.S3_BUCKET_V2})
    notes: list[str] = [
        f"{scenario.hits_per_day:,.0f} hits/day x {a.days:g} days = {hits:,.0f} hits/month",
        f"bytes/hit: poster {poster_b:,.0f} B ({poster:.0%}), API {api_b:,.0f} B ({api_share:.0%})",
    ]
    if has_cf:
        edge_api = w.cacheable_share * w.edge_cache_hit_ratio
        miss_poster = 1 - w.edge_cache_hit_ratio
        api_origin = hits * api_share * (1 - edge_api)
        poster_origin = hits * poster * miss_poster
        server = api_origin + (0 if has_bucket else poster_origin)
        server_gb = (api_origin * api_b + (0 if has_bucket else poster_origin * poster_b)) / GB
        notes.append(
            f"CloudFront answers {edge_api:.0%} of API hits (cacheable x edge hit ratio) and "
            f"{1 - miss_poster:.0%} of poster hits; origin fetches to S3/ALB are free transfer"
        )
        return Traffic(
            hits,
            total_gb,
            server,
            server if has_alb else 0,
            server_gb if has_alb else 0,
            0.0,
            hits,
            total_gb,
            poster_origin if has_bucket else 0.0,
            tuple(notes),
            hits * search * (1 - edge_api),
        )
    notes.append("no CDN: every hit reaches the servers and every byte leaves from them")
    return Traffic(
        hits,
        total_gb,
        hits,
        hits if has_alb else 0,
        total_gb if has_alb else 0,
        total_gb,
        0.0,
        0.0,
        0.0,
        tuple(notes),
        hits * search,
    )


@dataclass(frozen=True)
class Line:
    resource: str
    type: str
    row: str
    quantity: float
    unit: str
    monthly: float
    how: str


@dataclass
class StackCost:
    ref: str
    env: str
    stage: str
    scenario: Scenario
    lines: list[Line]
    traffic: Traffic
    free: list[tuple[str, str]] = field(default_factory=list)
    # (resource, type, why): its price depends on a value known only after apply, or a
    # secret; the total leaves it out and says so.
    unpriced: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.monthly for line in self.lines)

    @property
    def per_million(self) -> float:
        return self.total / (self.traffic.hits / 1e6) if self.traffic.hits else 0.0
