"""Source one: offline plans (``python -m infra plan``), priced per scenario."""

from __future__ import annotations

from pathlib import Path

from infra.config import ENVIRONMENTS as ENVS
from infra.config import STAGES
from infra.plans.build import load_or_build
from infra.pricing.prices import PriceTable, load_prices
from infra.review.cost.model import Assumptions, StackCost, load_assumptions
from infra.review.cost.pricers import price_plan


def cost_stack(
    ref: str, table: PriceTable | None = None, a: Assumptions | None = None
) -> tuple[StackCost, StackCost]:
    """Today's and the target's monthly cost of one stack."""
    table, a = table or load_prices(), a or load_assumptions()
    plan = load_or_build(ref)
    today, target = a.scenarios(plan.get("env", ref.split("/")[0]))
    return price_plan(plan, today, table, a, ref), price_plan(plan, target, table, a, ref)


def default_refs() -> list[str]:
    return [f"{env}/{stage}" for env in ENVS for stage in STAGES]


def base_cost(
    base_dir: Path, head: StackCost, table: PriceTable, a: Assumptions
) -> tuple[StackCost, StackCost] | None:
    path = base_dir / f"{head.env}-{head.stage}.json"
    if not path.exists():
        return None
    plan = load_or_build(str(path))
    today, target = a.scenarios(head.env)
    ref = f"{head.env}/{head.stage}"
    return price_plan(plan, today, table, a, ref), price_plan(plan, target, table, a, ref)
