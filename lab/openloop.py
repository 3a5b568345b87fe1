"""Open-loop load: requests at a constant arrival rate, each on its own schedule.

Request i is due at `t0 + i / rate` whatever happened to the ones before it, and its
latency is measured from that intended send time, not from when it was actually sent. A
closed loop of N connections stops sending while the server stalls, so a stall shows up as
N slow samples instead of the stall's full length of them (coordinated omission, Gil Tene,
"How NOT to measure latency"); here every request due during a stall waits and is counted.

Latencies go into an HDR histogram (the `hdrhistogram` package: 3 significant digits from
1 us to 60 s). Two are kept: from the intended send time (what a user would see; the one
judged against the SLO) and from the actual send (the server's service time): the gap
between them is the omission a closed loop would have made.

Connections: a request takes an idle keep-alive connection or opens one, up to
`max_connections`; past that it waits for one, and the wait counts in its latency."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from lab.httpclient import TRANSPORT_ERRORS, RawClient, check_loopback
from lab.load import RequestMaker, fetch_media
from lab.stats import EDGE_HITS, TRANSPORT_ERROR, Sample, is_error

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3
MAX_RATE = 20_000.0


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass(frozen=True)
class OpenLoopConfig:
    base_url: str
    rate: float  # requests per second, constant
    duration: float  # measured seconds
    warmup: float = 0.0  # seconds sent on the same schedule but left out of the figures
    max_connections: int = 256
    timeout: float = 5.0  # a request still unanswered this long after its send is an error
    seed: int = 1
    follow_media: bool = False
    # `lab move`: the base URL of now, read at every send (the load follows DNS); each
    # answer is checked to be loopback by the client.
    resolve: Callable[[], str] | None = None

    def validate(self) -> OpenLoopConfig:
        check_loopback(self.base_url)
        if not 0 < self.rate <= MAX_RATE:
            raise ValueError(f"rate={self.rate}; allowed 0 < rate <= {MAX_RATE:.0f}")
        if not 0 < self.duration <= 600:
            raise ValueError(f"duration={self.duration}; allowed 0 < d <= 600")
        if not 0 <= self.warmup <= 600:
            raise ValueError(f"warmup={self.warmup}; allowed 0..600")
        if not 1 <= self.max_connections <= 4096:
            raise ValueError(f"max_connections={self.max_connections}; allowed 1..4096")
        return self


def schedule(rate: float, seconds: float) -> list[float]:
    """Intended send times (seconds from the start) of a constant-rate run."""
    n = round(rate * seconds)
    return [i / rate for i in range(n)]


@dataclass
class OpenLoopResult:
    config: OpenLoopConfig
    samples: list[Sample]  # measured window; start = intended time from the window's start
    intended: HdrHistogram  # latency from the intended send time, successes only (us)
    service: HdrHistogram  # latency from the actual send, successes only (us)
    sent: int  # requests due in the measured window
    errors: int
    max_send_lag_s: float  # the generator's worst lateness in sending (its own overload)
    generator_cpu_s: float  # CPU-seconds this process used during the run
    wall_s: float
    connections: int  # connections opened
    send_lags: list[float] = field(default_factory=list)
    # When each API request (not media) finished, in seconds from the measured window's
    # start, warm-up ones included: what the servers completed inside the window.
    completions: list[float] = field(default_factory=list)

    @property
    def error_rate(self) -> float:
        return self.errors / self.sent if self.sent else 0.0

    def p(self, q: float, hist: str = "intended") -> float | None:
        h = self.intended if hist == "intended" else self.service
        if h.get_total_count() == 0:
            return None
        return h.get_value_at_percentile(q) / 1000.0  # ms

    @property
    def achieved_rps(self) -> float:
        return len([s for s in self.samples if s.kind != "media"]) / self.config.duration

    @property
    def completed_rps(self) -> float:
        """API requests the servers answered inside the measured window, per second. Every
        request sent is answered in the end (the sender never stops), so `achieved_rps`
        stays at the offered rate past saturation; what the servers complete per second
        stops at their capacity, whatever the latency allowed (issue 23)."""
        d = self.config.duration
        return sum(1 for c in self.completions if 0.0 <= c <= d) / d

    @property
    def generator_cpu_share(self) -> float:
        """The load generator's CPU over the run, in CPUs (1.0 = one core busy)."""
        return self.generator_cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def edge_hit_ratio(self) -> float | None:
        anon = [s for s in self.samples if s.anonymous and s.edge is not None and s.kind != "media"]
        return sum(1 for s in anon if s.edge in EDGE_HITS) / len(anon) if anon else None

    def summary(self) -> dict[str, float | int | None]:
        return {
            "offered_rps": self.config.rate,
            "achieved_rps": round(self.achieved_rps, 1),
            "completed_rps": round(self.completed_rps, 1),
            "sent": self.sent,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 5),
            "p50_ms": _r(self.p(50)),
            "p99_ms": _r(self.p(99)),
            "p999_ms": _r(self.p(99.9)),
            "max_ms": _r(self.intended.get_max_value() / 1000.0)
            if self.intended.get_total_count()
            else None,
            "service_p99_ms": _r(self.p(99, "service")),
            "max_send_lag_ms": round(self.max_send_lag_s * 1000, 2),
            "generator_cpu": round(self.generator_cpu_share, 3),
            "connections": self.connections,
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class _Pool:
    """Idle keep-alive clients (one connection per host each), opened on demand."""

    def __init__(self, limit: int, timeout: float) -> None:
        self.limit = limit
        self.timeout = timeout
        self.idle: list[RawClient] = []
        self.opened = 0
        self._free = asyncio.Condition()

    async def take(self) -> RawClient:
        async with self._free:
            while not self.idle and self.opened >= self.limit:
                await self._free.wait()
            if self.idle:
                return self.idle.pop()
            self.opened += 1
            return RawClient(self.timeout)

    async def give(self, client: RawClient) -> None:
        async with self._free:
            self.idle.append(client)
            self._free.notify()

    async def close(self) -> None:
        for client in self.idle:
            await client.close()


