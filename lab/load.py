"""The load generator: Zipf popularity over movie ids, a read/write, anonymous/
authenticated and search mix from `assumptions/workload.yaml`, fixed duration and concurrency,
warm-up left out of the figures, progress shown while it runs. Loopback only."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from infra.capacity.inputs import WORKLOAD_FILE, Workload
from lab.httpclient import CLIENTS, TRANSPORT_ERRORS, check_loopback
from lab.stats import TRANSPORT_ERROR, Sample

MAX_DURATION = 600.0
MAX_CONCURRENCY = 1000


class ZipfSampler:
    """Ranks 1..n with P(k) proportional to 1/k**s; rank k maps to a fixed random movie id,
    so the hot set is spread over the table as it would be in real data."""

    def __init__(self, n: int, s: float, seed: int = 7) -> None:
        if n < 1:
            raise ValueError(f"zipf n={n}; allowed >= 1")
        if s <= 0:
            raise ValueError(f"zipf s={s}; allowed > 0")
        self.n = n
        self.s = s
        self._cdf = list(itertools.accumulate(1.0 / k**s for k in range(1, n + 1)))
        self._total = self._cdf[-1]
        ids = list(range(1, n + 1))
        random.Random(seed).shuffle(ids)
        self.ids = ids  # ids[rank - 1] is the movie at that popularity rank

    def rank(self, rng: random.Random) -> int:
        return self.rank_at(rng.random())

    def rank_at(self, u: float) -> int:
        """The rank at quantile `u` (0 <= u < 1) of the distribution."""
        return bisect.bisect_left(self._cdf, u * self._total) + 1

    def movie_id(self, rng: random.Random) -> int:
        return self.ids[self.rank(rng) - 1]

    def ranks_for_mass(self, mass: float) -> int:
        """The fewest top ranks that together draw at least `mass` of the requests."""
        if not 0 < mass <= 1:
            raise ValueError(f"mass={mass}; allowed 0 < mass <= 1")
        return min(self.n, bisect.bisect_left(self._cdf, mass * self._total - 1e-12) + 1)

    def mass_of_top(self, k: int) -> float:
        """The share of requests the top `k` ranks draw."""
        return self._cdf[max(1, min(k, self.n)) - 1] / self._total

    def share_of_top(self, fraction: float) -> float:
        """The probability mass of the top `fraction` of ranks (the 80/20 check)."""
        k = max(1, int(self.n * fraction))
        return self._cdf[k - 1] / self._total


@dataclass(frozen=True)
class Mix:
    """Shares of the request mix; the defaults come from assumptions/workload.yaml."""

    read_share: float = 0.97
    anonymous_share: float = 0.70
    search_share: float = 0.15
    poster_share: float = 0.0
    zipf_s: float = 1.0

    @classmethod
    def from_workload(cls, path: Path = WORKLOAD_FILE) -> Mix:
        w = Workload.load(path)
        return cls(
            read_share=w.read_share,
            anonymous_share=w.anonymous_share,
            search_share=w.search_share,
            poster_share=w.poster_share,
            zipf_s=w.popularity_zipf_s,
        )

    def validate(self) -> Mix:
        for name in ("read_share", "anonymous_share", "search_share", "poster_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"mix {name}={value}; allowed 0..1")
        if self.search_share + self.poster_share > 1:
            raise ValueError(
                f"mix search_share + poster_share = {self.search_share + self.poster_share}; "
                "allowed <= 1"
            )
        return self


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    kind: str
    anonymous: bool
    headers: dict[str, str]
    body: bytes = b""


# Search terms: the words the seed builds titles from, so searches find real rows.
SEARCH_TERMS = (
    "river", "city", "king", "garden", "storm", "road", "mountain", "letter", "island",
    "dream", "shadow", "empire", "harbor", "witness", "machine", "summer", "winter",
    "kingdom", "stranger", "signal", "voyage", "house", "forest", "desert", "ocean",
    "bridge", "tower", "planet", "mirror", "soldier", "detective", "thief", "pilot",
    "golden", "broken", "hidden", "lost", "dark", "frozen", "secret", "wild", "midnight",
)  # fmt: skip


class Stratified:
    """Uniform draws, one low-discrepancy sequence per choice (u_n = frac(u_0 + n x a), an
    irrational `a` per choice): over any run of n draws, the share that falls under p is
    within a few / n of p. With independent random draws a 6 s probe at 165 rps held 117
    to 158 searches over 20 seeds (+-15% of the DB's work at a stage without a cache, where
    a search costs the primary most), so whether a probe near the ceiling passed depended
    on its seed; with these it holds the mix's shares to a request or two."""

    # Fractional parts of sqrt(2), the golden ratio, sqrt(3) and sqrt(7): each irrational,
    # so each sequence spreads evenly over [0, 1). Anonymous and write advance on every
    # request (one index; sqrt(2) and sqrt(5) are rationally independent, so the pair is
    # spread jointly too), the kind on every read, the term on every search. They are
    # regular, not random: with 70% anonymous, a step of 0.414 never gives two signed-in
    # requests in a row, and bursts of one kind (a run of searches) do not happen; the
    # probes measure a tier at the mix's average.
    STEPS = (0.41421356237309515, 0.6180339887498949, 0.7320508075688772, 0.6457513110645907)

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self._at = [rng.random() for _ in self.STEPS]

    def draw(self, choice: int) -> float:
        u = self._at[choice]
        self._at[choice] = (u + self.STEPS[choice]) % 1.0
        return u


