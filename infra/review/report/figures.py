"""What each stage carries, per the capacity model and per the lab, and what its move did in
the lab's rehearsal: the figures behind the report's cost-against-load chart.

- **Model**: the peak request rate at which the stage's first tier runs out (its load
  reaches its capacity: headroom 0, not the 30% planning margin), on the capacity model's
  own checks (``infra.capacity.checks.stage_checks``). Only the traffic grows: the catalogue
  stays at today's size, because the chart's axis is request rate and the lab holds its
  catalogue fixed too. (``infra.capacity.road.runs_out_at`` grows traffic and catalogue
  together, as the 5x target does: there memory checks, not request rate, end most stages.)
- **Lab**: ``lab/results/saturation.json``'s ``measured_rps`` (highest rate held within the
  SLO with every tier on a CPU budget of ``lab_cpu_per_vcpu`` x its AWS vCPUs), carried to
  AWS by the lab's stated scale, the only conversion docs/lab.md gives: "1 AWS vCPU = 0.05
  lab CPU ... the lab then models a stage at 1/20 of its size" (lab/budgets.py), with
  ``assumptions/capacity.yaml`` ``lab.aws_vcpu_per_lab_vcpu`` (the work of one AWS vCPU in lab
  CPUs, 1.0), the factor the capacity model applies to every lab-measured rate
  (infra/capacity/inputs.py ``load_rates``).
- **Moves**: ``lab/results/moves.json`` (``python -m lab move``): per move, errors during
  it, its longest error window in AWS seconds and acknowledged writes lost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.capacity.checks import TierCheck, stage_checks
from infra.capacity.inputs import SECONDS_PER_DAY, CapacityFile, Observed, Rates, Workload
from infra.config import StageSpec, replace
from infra.jsonfile import JsonError, load_json

SATURATION = REPO_ROOT / "lab" / "results" / "saturation.json"
MOVES = REPO_ROOT / "lab" / "results" / "moves.json"
# The search bound, as infra/capacity/road.py's: a stage still standing at 10,000x today's
# traffic is shown as "beyond".
UPPER = 10_000.0


class FiguresError(ValueError):
    """A lab results file the report cannot read; the message is one line."""


# --- the model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCeiling:
    multiplier: float | None  # x today's peak traffic; None: beyond UPPER
    rps: float | None  # peak requests/s (all requests, before any edge) at that multiplier
    hits_per_day: float | None
    tier: str | None  # the first tier to run out, and which of its measures
    measure: str | None


def peak_rps(w: Workload, traffic: float) -> float:
    """Peak requests/s at `traffic` x today's hits: flow()'s rate (infra/capacity/flow.py)."""
    return w.hits_per_day * traffic / SECONDS_PER_DAY * w.peak_factor


def _run_out(
    spec: StageSpec, w: Workload, rates: Rates, obs: Observed, traffic: float
) -> list[TierCheck]:
    """The checks whose load exceeds their capacity at `traffic` x today's hits, today's
    catalogue (the workload's "today" scale with its hits multiplied)."""
    grown = replace(w, hits_per_day=w.hits_per_day * traffic)
    return [
        c
        for c in stage_checks(spec, grown, rates, obs)
        if (h := c.headroom("today")) is not None and h < 0
    ]


def model_ceiling(
    spec: StageSpec, w: Workload, rates: Rates, obs: Observed, upper: float = UPPER
) -> ModelCeiling:
    """The least traffic multiplier in [1, upper] at which a check runs out (to 0.1%, by
    bisection: every load in the model grows with the traffic), and that check."""
    if not _run_out(spec, w, rates, obs, upper):
        return ModelCeiling(None, None, None, None, None)
    lo, hi = 1.0, upper
    if not _run_out(spec, w, rates, obs, lo):
        while hi / lo > 1.001:
            mid = math.sqrt(lo * hi)
            lo, hi = (lo, mid) if _run_out(spec, w, rates, obs, mid) else (mid, hi)
    else:
        hi = lo  # already out at today's peak
    first = min(_run_out(spec, w, rates, obs, hi), key=lambda c: c.headroom("today") or 0.0)
    return ModelCeiling(hi, peak_rps(w, hi), w.hits_per_day * hi, first.tier, first.measure)


# --- the lab -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LabRate:
    lab_rps: float  # measured at the lab's scale
    lab_cpu_per_vcpu: float  # the scale it ran at
    aws_vcpu_per_lab_vcpu: float
    bottleneck: str | None
    movies: int | None  # the lab's catalogue (scale.movies)

    @property
    def aws_rps(self) -> float:
        """The lab's rate at AWS size: its budgets are lab_cpu_per_vcpu x the AWS vCPUs."""
        return self.lab_rps / self.lab_cpu_per_vcpu * self.aws_vcpu_per_lab_vcpu


def _number(doc: Mapping[str, Any], key: str, where: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise FiguresError(f"{where}: {key} is {value!r}; allowed: a number above 0")
    return float(value)


def lab_rates(path: Path = SATURATION, capacity_file: Path | None = None) -> dict[str, LabRate]:
    """stage -> the lab's measured saturation; {} when the lab has not run (no file)."""
    if not path.is_file():
        return {}
    try:
        doc = load_json(path, "lab saturation results")
    except JsonError as exc:
        raise FiguresError(str(exc)) from None
    scale, stages = doc.get("scale"), doc.get("stages")
    if not isinstance(scale, dict) or not isinstance(stages, dict):
        raise FiguresError(f"{path}: needs objects 'scale' and 'stages'; see docs/lab.md")
    factor = _number(scale, "lab_cpu_per_vcpu", f"{path} scale")
    cap = CapacityFile.load() if capacity_file is None else CapacityFile.load(capacity_file)
    movies = scale.get("movies")
    movies = movies if isinstance(movies, int) and not isinstance(movies, bool) else None
    out: dict[str, LabRate] = {}
    for stage, row in stages.items():
        if not isinstance(row, dict) or row.get("measured_rps") is None:
            continue  # a stage the bench could not saturate: not measured
        rps = _number(row, "measured_rps", f"{path} stages.{stage}")
        bottleneck = row.get("measured_bottleneck")
        out[stage] = LabRate(
            rps, factor, cap.aws_vcpu_per_lab_vcpu, str(bottleneck) if bottleneck else None, movies
        )
    return out


# --- the rehearsed moves -----------------------------------------------------------------


@dataclass(frozen=True)
class MoveResult:
    move: str  # "FROM -> TO"
    not_rehearsed: str | None  # why, when the rehearsal skipped the move
    errors: int | None = None  # failed requests during the move
    offered: int | None = None
    longest_error_window_aws_s: float | None = None
    writes_lost: int | None = None


def _int(doc: Mapping[str, Any], key: str, where: str) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FiguresError(f"{where}: {key} is {value!r}; allowed: a whole number >= 0")
    return value


def _move(entry: Mapping[str, Any], where: str) -> MoveResult:
    move = str(entry["move"])
    if entry.get("not_rehearsed"):
        return MoveResult(move, str(entry["not_rehearsed"]))
    during, writes = entry.get("during"), entry.get("writes")
    if not isinstance(during, dict) or not isinstance(writes, dict):
        raise FiguresError(f"{where}: needs objects 'during' and 'writes' (lab/replay.py)")
    window = entry.get("longest_error_window_aws_s")
    if isinstance(window, bool) or not isinstance(window, int | float) or window < 0:
        raise FiguresError(
            f"{where}: longest_error_window_aws_s is {window!r}; allowed: a number >= 0"
        )
    return MoveResult(
        move,
        None,
        errors=_int(during, "errors", f"{where}.during"),
        offered=_int(during, "offered", f"{where}.during"),
        longest_error_window_aws_s=float(window),
        writes_lost=_int(writes, "lost", f"{where}.writes"),
    )


def moves(path: Path = MOVES, env: str = "prod") -> dict[str, MoveResult]:
    """ "FROM -> TO" -> the rehearsal's figures for `env`; {} when nothing was rehearsed."""
    if not path.is_file():
        return {}
    try:
        doc = load_json(path, "lab move results")
    except JsonError as exc:
        raise FiguresError(str(exc)) from None
    entries = doc.get("moves") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise FiguresError(f"{path}: needs a list 'moves' (python -m lab move)")
    out: dict[str, MoveResult] = {}
    for i, entry in enumerate(entries):
        where = f"{path} moves[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("move"), str):
            raise FiguresError(f"{where}: needs a string 'move' like 'edge -> scale-5x'")
        if entry.get("env", env) != env:
            continue
        result = _move(entry, where)
        out[result.move] = result
    return out


def move_key(old: str, new: str) -> str:
    """moves.json's name of a move (lab/replay.py ``rehearse``)."""
    return f"{old} -> {new}"
