"""`load_plan(ref)`: the one way to read a plan, with one error type.

`ref` is `ENV/STAGE` (reads `build/plan/ENV-STAGE.json`) or a path to a plan JSON file.
Reading never runs the program: a stack whose plan file is missing, or older than the
sources that make it (infra/, stacks/, assumptions/*.yaml, the user-data template and build
script), is refused with the command that rebuilds it. The review tools that may plan on
the reader's behalf call `infra.plans.build.load_or_build`, which says so on stderr.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from infra import REPO_ROOT
from infra.config import ENVIRONMENTS, STAGES
from infra.jsonfile import JsonError, loads_json
from infra.yamlfile import shown

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
            f"cannot load plan {shown(ref)}: unknown stack; allowed: ENV/STAGE with ENV in "
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
                f"cannot load plan {shown(ref)}: {path.name} is {reason}; "
                f"run `python -m infra plan --env {env} --stage {stage}`"
            )
        return _read(path, ref)
    path = Path(ref)
    if path.suffix == ".json" and path.is_file():
        return _read(path, ref)
    raise PlanRefError(
        f"cannot load plan {shown(ref)}: neither ENV/STAGE (e.g. dev/cached) "
        "nor an existing plan .json file"
    )


def newest_source_mtime(root: Path = REPO_ROOT) -> float:
    return max(
        (p.stat().st_mtime for pattern in SOURCE_GLOBS for p in root.glob(pattern) if p.is_file()),
        default=0.0,
    )


class _StrictPlanModel(BaseModel):
    # strict: a number is not a string; extra keys are allowed (a newer writer may add some).
    model_config = ConfigDict(strict=True, extra="allow")


class PlanResource(_StrictPlanModel):
    """One resource of a plan file (docs/architecture.md, "The plan file")."""

    urn: str
    type: str
    name: str
    parent: str | None
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str]
    options: dict[str, Any]


class PlanFile(_StrictPlanModel):
    env: str
    stage: str
    resources: list[PlanResource]


_EXPECTED = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _problem(exc: ValidationError) -> str:
    """The first problem as `resources[3].urn: what was expected, got what`."""
    err = exc.errors(include_url=False)[0]
    place = ""
    for part in err["loc"]:
        place += f"[{part}]" if isinstance(part, int) else (f".{part}" if place else str(part))
    if err["type"] == "missing":
        return f"{place}: required key is missing"
    expected = _EXPECTED.get(err["type"], err["msg"])
    return f"{place or 'document'}: expected {expected}, got {shown(err['input'])}"


def _read(path: Path, ref: str) -> dict[str, Any]:
    where = f"cannot load plan {shown(ref)}"
    try:
        plan = loads_json(path.read_bytes(), "plan")
    except OSError as exc:
        raise PlanRefError(f"{where}: {exc.strerror or exc}") from None
    except JsonError as exc:  # invalid JSON, NaN/Infinity, integers past 18 digits
        raise PlanRefError(f"{where}: {exc}") from None
    if not isinstance(plan, dict) or any(key not in plan for key in PLAN_KEYS):
        raise PlanRefError(f"{where}: not a plan file; expected keys {', '.join(PLAN_KEYS)}")
    try:
        PlanFile.model_validate(plan)
    except ValidationError as exc:
        file = "" if str(path) == ref else f" ({path.name})"
        raise PlanRefError(f"{where}{file}: {_problem(exc)}") from None
    return plan
