"""Each stage's two saturation rates, raw and scaled by the machine's speed (the median of
the reference loop's six CPU-s samples, before and after the stage's search), with the
spread (max - min) / median of each pair. Usage: spread_vs_speed.py BENCH_JSON."""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

REFERENCE_SECONDS = 0.1  # any constant: it scales both runs alike, the spread is unchanged


def speed(stage: dict[str, Any]) -> float:
    measured = stage.get("machine_speed") or {}
    samples = [
        v for w in ("before", "after") for v in (measured.get(w) or {}).get("cpu_seconds", [])
    ]
    return statistics.median(samples) if samples else math.nan


def spread(a: float, b: float) -> float:
    return abs(a - b) / statistics.median([a, b]) if a and b else math.nan


def main(path: str) -> None:
    runs = json.loads(Path(path).read_text())["runs"]
    header = ("stage", "rps r1", "rps r2", "spread", "spd r1", "spd r2", "norm r1", "norm r2")
    print("{:14} {:>8} {:>8} {:>7} | {:>7} {:>7} | {:>8} {:>8} {:>7}".format(*header, "spread"))
    for first, second in zip(runs[0]["stages"], runs[1]["stages"], strict=True):
        r1, r2 = first["saturation"]["rps"], second["saturation"]["rps"]
        v1, v2 = speed(first), speed(second)
        n1, n2 = r1 * v1 / REFERENCE_SECONDS, r2 * v2 / REFERENCE_SECONDS
        print(
            f"{first['stage']:14} {r1:8.1f} {r2:8.1f} {spread(r1, r2):7.2f} | "
            f"{v1:7.3f} {v2:7.3f} | {n1:8.1f} {n2:8.1f} {spread(n1, n2):7.2f}"
        )


if __name__ == "__main__":
    main(sys.argv[1])
