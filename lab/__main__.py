"""`python -m lab COMMAND`: the stage lab on 127.0.0.1.

up STAGE [--movies N] [--env prod|dev] [--no-pin]   bring a stage's topology up
down                                                 stop every lab process
status                                               what runs, and where
load [--duration S] [--concurrency C] ...            drive the load at the stage that is up
bench [--stages a,b] ...                             every stage: steady state, saturation,
                                                     model beside it (bench.json, saturation.json)
saturate STAGE                                       one stage's saturation point and bottleneck
remodel                                              the model's predictions again for bench.json
table [--out DIR]                                    a bench.json's figures as Markdown tables
fault redis|replica|primary|primary-crash|keepalive|race|herd|sigterm|
      frozen-replica|search-flood|all
                                                     a fault mid-run, with its figure
limit                                                the service vs a minimal ASGI app vs nginx
clientcheck                                          raw asyncio client vs httpx vs nginx
speed [--repeat N] [--interval S]                    the machine's speed: CPU seconds of a
                                                     fixed piece of work, a series (lab/speed.py)
move FROM TO [--env prod|dev] [--time-scale K] | --all | --write-docs
                                                     a stage move rehearsed under load (engine's
                                                     order, AWS effects, runbook steps)
"""

from __future__ import annotations

import argparse
import sys

from infra.config import STAGES, ConfigError
from lab.procs import LabError


def _positive_float(name: str, hi: float):
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={raw!r} is not a number") from None
        if not 0 < value <= hi:
            raise argparse.ArgumentTypeError(f"{name}={value} out of range; allowed 0 < x <= {hi}")
        return value

    return parse


def _float_between(name: str, lo: float, hi: float):
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={raw!r} is not a number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{name}={value} out of range; allowed {lo}..{hi}")
        return value

    return parse


def _int_between(name: str, lo: int, hi: int):
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={raw!r} is not an integer") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{name}={value} out of range; allowed {lo}..{hi}")
        return value

    return parse


def _service_setting(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition("=")
    if not sep or not name.startswith("MOVIES_") or not name[7:].replace("_", "").isalnum():
        raise argparse.ArgumentTypeError(
            f"--service-env: {raw!r} is not MOVIES_NAME=VALUE; allowed: a MOVIES_* setting"
        )
    return name, value


def _stage_list(raw: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in raw.split(",") if s.strip())
    for name in names:
        if name not in STAGES:
            raise argparse.ArgumentTypeError(
                f"--stages: unknown stage {name!r}; allowed: {', '.join(STAGES)}"
            )
    return names


def _load_args(p: argparse.ArgumentParser, duration: float, warmup: float) -> None:
    p.add_argument(
        "--duration",
        type=_positive_float("--duration", 600),
        default=duration,
        help=f"measured seconds (default {duration:g})",
    )
    p.add_argument(
        "--warmup",
        type=_positive_float("--warmup", 120),
        default=warmup,
        help=f"warm-up seconds left out of the figures (default {warmup:g})",
    )
    p.add_argument("--concurrency", type=_int_between("--concurrency", 1, 1000), default=32)
    p.add_argument("--client", choices=("raw", "httpx"), default="raw")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _movies_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--movies", type=_int_between("--movies", 100, 5_000_000), default=100_000)
    p.add_argument(
        "--env",
        choices=("prod", "dev"),
        default="prod",
        help="whose sizes (ASG desired, replicas) to take; default prod",
    )
    p.add_argument(
        "--no-pin", action="store_true", help="do not pin the single box / split-db to CPUs"
    )


def _budget_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scale",
        type=_positive_float("--scale", 1.0),
        default=None,
        help=(
            "lab CPU per AWS vCPU for the tier budgets (default: lab/budgets.py's 0.05, or "
            "the largest factor at which every stage fits this machine at its ceiling)"
        ),
    )
    p.add_argument("--no-budgets", action="store_true", help="run the tiers without CPU cgroups")


