"""`lab fault keepalive`: idle keep-alive connections reused through the ALB stand-in at
the moment one side's idle timer closes them, counting 502s (issue 11, item 3).

An ALB reuses an idle target connection until its idle timeout (60 s by default). If the
service closes it sooner, a request the ALB sends "before it receives the packet
indicating that the connection is closed" is answered 502 ("Connection idle timeout" in
"Edit attributes for your Application Load Balancer", ELB user guide). Both the ALB and
nginx notice a close that arrived while the connection sat idle, so the 502 is a race at
the instant of the service's close: the fault sends bursts of requests after idle gaps
swept across that instant. When the service's keep-alive is longer than the ALB's idle
timeout, the first close is the ALB's own (nginx's `keepalive_timeout`), and no request
can race it. Both values come from the stack's environment profile (`alb_idle_timeout_s`
and `http_keepalive_s`, what infra renders); `--keepalive` overrides the service's.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from typing import Any

from lab import stack
from lab.httpclient import RawClient

STAGE = "load-balanced"
CONNECTIONS = 64  # client connections, each sending one request per burst
MARGIN_S = 0.015  # the sweep reaches this far past either end of the window


def rounds_for(close_s: float) -> int:
    """Bursts in the sweep: 21 around a close a few seconds out, 3 around the ALB's 60 s
    (each round waits the whole gap), so one run stays within a few minutes."""
    return max(3, min(21, int(110 / close_s)))


def sweep(close_s: float, burst_s: float, rounds: int) -> list[float]:
    """Idle gaps (measured from the end of a burst) that cross the instant every target
    connection's idle timer fires: the timers started when each response went out, up to
    one burst's duration before the burst ended."""
    first, last = close_s - burst_s - MARGIN_S, close_s + MARGIN_S
    if rounds == 1:
        return [close_s]
    return [first + (last - first) * i / (rounds - 1) for i in range(rounds)]


async def _burst(clients: list[RawClient], url: str) -> tuple[Counter[str], float]:
    async def one(client: RawClient, i: int) -> str:
        try:
            return str((await client.request("GET", f"{url}/movies/{i + 1}")).status)
        except (OSError, TimeoutError, ValueError):
            return "transport error"

    started = time.monotonic()
    results = await asyncio.gather(*(one(c, i) for i, c in enumerate(clients)))
    return Counter(results), time.monotonic() - started


async def probe(entry: str, close_s: float, rounds: int, connections: int) -> dict[str, Any]:
    """Two bursts to open and warm every connection (the second one's duration sets the
    sweep), then one burst after each idle gap."""
    clients = [RawClient(timeout=10) for _ in range(connections)]
    try:
        warm, _ = await _burst(clients, entry)
        await asyncio.sleep(0.2)
        more, burst_s = await _burst(clients, entry)
        warm.update(more)
        gaps = sweep(close_s, burst_s, rounds)
        trials = []
        for gap in gaps:
            await asyncio.sleep(gap)
            statuses, _ = await _burst(clients, entry)
            trials.append({"gap_s": round(gap, 4), "statuses": dict(statuses)})
    finally:
        for c in clients:
            await c.close()
    total: Counter[str] = Counter()
    for t in trials:
        total.update(t["statuses"])
    return {
        "warm_burst": dict(warm),
        "burst_seconds": round(burst_s, 4),
        "trials": trials,
        "requests": sum(total.values()),
        "bad_gateway": total.get("502", 0),
        "transport_errors": total.get("transport error", 0),
        "statuses": dict(total),
        "bursts_with_502": sum(1 for t in trials if t["statuses"].get("502")),
    }


def fault_keepalive(args: argparse.Namespace) -> dict[str, Any]:
    overrides = {}
    if args.keepalive is not None:
        overrides["MOVIES_HTTP_KEEPALIVE_S"] = str(args.keepalive)
    reg = stack.up(
        STAGE, args.movies, args.env, not args.no_pin, say=lambda _m: None,
        service_overrides=overrides,
    )  # fmt: skip
    try:
        # Both from the stack's environment profile (what infra renders), unless
        # --keepalive overrides the service's.
        alb_idle = int(reg.endpoints["topology"]["alb_idle_timeout_s"])
        keepalive = int(reg.endpoints["service_env"]["MOVIES_HTTP_KEEPALIVE_S"])
        close_s = float(min(keepalive, alb_idle))
        rounds = args.rounds or rounds_for(close_s)
        result = asyncio.run(probe(reg.endpoints["entry"], close_s, rounds, CONNECTIONS))
    finally:
        stack.down(say=lambda _m: None)
    first = "service" if keepalive < alb_idle else "ALB stand-in"
    return {
        "fault": "keepalive",
        "stage": STAGE,
        "what": f"{CONNECTIONS} keep-alive connections through the ALB stand-in send one "
        f"request each per burst; {rounds} bursts after idle gaps swept across the first "
        f"idle close ({first}'s, at {close_s:g}s); 502s counted",
        "service_keepalive_s": keepalive,
        "alb_idle_timeout_s": alb_idle,
        "first_close_by": first,
        **result,
        "result_key": "keepalive" if args.keepalive is None else f"keepalive@{keepalive}s",
    }


def headline(r: dict[str, Any]) -> str:
    return (
        f"keepalive: service keep-alive {r['service_keepalive_s']}s, ALB idle timeout "
        f"{r['alb_idle_timeout_s']}s: {r['bad_gateway']} of {r['requests']} requests "
        f"answered 502 ({r['bursts_with_502']} of {len(r['trials'])} bursts), "
        f"{r['transport_errors']} transport errors"
    )
