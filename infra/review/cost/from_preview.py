"""``python -m infra cost --preview FILE [--state FILE]`` and ``cost --state FILE``.

The stack after the preview (the state export, or the preview's ``same`` steps, with every
step applied) is priced with the offline price table and traffic model; the stack before
it too, and the table shows the change per scenario (today, and the target at 5x for prod).
A resource whose price depends on a value the engine does not know yet (an instance type
from an unknown output, say) or on a secret is not priced: it is listed, and both totals
say they leave it out. Reads (resources not managed by this stack) and providers cost
nothing here.
"""

from __future__ import annotations

from typing import Any

from infra.plans.preview import Preview, priceable
from infra.pricing.prices import CostError, PriceTable
from infra.review.cost.model import Assumptions, StackCost
from infra.review.cost.pricers import price_plan


def price_both(
    plan: dict[str, Any], env: str, label: str, table: PriceTable, a: Assumptions
) -> tuple[StackCost, StackCost]:
    today, target = a.scenarios(env)
    plan = priceable(plan)
    return price_plan(plan, today, table, a, label), price_plan(plan, target, table, a, label)


def before_after(
    preview: Preview, state: dict[str, Any] | None, table: PriceTable, a: Assumptions
) -> tuple[tuple[StackCost, StackCost], tuple[StackCost, StackCost]]:
    if state is None and preview.partial:
        raise CostError(
            f"{preview.source}: a partial preview cannot be priced: {preview.unseen_text()}; "
            "allowed: --state FILE from `pulumi stack export`, or a whole preview"
        )
    env = preview.env or "?"
    if env not in ("dev", "prod"):
        raise CostError(f"{preview.source}: environment {env!r} unknown; allowed: dev, prod")
    before = price_both(preview.old_plan(state), env, f"{env} now", table, a)
    after = price_both(
        preview.new_plan(state), env, f"{env} after ({preview.stage or '?'})", table, a
    )
    return before, after