# Stratified choices (RequestMaker(stratified=True)).
ANONYMOUS, WRITE, KIND, TERM = range(4)


@dataclass
class RequestMaker:
    """Draws the next request: Zipf movie, search term, anonymous or one of the keys.

    `stratified`: the request's kind, its term and whether it is a write or anonymous come
    from `Stratified` sequences, so every window of a run holds the mix's shares (the bench's
    saturation probes); the movie and the key stay random."""

    mix: Mix
    movies: int
    api_keys: Sequence[str] = ()
    writer_keys: Sequence[str] = ()
    seed: int = 1
    stratified: bool = False
    sampler: ZipfSampler = field(init=False)
    terms: ZipfSampler = field(init=False)
    _strata: Stratified | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.mix.validate()
        self.sampler = ZipfSampler(self.movies, self.mix.zipf_s)
        self.terms = ZipfSampler(len(SEARCH_TERMS), self.mix.zipf_s, seed=3)
        self._strata = Stratified(self.seed) if self.stratified else None

    def _u(self, rng: random.Random, choice: int) -> float:
        return rng.random() if self._strata is None else self._strata.draw(choice)

    def make(self, rng: random.Random) -> Request:
        anonymous = not self.api_keys or self._u(rng, ANONYMOUS) < self.mix.anonymous_share
        headers = {} if anonymous else {"X-API-Key": rng.choice(self.api_keys)}
        movie = self.sampler.movie_id(rng)
        if self._u(rng, WRITE) >= self.mix.read_share and self.api_keys:
            # Writes are a signed-in user's: adding a (Zipf-popular) movie to a watchlist.
            return Request(
                "POST",
                "/users/me/watchlist",
                "write",
                False,
                {"X-API-Key": rng.choice(self.api_keys), "Content-Type": "application/json"},
                json.dumps({"movie_id": movie}).encode(),
            )
        pick = self._u(rng, KIND)
        if pick < self.mix.search_share:
            term = SEARCH_TERMS[self.terms.rank_at(self._u(rng, TERM)) - 1]
            return Request("GET", f"/movies?q={term}", "search", anonymous, headers)
        if pick < self.mix.search_share + self.mix.poster_share:
            return Request("GET", f"/movies/{movie}/poster", "poster", anonymous, headers)
        return Request("GET", f"/movies/{movie}", "movie", anonymous, headers)


@dataclass(frozen=True)
class LoadConfig:
    base_url: str
    duration: float = 20.0  # measured seconds, after the warm-up
    warmup: float = 5.0
    concurrency: int = 32
    max_requests: int | None = None
    client: str = "raw"
    seed: int = 1
    follow_media: bool = False  # fetch the poster bytes a poster redirect points at
    timeout: float = 10.0

    def validate(self) -> LoadConfig:
        check_loopback(self.base_url)
        if not 0 < self.duration <= MAX_DURATION:
            raise ValueError(f"duration={self.duration}; allowed 0 < d <= {MAX_DURATION:.0f}")
        if not 0 <= self.warmup <= MAX_DURATION:
            raise ValueError(f"warmup={self.warmup}; allowed 0..{MAX_DURATION:.0f}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency={self.concurrency}; allowed 1..{MAX_CONCURRENCY}")
        if self.max_requests is not None and self.max_requests < 1:
            raise ValueError(f"max_requests={self.max_requests}; allowed >= 1")
        if self.client not in CLIENTS:
            raise ValueError(f"client={self.client!r}; allowed: {', '.join(CLIENTS)}")
        return self


