"""Every planned input has the shape and type the provider's schema declares.

Nested inputs are plain dicts in the components, and the SDK passes a misspelt key or a
wrong type straight through: `pulumi up` would fail (or silently ignore it) where the
mocks do not. This walks each resource's inputs alongside the typed `...Args` classes of
pulumi-aws / pulumi-random and reports any key or value they would not accept.
"""

from __future__ import annotations

import collections.abc
import functools
import importlib
import sys
import types
import typing
from typing import Any

import pulumi
import pytest
from pulumi import _types

from infra.tokens import SECRET_MARKER
from tests.program.planq import STACKS

_T = typing.TypeVar("_T")


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    namespace = sys.modules[cls.__module__].__dict__
    return typing.get_type_hints(cls.__init__, namespace, {"Output": pulumi.Output, "T": _T})


@functools.cache
def camel_to_py(cls: type) -> dict[str, str]:
    return {camel: py for py, camel in _types.input_type_py_to_pulumi_names(cls).items()}


def args_class(type_token: str) -> type | None:
    package, module_path, class_name = type_token.split(":")
    if package not in ("aws", "random"):
        return None
    module_name = f"pulumi_{package}"
    if module_path.split("/")[0] != "index":
        module_name += "." + module_path.split("/")[0]
    resource_class = getattr(importlib.import_module(module_name), class_name)
    module = sys.modules[resource_class.__module__]
    # When a nested input type already has the name `<Resource>Args`, the generator calls
    # the resource's own `<Resource>InitArgs`.
    for candidate in (f"{class_name}InitArgs", f"{class_name}Args"):
        cls = getattr(module, candidate, None)
        if cls is not None and cls.__module__ == module.__name__:
            return cls
    raise LookupError(f"no Args class for {type_token}")


def alternatives(annotation: Any) -> list[Any]:
    """The concrete types an input annotation accepts (no None/Awaitable/Output wrappers)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [alt for arg in typing.get_args(annotation) for alt in alternatives(arg)]
    if annotation is type(None) or origin is collections.abc.Awaitable:
        return []
    if origin is pulumi.Output or annotation is pulumi.Output:
        return []
    return [annotation]


def problems(value: Any, annotation: Any, path: str) -> list[str]:
    alts = alternatives(annotation)
    if value == SECRET_MARKER or value is None or typing.Any in alts:
        return []
    plain_types = [a for a in alts if isinstance(a, type)]
    if isinstance(value, bool):
        return [] if bool in plain_types else [f"{path}: bool {value!r} where {alts}"]
    if isinstance(value, int):
        ok = any(t in (int, float) for t in plain_types)
        return [] if ok else [f"{path}: number {value!r} where {alts}"]
    if isinstance(value, float):
        return [] if float in plain_types else [f"{path}: float {value!r} where {alts}"]
    if isinstance(value, str):
        ok = any(issubclass(t, str) for t in plain_types)
        return [] if ok else [f"{path}: string {value!r} where {alts}"]
    if isinstance(value, list):
        seqs = [a for a in alts if typing.get_origin(a) is collections.abc.Sequence]
        if not seqs:
            return [f"{path}: list where {alts}"]
        item = typing.get_args(seqs[0])[0]
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{path}[{i}]")]
    if isinstance(value, dict):
        if "asset" in value and any(
            issubclass(t, pulumi.Asset | pulumi.Archive) for t in plain_types
        ):
            return []
        classes = [t for t in plain_types if _types.is_input_type(t)]
        if classes:
            return check_args(value, classes[0], path)
        maps = [a for a in alts if typing.get_origin(a) is collections.abc.Mapping]
        if maps:
            inner = typing.get_args(maps[0])[1]
            return [p for k, v in value.items() for p in problems(v, inner, f"{path}.{k}")]
        return [f"{path}: object where {alts}"]
    return [f"{path}: unexpected {type(value).__name__}"]


def check_args(inputs: dict[str, Any], cls: type, path: str) -> list[str]:
    names, annotations = camel_to_py(cls), hints(cls)
    found = []
    for key, value in inputs.items():
        py = names.get(key)
        if py is None or py not in annotations:
            found.append(f"{path}.{key}: not a field of {cls.__name__}")
            continue
        found += problems(value, annotations[py], f"{path}.{key}")
    return found


@pytest.mark.parametrize(("env", "stage"), STACKS)
def test_inputs_match_the_provider_schema(plans, env: str, stage: str) -> None:
    found = []
    checked = 0
    for resource in plans[(env, stage)]["resources"]:
        cls = args_class(resource["type"]) if resource["type"].count(":") == 2 else None
        if cls is None:
            continue
        checked += 1
        found += check_args(resource["inputs"], cls, resource["name"])
    assert checked > 40
    assert found == []


def test_the_checker_catches_the_mistakes_it_is_for() -> None:
    import pulumi_aws as aws

    refresh = {"strategy": "Rolling", "preferences": {"instanceWarmup": 120}}
    assert problems(refresh, hints(aws.autoscaling.GroupArgs)["instance_refresh"], "asg") == [
        "asg.preferences.instanceWarmup: number 120 where [<class 'str'>]"
    ]
    rule = {"pathPattern": {"values": ["/movies"]}, "queryString": {"values": []}}
    found = check_args({"conditions": [rule]}, aws.lb.ListenerRuleArgs, "rule")
    assert found == ["rule.conditions[0].queryString: not a field of ListenerRuleConditionArgs"]
