"""`python -m movies_api serve|migrate|seed|bootstrap-secrets`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import asyncpg

from .settings import Settings, SettingsError, load_settings, redact


def _settings(need_db: bool = True) -> tuple[Settings, str]:
    from .aws_secrets import resolve_secrets

    return resolve_secrets(load_settings(need_db=need_db))


def trusted_proxies(settings: Settings) -> str:
    """Peers whose X-Forwarded-For uvicorn believes: the networks that may read /metrics.

    Believing anyone ("*") would let an internet client at the single box, the public
    entry point, claim `X-Forwarded-For: 127.0.0.1` and read /metrics. The ALB sits in
    the VPC CIDR, so behind it the client is still the real one.
    """
    return ",".join(str(network) for network in settings.metrics_allow_networks)


# The server stack (issue 12): uvloop's event loop and the httptools (llhttp) parser, which
# measured ~1.7x h11 on the asyncio loop here. `lab limit` runs its minimal app on the same.
SERVER_STACK: dict[str, str] = {"loop": "uvloop", "http": "httptools"}
# What `serve` runs: the same stack, its httptools protocol bounded (listener.py, issue 22
# item 2). By import path, so that `--workers N` processes load it too.
LISTENER: dict[str, str] = {**SERVER_STACK, "http": "movies_api.listener:BoundedHttpTools"}


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    # Validate (and read the secrets) in this process first: a bad setting fails with one
    # line here instead of once per worker.
    settings, redis_password = _settings()
    common = {"host": args.host, "port": args.port, "log_level": args.log_level,
              "access_log": args.access_log, "proxy_headers": True,
              "forwarded_allow_ips": trusted_proxies(settings),
              "timeout_graceful_shutdown": 20,
              # Idle keep-alive: longer than the ALB's idle timeout (see settings.py).
              "timeout_keep_alive": settings.http_keepalive_seconds,
              **LISTENER}  # fmt: skip
    if args.workers > 1:
        uvicorn.run("movies_api.asgi:create_from_env", factory=True, workers=args.workers, **common)
    else:
        from .app import create_app

        uvicorn.run(create_app(settings, redis_password=redis_password), **common)
    return 0


async def _migrate(dsn: str) -> list[int]:
    from .migrate import migrate

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings, _ = _settings()
    applied = asyncio.run(_migrate(settings.database_url))
    print(f"migrate: applied {applied or 'nothing'} on {redact(settings.database_url)}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from .seed import run_seed

    settings, _ = _settings()
    result = asyncio.run(
        run_seed(
            settings.database_url,
            args.count,
            args.seed,
            reset=args.reset,
            users=args.users,
            keys_out=args.keys_out,
        )
    )
    rate = result.movies / result.seconds if result.seconds else 0
    print(
        f"seed: {result.movies} movies (seed {args.seed}) in {result.seconds:.1f}s "
        f"({rate:,.0f}/s); users: {', '.join(result.keys)}"
    )
    if args.keys_out:
        print(f"seed: API keys written to {args.keys_out} (mode 0600)")
    else:
        for name, info in result.keys.items():
            print(f"  {name} ({info['role']}): {info['api_key']}")
    return 0


def cmd_bootstrap_secrets(args: argparse.Namespace) -> int:
    # Fails the boot early, with one line, if the instance role cannot read its secrets.
    settings, redis_password = _settings(need_db=False)
    print(
        f"bootstrap-secrets: database {redact(settings.database_url) or '(unset)'}; "
        f"redis auth {'present' if redis_password else 'none'}"
    )
    return 0


def _positive(name: str, hi: int):
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={raw!r} is not an integer") from None
        if not 0 <= value <= hi:
            raise argparse.ArgumentTypeError(f"{name}={value} out of range; allowed 0..{hi}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m movies_api", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the API under uvicorn")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=_positive("--port", 65535), default=8000)
    s.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    s.add_argument("--access-log", action="store_true", help="log every request")
    s.add_argument(
        "--workers",
        type=_positive("--workers", 256),
        default=1,
        help="worker processes (one per vCPU on an instance)",
    )
    s.set_defaults(fn=cmd_serve)
    m = sub.add_parser("migrate", help="apply pending schema migrations (safe to run in parallel)")
    m.set_defaults(fn=cmd_migrate)
    d = sub.add_parser("seed", help="load N deterministic synthetic movies and demo users")
    d.add_argument("--count", type=_positive("--count", 100_000_000), default=100_000)
    d.add_argument("--seed", type=_positive("--seed", 2**31), default=42)
    d.add_argument("--reset", action="store_true", help="truncate movies first")
    d.add_argument(
        "--users",
        type=_positive("--users", 100_000),
        default=0,
        help="extra reader users lab-user-1..N (besides demo-reader/demo-writer)",
    )
    d.add_argument("--keys-out", type=Path, help="write the created API keys here as JSON")
    d.set_defaults(fn=cmd_seed)
    b = sub.add_parser("bootstrap-secrets", help="check the Secrets Manager secrets are readable")
    b.set_defaults(fn=cmd_bootstrap_secrets)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"error: database: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