@dataclass
class LoadResult:
    config: LoadConfig
    samples: list[Sample]  # measured window only, start relative to its beginning
    warmup_samples: int
    measured_seconds: float
    all_samples: list[Sample]  # every sample, start relative to the run's beginning


Progress = Callable[[float, int, int], None]  # (elapsed, requests, errors)


async def run_load(
    config: LoadConfig,
    maker: RequestMaker,
    progress: Progress | None = None,
    events: Sequence[tuple[float, Callable[[], object]]] = (),
    clock: dict[str, float] | None = None,
) -> LoadResult:
    """Drive `concurrency` closed-loop workers for warm-up + duration seconds.

    `events` are (seconds after start, callable) run in a thread mid-run (the faults);
    `clock["t0"]` is set to the run's perf_counter origin, so they can time themselves."""
    config.validate()
    total = config.warmup + config.duration
    samples: list[Sample] = []
    counter = {"n": 0, "errors": 0}
    t0 = time.perf_counter()
    if clock is not None:
        clock["t0"] = t0
    deadline = t0 + total

    def budget_left() -> bool:
        return config.max_requests is None or counter["n"] < config.max_requests

    async def worker(index: int) -> None:
        # One client, so one keep-alive connection per host, per worker (as browsers do).
        rng = random.Random(config.seed * 100_003 + index)
        client = CLIENTS[config.client](config.timeout)
        try:
            while time.perf_counter() < deadline and budget_left():
                req = maker.make(rng)
                counter["n"] += 1
                await _one(client, config, req, t0, samples, counter)
        finally:
            await client.close()

    async def fire(at: float, action: Callable[[], object]) -> None:
        await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
        await asyncio.to_thread(action)

    async def report() -> None:
        while True:
            await asyncio.sleep(0.5)
            if progress is not None:
                progress(time.perf_counter() - t0, counter["n"], counter["errors"])

    reporter = asyncio.create_task(report())
    side = [asyncio.create_task(fire(at, action)) for at, action in events]
    try:
        await asyncio.gather(*(worker(i) for i in range(config.concurrency)))
        await asyncio.gather(*side)
    finally:
        reporter.cancel()
        for task in side:
            task.cancel()
    ended = min(time.perf_counter(), deadline) - t0
    measured = [
        replace(s, start=s.start - config.warmup) for s in samples if s.start >= config.warmup
    ]
    return LoadResult(
        config=config,
        samples=measured,
        warmup_samples=len(samples) - len(measured),
        measured_seconds=max(1e-9, ended - config.warmup),
        all_samples=samples,
    )


async def _one(
    client,
    config: LoadConfig,
    req: Request,
    t0: float,
    samples: list[Sample],
    counter: dict[str, int],
) -> None:
    started = time.perf_counter()
    edge = None
    try:
        resp = await client.request(req.method, config.base_url + req.path, req.headers, req.body)
        status = resp.status
        edge = resp.headers.get("x-cache-status")
        location = resp.headers.get("location")
    except TRANSPORT_ERRORS:
        status, location = TRANSPORT_ERROR, None
    except Exception as exc:  # httpx's own transport errors
        if type(exc).__module__.startswith("httpx"):
            status, location = TRANSPORT_ERROR, None
        else:
            raise
    now = time.perf_counter()
    samples.append(Sample(started - t0, now - started, status, req.kind, req.anonymous, edge))
    if status == TRANSPORT_ERROR or status >= 500:
        counter["errors"] += 1
    if config.follow_media and location and 300 <= status < 400:
        await _media(client, location, req.anonymous, t0, samples, counter)


async def fetch_media(client, location: str) -> tuple[int, str | None, float, float] | None:
    """GET the poster bytes a redirect points at (loopback only): (status, edge cache
    status, send time, latency), or None when the location is not on loopback (a real S3
    URL is never followed). Both load generators time media this way."""
    started = time.perf_counter()
    edge = None
    try:
        resp = await client.request("GET", location)
        status = resp.status
        edge = resp.headers.get("x-cache-status")
    except ValueError:
        return None
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        status = TRANSPORT_ERROR
    except Exception as exc:
        if type(exc).__module__.startswith("httpx"):
            status = TRANSPORT_ERROR
        else:
            raise
    return status, edge, started, time.perf_counter() - started


