"""The price table (assumptions/prices.yaml): one row per billed unit, with its source.

The pricing layer sits below both ``capacity`` (the sizer prices its options) and
``review`` (the cost tool prices plans), so neither imports the other for a price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import ASSUMPTIONS_DIR
from infra.yamlfile import YamlError, load_yaml

PRICES = ASSUMPTIONS_DIR / "prices.yaml"


class CostError(ValueError):
    """A plan the cost model cannot price; the message is one line naming what is missing."""


@dataclass(frozen=True)
class PriceTable:
    rows: dict[str, dict[str, Any]]
    free: dict[str, str]

    def row(self, row_id: str, why: str) -> dict[str, Any]:
        if row_id not in self.rows:
            raise CostError(f"no price row {row_id!r} in {PRICES.name} (needed for {why})")
        return self.rows[row_id]

    def charge(self, row_id: str, quantity: float, why: str) -> tuple[float, str]:
        """Monthly USD for ``quantity`` units of a row, and the arithmetic as text."""
        row = self.row(row_id, why)
        if "tiers" not in row:
            return quantity * row[
                "usd"
            ], f"{num_text(quantity)} {row['unit']} x {usd_text(row['usd'])}"
        total, done, parts = 0.0, 0.0, []
        for tier in row["tiers"]:
            cap = math.inf if tier["upto_gb"] is None else tier["upto_gb"]
            take = max(0.0, min(quantity, cap) - done)
            if take > 0:
                total += take * tier["usd"]
                parts.append(f"{num_text(take)} GB x {usd_text(tier['usd'])}")
            done = max(done, min(quantity, cap))
        return total, " + ".join(parts) or f"0 {row['unit']}"


def read_yaml(path: Path, what: str) -> Any:
    try:
        return load_yaml(path, what)
    except YamlError as exc:
        raise CostError(str(exc)) from None


def load_prices(path: Path = PRICES) -> PriceTable:
    doc = read_yaml(path, "price table")
    for row_id, row in doc["prices"].items():
        for key in ("unit", "what", "source", "date"):
            if key not in row:
                raise CostError(f"price row {row_id!r} lacks {key!r}")
        if "usd" not in row and "tiers" not in row:
            raise CostError(f"price row {row_id!r} has neither 'usd' nor 'tiers'")
    return PriceTable(rows=doc["prices"], free=doc.get("free") or {})


def usd_text(x: float) -> str:
    """A unit price without scientific notation: 0.000001 -> '$0.000001'."""
    return "$" + (f"{x:.7f}".rstrip("0").rstrip(".") if x < 1 else f"{x:g}")


def num_text(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}"
