"""`lab load`: the bench's load against whatever stage is up, with the stage's figures; and
`run_mix_load`, the same mix with mid-run events, which the faults drive (here, not in
lab/load.py, which the stack imports: the seeded keys come from the stack)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from lab import observe, stack
from lab.load import LoadConfig, LoadResult, Mix, RequestMaker, run_with_progress
from lab.procs import LabError
from lab.results import stage_row
from lab.state import Registry


def stage_maker(reg: Registry) -> RequestMaker:
    """The workload's mix over the stage's seeded movies, with its users' keys."""
    movies = int(reg.endpoints["movies"])
    readers, writers = stack.load_keys(movies)
    return RequestMaker(Mix.from_workload(), movies, readers, writers)


def load_current(args: argparse.Namespace) -> int:
    reg = Registry.load()
    if not stack.running(reg) or "entry" not in reg.endpoints:
        raise LabError("nothing is up; run `python -m lab up STAGE` first")
    maker = stage_maker(reg)
    config = LoadConfig(
        base_url=reg.endpoints["entry"],
        duration=args.duration,
        warmup=args.warmup,
        concurrency=args.concurrency,
        client=args.client,
        follow_media=True,
    )
    marks: dict[str, observe.Snapshot] = {}
    result = run_with_progress(
        config,
        maker,
        reg.stage or "load",
        events=[(args.warmup, lambda: marks.__setitem__("before", observe.snapshot(reg)))],
        quiet=args.quiet,
    )
    row = stage_row(reg.stage or "?", reg, result, observe.snapshot(reg).minus(marks["before"]))
    row.pop("topology")
    print(json.dumps(row, indent=2))
    return 0


def run_mix_load(
    reg: Registry,
    args: argparse.Namespace,
    label: str,
    events: list[tuple[float, Callable[[], object]]],
    clock: dict[str, float],
    duration: float | None = None,
) -> LoadResult:
    """The workload's mix against the stage that is up, closed loop, with `events` fired
    mid-run (the faults' actions); `duration` defaults to `args.duration`."""
    config = LoadConfig(
        base_url=reg.endpoints["entry"],
        duration=args.duration if duration is None else duration,
        warmup=args.warmup,
        concurrency=args.concurrency,
        client=args.client,
    )
    maker = stage_maker(reg)
    return run_with_progress(config, maker, label, events=events, quiet=args.quiet, clock=clock)
