"""`python -m lab table`: a bench.json's figures as the Markdown tables the README and
docs/lab.md show, so the committed tables are printed from one run's file, not typed in.

Two tables: every stage's figures (each run's rate held and the model calibrated on that
run, the first run's other columns), and the stage story (each stage against the one
before it, and whether it ran out of the tier the next stage's spec `removes`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
    """The lab's tier as the specs name it (db-replica1 -> db-replicas)."""
    if tier is None:
        return "-"
    return "db-replicas" if tier.startswith("db-replica") else tier


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
        ratios = [
            f"{h / m:.2f}"
            if isinstance(h, int | float) and isinstance(m, int | float) and m
            else "-"
            for h, m in zip(held, models, strict=True)
        ]
        steady = row.get("steady_state") or {}
        steady_s = f"{steady.get('seconds', 0):.0f} s" + (
            "" if steady.get("reached", True) else " (not reached)"
        )
        cells = [
            stage,
            _fleet(row),
            _budgets(row),
            _joined([_num(h) for h in held]),
            _share((spreads.get(stage) or {}).get("spread")) if len(runs) > 1 else "-",
            f"{neck.get('tier') or '-'} ({_num(busy, '.0%') if busy is not None else '-'})",
            _joined([_num(m) for m in models]),
            (row.get("model") or {}).get("bottleneck") or "-",
            _joined(ratios),
            _num(sat.get("p99_ms")),
            _num(row.get("db_reads_per_request"), ".3f"),
            _share(row.get("cache_hit_ratio")),
            _share(row.get("edge_hit_ratio")),
            steady_s,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def story_table(report: Mapping[str, Any], removes: Mapping[str, str | None]) -> str:
    """Each stage against the one before it; `removes`: stage -> its spec's `removes`."""
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
        nxt = order[i + 1] if i + 1 < len(order) else None
        wants = removes.get(nxt) if nxt else None
        agrees = [("yes" if n == wants else "**no**") for n in necks] if wants else ["-"]
        lines.append(
            "| "
            + " | ".join(
                [
                    stage,
                    _joined(factors) if factors else "-",
                    _joined(necks),
                    f"{nxt}: {wants}" if nxt else "-",
                    _joined(agrees),
                ]
            )
            + " |"
        )
    return "\n".join(lines)