async def _media(
    client,
    location: str,
    anonymous: bool,
    t0: float,
    samples: list[Sample],
    counter: dict[str, int],
) -> None:
    """The poster bytes themselves, from wherever the redirect points (loopback only)."""
    got = await fetch_media(client, location)
    if got is None:
        return
    status, edge, started, latency = got
    samples.append(Sample(started - t0, latency, status, "media", anonymous, edge))
    if status == TRANSPORT_ERROR or status >= 500:
        counter["errors"] += 1


def run_with_progress(
    config: LoadConfig,
    maker: RequestMaker,
    label: str,
    events: Sequence[tuple[float, Callable[[], object]]] = (),
    quiet: bool = False,
    clock: dict[str, float] | None = None,
) -> LoadResult:
    """`run_load` with a rich progress bar (requests, rps, errors) while it runs."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    total = config.warmup + config.duration
    if quiet:
        return asyncio.run(run_load(config, maker, events=events, clock=clock))
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total, info="warming up")
        last = {"t": 0.0, "n": 0}

        def show(elapsed: float, n: int, errors: int) -> None:
            dt = elapsed - last["t"]
            rps = (n - last["n"]) / dt if dt > 0 else 0.0
            last.update(t=elapsed, n=n)
            phase = "warm-up" if elapsed < config.warmup else "measuring"
            bar.update(
                task,
                completed=min(elapsed, total),
                info=f"{phase}  {n} req  {rps:,.0f} rps  {errors} err",
            )

        return asyncio.run(run_load(config, maker, progress=show, events=events, clock=clock))


# --- preload: a warm cache and edge before anything is measured -------------------------


@dataclass(frozen=True)
class HotSet:
    """The requests a preload pass sends: every distinct anonymous GET of the hot set, the
    top ranks that draw `mass` of the movie requests (Zipf), and every search term."""

    mass: float
    ranks: int  # movies in the hot set
    paths: tuple[str, ...]

    @classmethod
    def of(cls, maker: RequestMaker, mass: float, posters: int = 0) -> HotSet:
        """`posters`: how many of the hottest ids have a poster object at the edge (their
        redirect and bytes are preloaded too; a colder id's poster is a 404 the CDN keeps
        10 s, and its movie lookup is the `/movies/{id}` entry already preloaded)."""
        k = maker.sampler.ranks_for_mass(mass)
        ids = maker.sampler.ids[:k]
        paths = [f"/movies/{i}" for i in ids]
        if posters and maker.mix.poster_share > 0:
            paths += [f"/movies/{i}/poster" for i in ids[:posters]]
        if maker.mix.search_share > 0:
            paths += [f"/movies?q={term}" for term in SEARCH_TERMS]
        return cls(mass, k, tuple(paths))


@dataclass(frozen=True)
class PreloadResult:
    requests: int
    errors: int
    seconds: float
    media: int  # poster bytes fetched through the redirects (fills the edge's media cache)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 1),
            "media": self.media,
        }


async def preload(
    base_url: str, paths: Sequence[str], concurrency: int = 32, timeout: float = 10.0
) -> PreloadResult:
    """GET every path once through `base_url` (the stage's entry: the CDN stand-in, the ALB
    or the API), anonymously, following poster redirects on loopback: the cache-aside fills
    Redis and the CDN stores what it may, as hours of real traffic would have. Loopback only."""
    check_loopback(base_url)
    todo = iter(paths)
    counter = {"n": 0, "errors": 0, "media": 0}
    started = time.perf_counter()

    async def worker() -> None:
        client = CLIENTS["raw"](timeout)
        try:
            for path in todo:  # one shared iterator: each path is sent once
                counter["n"] += 1
                try:
                    resp = await client.request("GET", base_url + path, {}, b"")
                except TRANSPORT_ERRORS:
                    counter["errors"] += 1
                    continue
                if resp.status >= 500:
                    counter["errors"] += 1
                location = resp.headers.get("location")
                if location and 300 <= resp.status < 400:
                    got = await fetch_media(client, location)
                    if got is not None:
                        counter["media"] += 1
        finally:
            await client.close()

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(paths))))))
    return PreloadResult(
        counter["n"], counter["errors"], time.perf_counter() - started, counter["media"]
    )
