"""`python -m infra cost`: the monthly cost of a stack, from plans or a real preview.

``model`` (cost lines, the traffic model), ``pricers`` (one per resource type),
``from_plans`` and ``from_preview`` (the two sources, both priced by ``pricers.price_plan``
into ``StackCost``), ``render``, ``cli``. Prices and usage assumptions are the pricing
layer's (``infra.pricing``). The names below are the package's public API.
"""

from infra.pricing.prices import CostError, PriceTable, load_prices, usd_text
from infra.review.cost.cli import main
from infra.review.cost.from_plans import cost_stack
from infra.review.cost.from_preview import before_after, price_both
from infra.review.cost.model import (
    Assumptions,
    Line,
    Scenario,
    StackCost,
    Traffic,
    load_assumptions,
    traffic_for,
)
from infra.review.cost.pricers import PRICERS, price_plan
from infra.review.cost.render import render_markdown, summary_rows

__all__ = [
    "PRICERS",
    "Assumptions",
    "CostError",
    "Line",
    "PriceTable",
    "Scenario",
    "StackCost",
    "Traffic",
    "before_after",
    "cost_stack",
    "load_assumptions",
    "load_prices",
    "main",
    "price_both",
    "price_plan",
    "render_markdown",
    "summary_rows",
    "traffic_for",
    "usd_text",
]
