"""Usage assumptions (assumptions/usage.yaml): what the bill needs on top of the workload.

``HOURS_PER_MONTH`` is read from the file, its one home, so the sizer (capacity) and the
cost model (review) bill the same month.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from infra import ASSUMPTIONS_DIR
from infra.pricing.prices import CostError, read_yaml

USAGE = ASSUMPTIONS_DIR / "usage.yaml"


def load_usage(path: Path = USAGE) -> dict[str, Any]:
    doc = read_yaml(path, "usage assumptions")
    if not isinstance(doc, dict) or "hours_per_month" not in doc:
        raise CostError(f"{path}: expected a mapping with 'hours_per_month'")
    return doc


def hours_per_month(usage: dict[str, Any]) -> float:
    """The hours a month is billed for, from a usage document (``load_usage``)."""
    return float(usage["hours_per_month"])


# AWS bills a month as 730 hours (8,760 h / 12); usage.yaml says so and why.
HOURS_PER_MONTH: float = hours_per_month(load_usage())


def hourly_profile(peak: float, trough: float) -> list[float]:
    """24 hourly load factors: mean 1, maximum ``peak``, minimum ``trough``.

    f(h) = trough + (1 - trough) * g(h), where g is a raised cosine (trough at 08:00,
    peak at 20:00 UTC) to the power k, normalised to mean 1; k is solved so that the
    peak of f equals ``peak``.
    """
    want = (peak - trough) / (1 - trough)  # the peak/mean ratio g needs
    base = [1 + math.cos(2 * math.pi * (h - 20) / 24) for h in range(24)]

    def g(k: float) -> list[float]:
        vals = [b**k for b in base]
        mean = sum(vals) / 24
        return [v / mean for v in vals]

    lo, hi = 0.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if max(g(mid)) < want else (lo, mid)
    return [trough + (1 - trough) * v for v in g(lo)]
