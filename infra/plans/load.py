"""`load_plan(ref)`: a plan dict from `ENV/STAGE` or from a path to a plan JSON file.

`ENV/STAGE` reads `build/plan/ENV-STAGE.json`, building it with `build_plan` (and writing
it) when it is missing or older than the sources that make it (infra/, stacks/, the
user-data template and build script), so a review tool never reads a stale plan.
Anything else must be an existing plan file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.config import ENVIRONMENTS, STAGES

PLAN_KEYS = ("env", "stage", "resources")
SOURCE_GLOBS = ("infra/**/*.py", "stacks/**/*.yaml", "app_image/deploy/*", "app_image/build.py")
_STACK_REF = re.compile(r"^([a-z0-9-]+)/([a-z0-9-]+)$")


class PlanRefError(ValueError):
    """The reference names no stack and no readable plan file."""


def _validated(plan: Any, source: str) -> dict[str, Any]:
    if not isinstance(plan, dict) or any(key not in plan for key in PLAN_KEYS):
        raise PlanRefError(f"plan {source}: not a plan file; expected keys {', '.join(PLAN_KEYS)}")
    if not isinstance(plan["resources"], list):
        raise PlanRefError(f"plan {source}: 'resources' must be a list")
    return plan


def load_plan(ref: str, plan_dir: Path | None = None) -> dict[str, Any]:
    """The plan for `ref`: `"dev/cached"` or a path to a plan JSON file."""
    from infra.plans.build import PLAN_DIR, build_plan, plan_path, write_plan

    match = _STACK_REF.match(ref)
    if match and not ref.endswith(".json"):
        env, stage = match.groups()
        if env not in ENVIRONMENTS or stage not in STAGES:
            raise PlanRefError(
                f"plan ref {ref!r}: unknown stack; allowed: ENV/STAGE with ENV in "
                f"{', '.join(ENVIRONMENTS)} and STAGE in {', '.join(STAGES)}, or a plan JSON path"
            )
        directory = plan_dir or PLAN_DIR
        path = plan_path(env, stage, directory)
        if not path.is_file() or path.stat().st_mtime < newest_source_mtime():
            write_plan(build_plan(env, stage), directory)
        return _read(path)
    path = Path(ref)
    if path.suffix == ".json" and path.is_file():
        return _read(path)
    raise PlanRefError(
        f"plan ref {ref!r}: neither ENV/STAGE (e.g. dev/cached) nor an existing plan .json file"
    )


def newest_source_mtime(root: Path = REPO_ROOT) -> float:
    return max(
        (p.stat().st_mtime for pattern in SOURCE_GLOBS for p in root.glob(pattern) if p.is_file()),
        default=0.0,
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PlanRefError(f"plan {path}: invalid JSON at line {exc.lineno}") from exc
    return _validated(plan, str(path))
