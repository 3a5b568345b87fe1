"""`lab load`: the bench's load against whatever stage is up, with the stage's figures."""

from __future__ import annotations

import argparse
import json

from lab import observe, stack
from lab.load import LoadConfig, Mix, RequestMaker, run_with_progress
from lab.procs import LabError
from lab.results import stage_row
from lab.state import Registry


def load_current(args: argparse.Namespace) -> int:
    reg = Registry.load()
    if not stack.running(reg) or "entry" not in reg.endpoints:
        raise LabError("nothing is up; run `python -m lab up STAGE` first")
    movies = int(reg.endpoints["movies"])
    readers, writers = stack.load_keys(movies)
    maker = RequestMaker(Mix.from_workload(), movies, readers, writers)
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
