"""`python -m infra COMMAND ...`: the offline tools, one module per command.

Each command module exposes ``main(argv: list[str]) -> int``; it is imported only when
its command runs, so a slow import (pulumi, boto3, graphviz) costs only the command that
needs it.
"""

from __future__ import annotations

import importlib
import os
import sys

from infra.paths import PathError

COMMANDS: dict[str, tuple[str, str]] = {
    "plan": (
        "infra.plans.build",
        "run the program under mocks and write build/plan/<env>-<stage>.json",
    ),
    "diff": (
        "infra.review.diff.cli",
        "compare two stacks or plan files; flags stateful replacements",
    ),
    "cost": ("infra.review.cost.cli", "monthly cost per stack from the price table"),
    "diagram": (
        "infra.review.diagram.cli",
        "one graphviz diagram per stage from the planned resources",
    ),
    "report": ("infra.review.report.cli", "HTML + Markdown report comparing every stage"),
    "policy": ("infra.guard.runner", "run the CrossGuard rules and value checks on every plan"),
    "capacity": ("infra.capacity.cli", "per-tier load and headroom per stage, today and at 5x"),
    "schema": ("infra.config", "write stacks/schema.json from the config models (--check)"),
    "size": (
        "infra.capacity.size",
        "each tier's cheapest class and count meeting headroom and availability",
    ),
    "verify": ("infra.verify", "check a live deployment against its stage (boto3)"),
    "upgrade": (
        "infra.upgrade",
        "move a live stack to a later stage: judged preview, then up (Automation API)",
    ),
    "ami": ("infra.program.ami", "pinned Amazon Linux 2023 AMIs vs the current ones; --write"),
    "zones": (
        "infra.program.zones",
        "pinned zone IDs vs those offering every stage's instance types; --write, --check",
    ),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: python -m infra COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(
            f"error: unknown command {name!r}; allowed: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except BrokenPipeError:
        # `python -m infra cost | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except PathError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # The last net for the file system (a full disk, a path under /proc, a file where
        # a folder was expected): one line naming the path, as every other error here.
        where = exc.filename if exc.filename is not None else "?"
        print(f"error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        # pathlib (Python 3.11/3.12) reports a looping symlink, e.g. `build -> build`, as
        # RuntimeError("Symlink loop from '<path>'") from any exists()/is_file() below it.
        if not str(exc).startswith("Symlink loop"):
            raise
        print(
            f"error: {str(exc).removeprefix('Symlink loop from ')}: a symlink loop on the "
            "way; allowed: real directories or symlinks to them",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
