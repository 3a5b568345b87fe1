"""`load_plan(ref)`: the one way to read a plan, with one error type.

`ref` is `ENV/STAGE` (reads `build/plan/ENV-STAGE.json`) or a path to a plan JSON file.
Reading never runs the program: a stack whose plan file is missing, or older than the
sources that make it (infra/, stacks/, assumptions/*.yaml, the user-data template and build
script), is refused with the command that rebuilds it. The review tools that may plan on
the reader's behalf call `infra.plans.build.load_or_build`, which says so on stderr.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.config import ENVIRONMENTS, STAGES

PLAN_DIR = REPO_ROOT / "build" / "plan"
PLAN_KEYS = ("env", "stage", "resources")
SOURCE_GLOBS = (
    "infra/**/*.py",
    "stacks/**/*.yaml",
    "assumptions/*.yaml",
    "app_image/deploy/*",
    "app_image/build.py",
)
_STACK_REF = re.compile(r"^([a-z0-9-]+)/([a-z0-9-]+)$")


class PlanRefError(ValueError):
    """A stack or plan reference that cannot be loaded; the message is one line."""


def plan_path(env: str, stage: str, out_dir: Path = PLAN_DIR) -> Path:
    return out_dir / f"{env}-{stage}.json"


def stack_of(ref: str) -> tuple[str, str] | None:
    """(env, stage) when `ref` names a stack, None when it is a file path."""
    match = _STACK_REF.match(ref)
    if not match or ref.endswith(".json"):
        return None
    env, stage = match.groups()
    if env not in ENVIRONMENTS or stage not in STAGES:
        raise PlanRefError(
            f"cannot load plan {ref!r}: unknown stack; allowed: ENV/STAGE with ENV in "
            f"{', '.join(ENVIRONMENTS)} and STAGE in {', '.join(STAGES)}, or a plan JSON path"
        )
    return env, stage


def stale_reason(path: Path) -> str | None:
    """Why the plan file at `path` cannot be used as it is, or None when it is current."""
    if not path.is_file():
        return "missing"
    if path.stat().st_mtime < newest_source_mtime():
        return "older than its sources"
    return None


def load_plan(ref: str, plan_dir: Path | None = None) -> dict[str, Any]:
    """The plan for `ref`: `"dev/cached"` or a path to a plan JSON file."""
    stack = stack_of(ref)
    if stack is not None:
        env, stage = stack
        path = plan_path(env, stage, plan_dir or PLAN_DIR)
        reason = stale_reason(path)
        if reason is not None:
            raise PlanRefError(
                f"cannot load plan {ref!r}: {path.name} is {reason}; "
                f"run `python -m infra plan --env {env} --stage {stage}`"
            )
        return _read(path, ref)
    path = Path(ref)
    if path.suffix == ".json" and path.is_file():
        return _read(path, ref)
    raise PlanRefError(
        f"cannot load plan {ref!r}: neither ENV/STAGE (e.g. dev/cached) "
        "nor an existing plan .json file"
    )


def newest_source_mtime(root: Path = REPO_ROOT) -> float:
    return max(
        (p.stat().st_mtime for pattern in SOURCE_GLOBS for p in root.glob(pattern) if p.is_file()),
        default=0.0,
    )


def _read(path: Path, ref: str) -> dict[str, Any]:
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanRefError(f"cannot load plan {ref!r}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PlanRefError(f"cannot load plan {ref!r}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise PlanRefError(
            f"cannot load plan {ref!r}: invalid JSON at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(plan, dict) or any(key not in plan for key in PLAN_KEYS):
        raise PlanRefError(
            f"cannot load plan {ref!r}: not a plan file; expected keys {', '.join(PLAN_KEYS)}"
        )
    if not isinstance(plan["resources"], list):
        raise PlanRefError(f"cannot load plan {ref!r}: 'resources' must be a list")
    return plan
