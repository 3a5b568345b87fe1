"""The traffic model: peak requests/s and bytes each tier of a stage sees at one scale."""

from __future__ import annotations

from dataclasses import dataclass

from infra.capacity.inputs import SECONDS_PER_DAY, Observed, Scale, Workload
from infra.config import StageSpec


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
        # per request were 0.353 at cached and 0.348 at edge (the bench of 2026-11-29).
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