def _search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--probe-seconds",
        type=_positive_float("--probe-seconds", 60),
        default=5.0,
        help="measured seconds per saturation probe (default 5)",
    )
    from lab.bench import BenchSettings

    defaults = BenchSettings()  # one home for the bench's defaults
    p.add_argument(
        "--max-probes",
        type=_int_between("--max-probes", 2, 30),
        default=defaults.max_probes,
        help=f"rates probed per stage (default {defaults.max_probes}; a latency-only "
        "failure may be probed once more)",
    )
    p.add_argument(
        "--start-rps",
        type=_positive_float("--start-rps", 20_000),
        default=40.0,
        help="the first probe's rate (default 40)",
    )
    p.add_argument(
        "--steady-bound",
        type=_positive_float("--steady-bound", 600),
        default=defaults.bound,
        help="warm-up bound in seconds: windows run until the hit ratios stop moving "
        f"(default {defaults.bound:g})",
    )
    p.add_argument("--quiet", action="store_true", help="fewer progress lines")
    p.add_argument(
        "--fleet",
        choices=("ceiling", "min"),
        default="ceiling",
        help="auto-scaled fleets at their planned max_size (ceiling, default) or desired (min)",
    )
    p.add_argument(
        "--preload-mass",
        type=_float_between("--preload-mass", 0.0, 1.0),
        default=0.95,
        help="preload the hot set drawing this share of requests before measuring "
        "(0: no preload; default 0.95)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring a stage's topology up on 127.0.0.1")
    up.add_argument("stage", choices=STAGES)
    _movies_arg(up)
    _budget_args(up)
    sub.add_parser("down", help="stop every lab process")
    sub.add_parser("status", help="what runs, and where")
    load = sub.add_parser("load", help="drive the load at the stage that is up")
    _load_args(load, 20, 5)
    bench = sub.add_parser(
        "bench", help="every stage: steady state, saturation search, model beside it"
    )
    bench.add_argument(
        "--stages",
        type=_stage_list,
        default=None,
        help="comma-separated subset (default: every stage)",
    )
    bench.add_argument("--out", default=None, help="results directory (default lab/results)")
    bench.add_argument(
        "--repeat",
        type=_int_between("--repeat", 1, 5),
        default=1,
        help="run the whole bench N times; records every run and the spread per stage",
    )
    _movies_arg(bench)
    _budget_args(bench)
    _search_args(bench)
    bench.add_argument(
        "--service-env",
        type=_service_setting,
        action="append",
        default=[],
        metavar="MOVIES_X=VALUE",
        help="a setting for every API process (repeatable), e.g. MOVIES_HTTP_MAX_AGE=600",
    )
    bench.add_argument(
        "--cold-caches",
        action="store_true",
        help="start Redis empty at every stage (default: carried from the previous stage)",
    )
    remodel = sub.add_parser(
        "remodel", help="the model's predictions again for lab/results/bench.json"
    )
    remodel.add_argument("--out", default=None, help="results directory (default lab/results)")
    table = sub.add_parser("table", help="a bench.json's figures as the README's Markdown tables")
    table.add_argument("--out", default=None, help="results directory (default lab/results)")
    sat = sub.add_parser("saturate", help="one stage's saturation point and bottleneck tier")
    sat.add_argument("stage", choices=STAGES)
    _movies_arg(sat)
    _budget_args(sat)
    _search_args(sat)
    sat.add_argument("--out", default=None, help="write the stage's figures as JSON here")
    fault = sub.add_parser("fault", help="a fault injected mid-run, with its figure")
    fault.add_argument(
        "kind",
        choices=(
            "redis",
            "replica",
            "primary",
            "primary-crash",
            "keepalive",
            "race",
            "herd",
            "sigterm",
            "frozen-replica",
            "search-flood",
            "all",
        ),
    )
    fault.add_argument(
        "--no-deregister",
        action="store_true",
        help="sigterm only: send SIGTERM without deregistering first (the ALB's health "
        "checks find the stopped target), to show what the deregistration saves",
    )
    fault.add_argument(
        "--time-scale",
        type=_positive_float("--time-scale", 1.0),
        default=1.0,
        help="sigterm only: lab seconds per AWS second for the ALB stand-in's health checks "
        "and deregistration delay (default 1: AWS's own 15 s interval and 30 s delay)",
    )
    fault.add_argument(
        "--keepalive",
        type=_int_between("--keepalive", 1, 4100),
        default=None,
        help="keepalive only: the service's MOVIES_HTTP_KEEPALIVE_S for this run (default: "
        "the profile's http_keepalive_s, 75 s); 5 is uvicorn's default, the fault it shows",
    )
    fault.add_argument(
        "--rounds",
        type=_int_between("--rounds", 1, 200),
        default=None,
        help="keepalive only: bursts in the sweep (default 21 for a close a few seconds "
        "out, 3 around the ALB's 60 s)",
    )
    fault.add_argument(
        "--synchronous-commit",
        choices=("on", "off"),
        default="on",
        help="primary-crash only: run with the primary's synchronous_commit off, to show "
        "that the fault catches lost writes (the lab and RDS run with on)",
    )
    fault.add_argument("--herd-size", type=_int_between("--herd-size", 2, 1000), default=200)
    _movies_arg(fault)
    _load_args(fault, 24, 3)
    limit = sub.add_parser("limit", help="the service vs a minimal ASGI app vs nginx static")
    _movies_arg(limit)
    _load_args(limit, 10, 4)
    check = sub.add_parser("clientcheck", help="raw asyncio client vs httpx against nginx")
    _load_args(check, 5, 1)
    spd = sub.add_parser(
        "speed", help="the machine's speed: CPU seconds of a fixed piece of work, a series"
    )
    spd.add_argument("--repeat", type=_int_between("--repeat", 1, 1000), default=10)
    spd.add_argument(
        "--interval", type=_float_between("--interval", 0.0, 3600.0), default=1.0,
        help="seconds between samples (default 1)",
    )  # fmt: skip
    move = sub.add_parser(
        "move",
        help="a stage move rehearsed under load: the engine's order, each step's AWS effect",
    )
    move.add_argument("stages", nargs="*", metavar="FROM TO", help="two consecutive stages")
    move.add_argument("--all", action="store_true", help="every move of the environment")
    move.add_argument("--env", choices=("prod", "dev"), default="prod")
    move.add_argument(
        "--time-scale",
        type=_positive_float("--time-scale", 600),
        default=5.0,
        help="lab seconds per AWS minute (default 5)",
    )
    move.add_argument(
        "--load",
        type=_positive_float("--load", 1.5),
        default=0.5,
        help="share of FROM's measured saturation rate (lab/results/saturation.json)",
    )
    move.add_argument("--movies", type=int, default=100_000)
    move.add_argument("--no-budgets", action="store_true", help="no tier CPU budgets")
    move.add_argument(
        "--timeline-only", action="store_true", help="print the timeline, run nothing"
    )
    move.add_argument("--out", help="moves.json to write (default lab/results/moves.json)")
    move.add_argument(
        "--write-docs",
        action="store_true",
        help="rewrite docs/infra.md's move table (measured column) from moves.json; run nothing",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (LabError, ConfigError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _table(out: str | None) -> int:
    """`table`: print a results directory's bench.json as the README's Markdown tables."""
    import json
    from pathlib import Path

    from lab.bench import stage_removes
    from lab.bench_table import stage_table, story_table
    from lab.results import RESULTS

    path = (Path(out) if out else RESULTS) / "bench.json"
    if not path.is_file():
        raise LabError(
            f"table --out {path.parent}: no bench.json there; allowed: a results "
            f"directory holding a bench's bench.json (default {RESULTS})"
        )
    report = json.loads(path.read_text())
    print(stage_table(report))
    print()
    print(story_table(report, stage_removes(STAGES, report.get("settings", {}).get("env", "prod"))))
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    from lab import stack

    if args.command == "up":
        from lab.budgets import LAB_CPU_PER_VCPU

        stack.up(
            args.stage,
            args.movies,
            args.env,
            not args.no_pin,
            budgets=not args.no_budgets,
            scale=args.scale or LAB_CPU_PER_VCPU,
        )
        return 0
    if args.command == "down":
        stack.down()
        return 0
    if args.command == "status":
        return stack.status()
    if args.command == "load":
        from lab.load_command import load_current

        return load_current(args)
    if args.command == "remodel":
        from pathlib import Path

        from lab.bench import remodel
        from lab.results import RESULTS

        out = Path(args.out) if args.out else RESULTS
        if not (out / "bench.json").is_file():
            # --out is a directory (it rewrites bench.json, bench.txt and saturation.json
            # there); a file or an empty directory used to end in a traceback.
            raise LabError(
                f"remodel --out {out}: no bench.json there; allowed: a results directory "
                f"holding a bench's bench.json (default {RESULTS})"
            )
        remodel(out)
        return 0
    if args.command == "table":
        return _table(args.out)
    if args.command in ("bench", "saturate"):
        return _bench_or_saturate(args)
    if args.command == "fault":
        from lab.faults import run_faults

        return run_faults(args)
    if args.command == "limit":
        from lab.limit import run_limit

        return run_limit(args)
    if args.command == "clientcheck":
        from lab.limit import client_check

        return client_check(args)
    if args.command == "move":
        return _move(args)
    if args.command == "speed":
        return _speed(args)
    raise AssertionError(args.command)


def _speed(args: argparse.Namespace) -> int:
    from lab.speed import ITERATIONS, measure

    print(
        f"CPU seconds for {ITERATIONS:,} additions, {args.repeat} samples {args.interval:g} s apart"
    )
    result = measure(args.repeat, interval=args.interval)
    for n, seconds in enumerate(result.samples, 1):
        print(f"  {n:3d}  {seconds:.3f}")
    print(f"median {result.median:.3f}, slowest/fastest {result.spread:.2f}x")
    return 0


def _move_pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.all:
        if args.stages:
            raise ValueError("move: give FROM TO or --all, not both")
        from itertools import pairwise

        return list(pairwise(STAGES))
    if len(args.stages) != 2:
        raise ValueError(f"move: {len(args.stages)} stage(s) given; allowed: FROM TO, or --all")
    old, new = args.stages
    for name in (old, new):
        if name not in STAGES:
            raise ValueError(f"move: unknown stage {name!r}; allowed: {', '.join(STAGES)}")
    if STAGES.index(new) != STAGES.index(old) + 1:
        raise ValueError(f"move: {old} -> {new} is not one move; allowed: a stage and the next")
    return [(old, new)]


def _move(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    if args.write_docs:
        from lab.move_table import write_docs
        from lab.results import RESULTS

        if args.stages or args.all:
            raise ValueError("move --write-docs: no stages and no --all (it runs nothing)")
        docs = Path(__file__).resolve().parents[1] / "docs" / "infra.md"
        write_docs(docs, Path(args.out) if args.out else RESULTS / "moves.json")
        print(f"wrote the move table of {docs}")
        return 0

    from infra.plans.build import load_or_build
    from lab.move import move_plan, render, search_gap
    from lab.replay import Settings, headline, rehearse, write_moves
    from lab.results import RESULTS

    scale = args.time_scale / 60.0
    settings = Settings(
        env=args.env,
        load_share=args.load,
        time_scale=args.time_scale,
        movies=args.movies,
        budgets=not args.no_budgets,
    )
    entries = []
    started = time.perf_counter()
    for old, new in _move_pairs(args):
        a, b = f"{args.env}/{old}", f"{args.env}/{new}"
        old_plan, new_plan = load_or_build(a), load_or_build(b)
        plan = move_plan(old_plan, new_plan, a, b)
        print("\n".join(render(plan, scale)))
        gap = search_gap(plan, new_plan)
        if gap is not None:
            print(
                f"  search rule forwards at {gap.rule_done_s:.0f} s, fleet booted at "
                f"{gap.fleet_booted_s:.0f} s: {gap.seconds:.0f} AWS s "
                f"({gap.seconds * scale:.1f} lab s) of 503s for searches"
            )
        print()
        if args.timeline_only:
            continue
        entries.append(rehearse(old, new, old_plan, new_plan, settings))
        print(headline(entries[-1]))
    if not args.timeline_only:
        out = Path(args.out) if args.out else RESULTS / "moves.json"
        write_moves(out, entries, time.perf_counter() - started)
        print(f"wrote {out} ({time.perf_counter() - started:.0f} s)")
    return 0


def _settings(args: argparse.Namespace):
    from lab.bench import BenchSettings

    return BenchSettings(
        movies=args.movies,
        env=args.env,
        budgets=not args.no_budgets,
        scale=args.scale,
        fleet=args.fleet,
        preload_mass=args.preload_mass,
        repeat=getattr(args, "repeat", 1),
        bound=args.steady_bound,
        probe_seconds=args.probe_seconds,
        max_probes=args.max_probes,
        start_rps=args.start_rps,
        carry_cache=not getattr(args, "cold_caches", False),
        service_env=tuple(getattr(args, "service_env", ())),
    )


def _bench_or_saturate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from lab import bench as bench_mod
    from lab.results import RESULTS

    bs = _settings(args)
    say = (lambda _m: None) if args.quiet and args.command == "bench" else print
    model = bench_mod.model_prediction
    if args.command == "bench":
        report = bench_mod.bench(
            args.stages or bench_mod.BENCH_STAGES,
            bs,
            Path(args.out) if args.out else RESULTS,
            say=print,
            model=model,
        )
        return 0 if all(r["saturation"]["rps"] > 0 for r in report["stages"]) else 1
    bs, choice = bench_mod.resolve(bs)
    say(f"scale: {choice.describe()}; fleets: {bs.fleet}")
    bench_mod.stack.ensure_template(bs.movies, say)
    row = bench_mod.measure_stage(args.stage, bs, say, start_rps=bs.start_rps)
    row["model"] = model(args.stage, row, bs)
    sat, m = row["saturation"], row["model"] or {}
    print(
        f"{args.stage}: holds {sat['rps']:,.0f} rps (p99 {sat['p99_ms']} ms); bottleneck "
        f"{sat['bottleneck']['tier']} (busy {sat['bottleneck']['busy']}); model "
        f"{m.get('rps') or '-'} rps on {m.get('bottleneck') or '-'}"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(row, indent=2) + "\n")
    return 0 if sat["rps"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
