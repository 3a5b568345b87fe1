"""The one fake-plan builder: resources and plans in the plan-file format
(docs/architecture.md, "The plan file") for tests that craft their own."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

PROJECT = "movies"
OPTIONS = {
    "protect": False,
    "retainOnDelete": False,
    "aliases": [],
    "ignoreChanges": [],
    "deleteBeforeReplace": False,
}


def urn(type_: str, name: str, stack: str = "dev", parents: tuple[str, ...] = ()) -> str:
    chain = "$".join((*parents, type_))
    return f"urn:pulumi:{stack}::{PROJECT}::{chain}::{name}"


def res(
    type_: str,
    name: str,
    inputs: dict[str, Any] | None = None,
    *,
    parents: tuple[str, ...] = (),
    outputs: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    protect: bool = False,
    dependencies: list[dict[str, Any]] | None = None,
    id_: str | None = None,
    stack: str = "dev",
) -> dict[str, Any]:
    """One resource; `dependencies` are other crafted resources (their URNs are recorded)."""
    return {
        "urn": urn(type_, name, stack, parents),
        "type": type_,
        "name": name,
        "parent": None,
        "id": id_ or f"{name}-id",
        "inputs": inputs or {},
        "outputs": outputs or {},
        "dependencies": [dep["urn"] for dep in dependencies or []],
        "options": {**OPTIONS, "protect": protect, **(options or {})},
    }


def plan(stage: str, resources: list[dict[str, Any]], env: str = "dev") -> dict[str, Any]:
    return {
        "env": env,
        "stage": stage,
        "resources": sorted(copy.deepcopy(resources), key=lambda r: r["urn"]),
    }


def write(tmp: Path, name: str, doc: dict[str, Any]) -> str:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(doc, sort_keys=True))
    return str(path)
