"""The machine's speed: the CPU time one fixed piece of Python work takes.

The lab gives each tier a CPU budget, so it measures capacity in CPU-seconds; on a shared
host what a CPU-second does is not fixed. On the development machine, 2026-12-06 23:10-23:12
UTC, idle: 20 million additions took 1.93-3.59 CPU-s over eleven runs minutes apart, and the
test suite's same files cost 262 and 338 CPU-s in two runs an hour apart. The bench times
this reference before and after each stage's saturation search (`machine_speed` in each
row), so that a figure that moved between runs can be read against the machine's own
speed; `python -m lab speed` prints a series of it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

# 0.09-0.14 CPU-s on the development machine: cheap enough to take around every stage, long
# enough that the clock's resolution and one scheduler tick are a small part of it.
ITERATIONS = 2_000_000


def reference_seconds(iterations: int = ITERATIONS) -> float:
    """CPU seconds this thread spends on `iterations` integer additions."""
    if iterations <= 0:
        raise ValueError(f"iterations={iterations}; allowed a positive integer")
    start = time.thread_time()
    total = 0
    for i in range(iterations):
        total += i
    return time.thread_time() - start


@dataclass(frozen=True)
class Speed:
    """Samples of `reference_seconds`, in CPU seconds (higher: a slower machine)."""

    samples: tuple[float, ...]
    iterations: int = ITERATIONS

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Slowest over fastest (1.0: all the same)."""
        return max(self.samples) / min(self.samples)

    def as_dict(self) -> dict[str, object]:
        return {
            "iterations": self.iterations,
            "cpu_seconds": [round(s, 4) for s in self.samples],
            "median": round(self.median, 4),
            "spread": round(self.spread, 3),
        }


def measure(
    repeat: int = 3,
    iterations: int = ITERATIONS,
    interval: float = 0.0,
    sample: Callable[[int], float] = reference_seconds,
    sleep: Callable[[float], None] = time.sleep,
) -> Speed:
    """`repeat` samples of the reference, `interval` seconds apart."""
    if repeat <= 0:
        raise ValueError(f"repeat={repeat}; allowed a positive integer")
    if interval < 0:
        raise ValueError(f"interval={interval}; allowed >= 0 seconds")
    samples = []
    for n in range(repeat):
        if n and interval:
            sleep(interval)
        samples.append(sample(iterations))
    return Speed(tuple(samples), iterations)
