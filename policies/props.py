"""Reading pulumi-aws resource properties the way the engine hands them to a policy.

Properties arrive camelCase, wrapped in pulumi_policy's read-only proxies (Mapping /
Sequence, never dict / list), and some booleans are strings in the provider schema
(launch template ``ebs.encrypted``, ``associatePublicIpAddress``). These helpers read
them without assuming the container type.
"""

from __future__ import annotations

import importlib
import inspect
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any

from infra.tokens import SECRET_MARKER

REQUIRED_TAGS = ("project", "stage", "environment", "owner")
WORLD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


def as_list(value: Any) -> list[Any]:
    """A property that is a list, a single value or absent, as a list."""
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    return [value]


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def truthy(value: Any) -> bool:
    """True for ``True`` and the provider's string booleans ``"true"``."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def explicitly_false(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "false"
    return value is False


def first(value: Any) -> Mapping[str, Any]:
    """A nested block: a mapping, or the first element of a one-element list."""
    if isinstance(value, Mapping):
        return value
    items = as_list(value)
    return items[0] if items and isinstance(items[0], Mapping) else {}


def tags_of(props: Mapping[str, Any]) -> dict[str, str]:
    """Tags as a dict: a map on most resources, a list of {key, value} on an ASG."""
    tags = props.get("tags")
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items() if v is not None}
    result: dict[str, str] = {}
    for item in as_list(tags):
        if isinstance(item, Mapping) and "key" in item:
            result[str(item["key"])] = str(item.get("value", ""))
    return result


def stage_of(props: Mapping[str, Any]) -> str | None:
    return tags_of(props).get("stage")


def port_range(from_port: Any, to_port: Any, protocol: Any) -> tuple[int, int]:
    """The ports a rule opens; protocol ``-1`` / ``all`` opens every port."""
    if str(protocol).lower() in {"-1", "all"}:
        return 0, 65535
    low = int(from_port) if from_port is not None else 0
    high = int(to_port) if to_port is not None else low
    return low, high


def single_allowed_port(low: int, high: int, allowed: frozenset[int]) -> bool:
    """A rule opens exactly one port and it is allowed (a range 80-443 opens 364 ports)."""
    return low == high and low in allowed


def parse_document(value: Any) -> Mapping[str, Any] | None:
    """A policy document from a JSON string (or an already-parsed mapping).

    None when the value is absent or masked as a secret; a ``ValueError`` when it is
    not JSON, so a caller can report that instead of silently passing.
    """
    if value is None or value == SECRET_MARKER or value == "":
        return None
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        raise ValueError(f"policy document is a {type(value).__name__}, not a JSON string")
    document = json.loads(value)
    if not isinstance(document, Mapping):
        raise ValueError("policy document is JSON but not an object")
    return document


def statements(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for statement in as_list(document.get("Statement")):
        if isinstance(statement, Mapping):
            yield statement


def type_module_and_class(resource_type: str) -> tuple[str, str] | None:
    """``aws:ec2/launchTemplate:LaunchTemplate`` -> (``pulumi_aws.ec2``, ``LaunchTemplate``)."""
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "aws":
        return None
    module = parts[1].split("/")[0]
    return f"pulumi_aws.{module}", parts[2]


@cache
def is_taggable(resource_type: str) -> bool:
    """Whether the pulumi-aws resource takes a ``tags`` input, read from the SDK itself.

    The installed SDK is the schema the program was written against, so asking it beats
    a hand-kept list that drifts. Non-AWS types (components, random, providers) take none.
    """
    located = type_module_and_class(resource_type)
    if located is None:
        return False
    module_name, class_name = located
    try:
        with warnings.catch_warnings():  # importing a module warns about its deprecated types
            warnings.simplefilter("ignore", DeprecationWarning)
            cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return False
    init = getattr(cls, "_internal_init", None)
    return init is not None and "tags" in inspect.signature(init).parameters
