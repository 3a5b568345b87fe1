"""`python -m lab COMMAND`: the stage lab on 127.0.0.1.

up STAGE [--movies N] [--env prod|dev] [--no-pin]   bring a stage's topology up
down                                                 stop every lab process
status                                               what runs, and where
load [--duration S] [--concurrency C] ...            drive the load at the stage that is up
bench [--stages a,b] [--duration S] ...              every stage in turn: table + JSON
fault redis|replica|primary|primary-crash|herd|...   a fault mid-run, with its figure
limit                                                the service vs a minimal ASGI app vs nginx
clientcheck                                          raw asyncio client vs httpx vs nginx
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
    sub.add_parser("down", help="stop every lab process")
    sub.add_parser("status", help="what runs, and where")
    load = sub.add_parser("load", help="drive the load at the stage that is up")
    _load_args(load, 20, 5)
    bench = sub.add_parser("bench", help="every stage in turn: one table + bench.json")
    bench.add_argument(
        "--stages",
        type=_stage_list,
        default=None,
        help="comma-separated subset (default: the six stages of issue 6)",
    )
    bench.add_argument("--out", default=None, help="results directory (default lab/results)")
    _movies_arg(bench)
    _load_args(bench, 20, 5)
    bench.add_argument(
        "--cache-warmup",
        type=_positive_float("--cache-warmup", 300),
        default=40,
        help="warm-up seconds at stages with Redis (default 40)",
    )
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
            "all",
        ),
    )
    fault.add_argument(
        "--keepalive",
        type=_int_between("--keepalive", 1, 4100),
        default=None,
        help="keepalive only: the service's MOVIES_HTTP_KEEPALIVE_S for this run (default: "
        "the service's own, 75 s); 5 is uvicorn's default, the fault it shows",
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (LabError, ConfigError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    from lab import stack

    if args.command == "up":
        stack.up(args.stage, args.movies, args.env, not args.no_pin)
        return 0
    if args.command == "down":
        stack.down()
        return 0
    if args.command == "status":
        return stack.status()
    if args.command == "load":
        from lab.load_command import load_current

        return load_current(args)
    if args.command == "bench":
        from pathlib import Path

        from lab.bench import BENCH_STAGES, RESULTS, BenchSettings, bench

        bs = BenchSettings(
            args.movies,
            args.duration,
            args.warmup,
            args.concurrency,
            args.client,
            args.env,
            not args.no_pin,
            cache_warmup=args.cache_warmup,
            carry_cache=not args.cold_caches,
            service_env=tuple(args.service_env),
        )
        report = bench(
            args.stages or BENCH_STAGES,
            bs,
            Path(args.out) if args.out else RESULTS,
            quiet=args.quiet,
        )
        return 0 if all(r["errors"] == 0 or r["error_rate"] < 0.01 for r in report["stages"]) else 1
    if args.command == "fault":
        from lab.faults import run_faults

        return run_faults(args)
    if args.command == "limit":
        from lab.limit import run_limit

        return run_limit(args)
    if args.command == "clientcheck":
        from lab.limit import client_check

        return client_check(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