async def run_open_loop(
    config: OpenLoopConfig,
    maker: RequestMaker,
    events: Sequence[tuple[float, Callable[[], object]]] = (),
) -> OpenLoopResult:
    """Send on the schedule for warmup + duration seconds; figures over the measured part.

    `events` are (seconds after start, callable) run in a thread mid-run (counter marks)."""
    config.validate()
    rng = random.Random(config.seed)
    pool = _Pool(config.max_connections, config.timeout)
    intended_h, service_h = new_histogram(), new_histogram()
    samples: list[Sample] = []
    counts = {"errors": 0, "sent": 0}
    lags: list[float] = []
    completions: list[float] = []
    due = schedule(config.rate, config.warmup + config.duration)
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.05  # a moment to set up before the first send is due

    async def one(at: float) -> None:
        measured = at >= config.warmup
        req = maker.make(rng)
        client = await pool.take()
        sent = time.perf_counter()
        edge = location = None
        try:
            base = config.resolve() if config.resolve is not None else config.base_url
            resp = await client.request(req.method, base + req.path, req.headers, req.body)
            status = resp.status
            edge = resp.headers.get("x-cache-status")
            location = resp.headers.get("location")
        except TRANSPORT_ERRORS:
            status = TRANSPORT_ERROR
        done = time.perf_counter()
        completions.append(done - t0 - config.warmup)
        if measured:
            from_intended = done - (t0 + at)
            counts["sent"] += 1
            samples.append(
                Sample(at - config.warmup, from_intended, status, req.kind, req.anonymous, edge)
            )
            if is_error(status):
                counts["errors"] += 1
            else:
                intended_h.record_value(max(LOWEST_US, int(from_intended * 1e6)))
                service_h.record_value(max(LOWEST_US, int((done - sent) * 1e6)))
        if config.follow_media and location and 300 <= status < 400 and status != 304:
            await _media(client, location, at, measured, config.warmup, req.anonymous, samples)
        await pool.give(client)

    async def fire(at: float, action: Callable[[], object]) -> None:
        await asyncio.sleep(max(0.0, t0 + at - time.perf_counter()))
        await asyncio.to_thread(action)

    side = [asyncio.create_task(fire(at, action)) for at, action in events]
    tasks: set[asyncio.Task] = set()
    for at in due:
        wait = t0 + at - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        lag = time.perf_counter() - (t0 + at)
        if at >= config.warmup:
            lags.append(lag)
        task = asyncio.create_task(one(at))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks))
    await asyncio.gather(*side)
    wall = time.perf_counter() - t0
    await pool.close()
    return OpenLoopResult(
        config=config,
        samples=samples,
        intended=intended_h,
        service=service_h,
        sent=counts["sent"],
        errors=counts["errors"],
        max_send_lag_s=max(lags, default=0.0),
        generator_cpu_s=time.process_time() - cpu0,
        wall_s=wall,
        connections=pool.opened,
        send_lags=lags,
        completions=completions,
    )


async def _media(
    client: RawClient,
    location: str,
    at: float,
    measured: bool,
    warmup: float,
    anonymous: bool,
    samples: list[Sample],
) -> None:
    """The poster bytes a redirect points at (loopback only), timed from their own send."""
    got = await fetch_media(client, location)
    if got is not None and measured:
        status, edge, _started, latency = got
        samples.append(Sample(at - warmup, latency, status, "media", anonymous, edge))


def run(
    config: OpenLoopConfig,
    maker: RequestMaker,
    events: Sequence[tuple[float, Callable[[], object]]] = (),
) -> OpenLoopResult:
    return asyncio.run(run_open_loop(config, maker, events))
