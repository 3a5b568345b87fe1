"""`python -m lab table`: a bench.json's figures as Markdown tables (the README's and
docs/lab.md's lab tables are printed by it), so committed tables come from one run's file,
not typed in.

Two tables: every stage's figures (each run's rate held and the model calibrated on that
run, the first run's other columns; `(in)` marks a stage whose own row set the model's
costs), and the stage story (each stage against the one before it, and whether it ran out
of the tier the next stage in the stage table `removes`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infra.config import STAGES
from lab.bench import spec_tier

STAGE_HEADER = (
    "| stage | fleet | budgets (lab CPU) | holds rps (runs) | spread | bottleneck (busy at "
    "fail) | model rps (runs) | model bottleneck | measured / model (runs) | p99 lab ms | "
    "DB reads/req | cache hit | edge hit | steady state |\n"
    "|---|---|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---|"
)
STORY_HEADER = (
    "| stage | holds, x the stage before (runs) | bottleneck (runs) | the next stage "
    "removes | agrees (runs) |\n|---|---|---|---|---|"
)


def _num(value: Any, spec: str = ",.0f") -> str:
    return "-" if not isinstance(value, int | float) else format(value, spec)


def _share(value: Any) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.1%}"


def _runs(report: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    runs = report.get("runs") or [{"stages": report.get("stages", [])}]
    return [list(r["stages"]) for r in runs]


def _by_stage(rows: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {r["stage"]: r for r in rows}


def _joined(values: Sequence[str]) -> str:
    return " / ".join(values)


def _fleet(row: Mapping[str, Any]) -> str:
    instances = (row.get("fleet") or {}).get("instances") or {}
    return ", ".join(f"{k} {v}" for k, v in sorted(instances.items())) or "-"


def _budgets(row: Mapping[str, Any]) -> str:
    tiers = (row.get("budgets") or {}).get("tiers") or []
    parts = [f"{t['tier']} {t['lab_cpus']:.3f}" for t in tiers if t.get("lab_cpus") is not None]
    return ", ".join(parts) or "-"


def _tier(tier: str | None) -> str:
    return "-" if tier is None else spec_tier(tier)


def _ratio(held: Any, model: Mapping[str, Any]) -> str:
    rps = model.get("rps")
    if not isinstance(held, int | float) or not isinstance(rps, int | float) or not rps:
        return "-"
    return f"{held / rps:.2f}" + (" (in)" if model.get("input_stage") else "")


def _steady(row: Mapping[str, Any]) -> str:
    steady = row.get("steady_state") or {}
    seconds = steady.get("seconds")
    if not isinstance(seconds, int | float):
        return "-"
    return f"{seconds:.0f} s" + ("" if steady.get("reached", True) else " (not reached)")


def stage_table(report: Mapping[str, Any]) -> str:
    """Every stage's row: each run's rate held and model, the first run's other columns."""
    runs = _runs(report)
    spreads = report.get("spread") or {}
    lines = [STAGE_HEADER]
    for row in runs[0]:
        stage = row["stage"]
        each = [_by_stage(rows).get(stage) or {} for rows in runs]
        sat = row.get("saturation") or {}
        neck = sat.get("bottleneck") or {}
        busy = neck.get("busy")
        held = [(r.get("saturation") or {}).get("rps") for r in each]
        models = [(r.get("model") or {}).get("rps") for r in each]
        ratios = [_ratio(h, r.get("model") or {}) for h, r in zip(held, each, strict=True)]
        cells = [
            stage,
            _fleet(row),
            _budgets(row),
            _joined([_num(h) for h in held]),
            _share((spreads.get(stage) or {}).get("spread")) if len(runs) > 1 else "-",
            f"{neck.get('tier') or '-'} ({_num(busy, '.0%')})",
            _joined([_num(m) for m in models]),
            (row.get("model") or {}).get("bottleneck") or "-",
            _joined(ratios),
            _num(sat.get("p99_ms")),
            _num(row.get("db_reads_per_request"), ".3f"),
            _share(row.get("cache_hit_ratio")),
            _share(row.get("edge_hit_ratio")),
            _steady(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def story_table(report: Mapping[str, Any], removes: Mapping[str, str | None]) -> str:
    """Each stage against the one before it; `removes`: stage -> its spec's `removes`. The
    next stage is the stage table's (infra.config.STAGES), as the bench's targets take it,
    whether or not this bench ran it."""
    runs = _runs(report)
    order = [r["stage"] for r in runs[0]]
    lines = [STORY_HEADER]
    for i, stage in enumerate(order):
        each = [_by_stage(rows).get(stage) or {} for rows in runs]
        before = [_by_stage(rows).get(order[i - 1]) or {} for rows in runs] if i else []
        factors = []
        for now, prev in zip(each, before, strict=False):
            a = (now.get("saturation") or {}).get("rps")
            b = (prev.get("saturation") or {}).get("rps")
            factors.append(f"{a / b:.2f}x" if a and b else "-")
        necks = [
            _tier(((r.get("saturation") or {}).get("bottleneck") or {}).get("tier")) for r in each
        ]
        at = STAGES.index(stage) if stage in STAGES else len(STAGES)
        nxt = STAGES[at + 1] if at + 1 < len(STAGES) else None
        wants = removes.get(nxt) if nxt else None
        agrees = [("yes" if n == wants else "**no**") for n in necks] if wants else ["-"]
        cells = [
            stage,
            _joined(factors) if factors else "-",
            _joined(necks),
            f"{nxt}: {wants}" if nxt else "-",
            _joined(agrees),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
