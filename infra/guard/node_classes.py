"""RDS instance classes and ElastiCache node types come from the kept list, and support
the engine version they run (``node_classes.yaml``, with its source and review date)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from infra import ASSUMPTIONS_DIR
from infra.guard.findings import Plan, ValueFinding
from infra.plans.index import find, resources, value
from infra.tokens import ResourceType
from infra.yamlfile import load_yaml

CHECK = "node-classes"
RDS_INSTANCE = ResourceType.RDS_INSTANCE
CACHE_TYPES = (
    ResourceType.ELASTICACHE_REPLICATION_GROUP,
    ResourceType.ELASTICACHE_CLUSTER,
)
LIST_PATH = ASSUMPTIONS_DIR / "node_classes.yaml"


@cache
def kept_list() -> dict[str, Any]:
    return load_yaml(LIST_PATH, "node class list")


def _version(text: Any) -> tuple[int, ...]:
    parts = []
    for part in str(text).split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def problems(service: str, node_class: str, engine: str, version: Any) -> list[str]:
    """What is wrong with running ``engine`` ``version`` on ``node_class`` (empty: fine)."""
    table = kept_list()[service]
    family, _, size = node_class.rpartition(".")
    row = table["families"].get(family)
    source = f"(kept list from {table['source']}, reviewed {table['reviewed']})"
    if row is None:
        known = ", ".join(sorted(table["families"]))
        return [f"{node_class!r}: family {family!r} is not in the list {source}; known: {known}"]
    found = []
    if size not in row["sizes"]:
        found.append(
            f"{node_class!r}: no size {size!r} in {family}; sizes: {', '.join(row['sizes'])}"
        )
    minimum = row["engines"].get(engine)
    if minimum is None:
        found.append(f"{node_class!r} does not run engine {engine!r} {source}")
    elif version is not None and _version(version) < _version(minimum):
        found.append(f"{node_class!r} needs {engine} {minimum} or newer, not {version} {source}")
    return found


def _rds_engine(plan: Plan, instance: Mapping[str, Any]) -> tuple[str, Any]:
    """Engine and version; a replica runs its source's."""
    source = find(plan, value(instance, "replicateSourceDb"), RDS_INSTANCE)
    origin = source if source is not None else instance
    return str(value(origin, "engine") or "postgres"), value(origin, "engineVersion")


def check(plan: Plan) -> list[ValueFinding]:
    findings: list[ValueFinding] = []
    for instance in resources(plan, RDS_INSTANCE):
        engine, version = _rds_engine(plan, instance)
        for problem in problems("rds", str(value(instance, "instanceClass")), engine, version):
            findings.append(ValueFinding.on(CHECK, instance, problem))
    for group in resources(plan, *CACHE_TYPES):
        node_type = value(group, "nodeType")
        if node_type is None:
            continue  # a cluster that joins a replication group takes the group's type
        engine = str(value(group, "engine") or "redis")
        for problem in problems(
            "elasticache", str(node_type), engine, value(group, "engineVersion")
        ):
            findings.append(ValueFinding.on(CHECK, group, problem))
    return findings
