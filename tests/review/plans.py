"""Crafted plan documents in the plan-file format (docs/architecture.md) for the tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

PROJECT = "movies"


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
    id_: str | None = None,
) -> dict[str, Any]:
    opts = {
        "protect": False,
        "retainOnDelete": False,
        "aliases": [],
        "ignoreChanges": [],
        "deleteBeforeReplace": False,
    }
    opts.update(options or {})
    return {
        "urn": urn(type_, name, parents=parents),
        "type": type_,
        "name": name,
        "parent": None,
        "id": id_ or f"{name}-id",
        "inputs": inputs or {},
        "outputs": outputs or {},
        "dependencies": [],
        "options": opts,
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


DB = ("movies:infra:Database",)


def db_primary(**overrides: Any) -> dict[str, Any]:
    inputs = {
        "identifier": "movies-dev-db",
        "engine": "postgres",
        "engineVersion": "16",
        "instanceClass": "db.t4g.small",
        "allocatedStorage": 20,
        "storageType": "gp3",
        "storageEncrypted": True,
        "multiAz": False,
        "username": "movies",
        "password": "[secret]",
        "tags": {"project": "movies", "stage": "cached", "environment": "dev"},
    }
    inputs.update(overrides)
    return res("aws:rds/instance:Instance", "db-primary", inputs, parents=DB)


def bucket(name: str = "movies-dev-media", res_name: str = "media-bucket") -> dict[str, Any]:
    return res(
        "aws:s3/bucket:Bucket",
        res_name,
        {"bucket": name, "tags": {"stage": "edge"}},
        parents=("movies:infra:Storage",),
    )
