"""Tags on every taggable resource: project, stage, environment, owner.

A stack transformation, so no component can forget them. Explicit tags (a `Name`, say)
stay; the four required keys always win, so a stray `stage` tag cannot lie. Autoscaling
groups take a list of `{key, value, propagate_at_launch}` instead of a map: the web tier
sets those itself, and the transformation leaves lists alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

REQUIRED_TAGS = ("project", "stage", "environment", "owner")


def merged_tags(existing: Any, required: Mapping[str, str]) -> Any:
    if existing is None:
        return dict(required)
    if isinstance(existing, Mapping):
        return {**existing, **required}
    # An Output or other input: merge once it resolves.
    return pulumi.Output.from_input(existing).apply(lambda tags: {**(tags or {}), **required})


def tagging_transformation(required: Mapping[str, str]):
    missing = [key for key in REQUIRED_TAGS if not required.get(key)]
    if missing:
        raise ValueError(f"tags: required keys missing or empty: {', '.join(missing)}")
    required = dict(required)

    def transform(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if not args.type_.startswith("aws:") or "tags" not in args.props:
            return None
        if isinstance(args.props["tags"], list | tuple):
            return None  # autoscaling group tag list: set by the component
        props = dict(args.props)
        props["tags"] = merged_tags(props["tags"], required)
        return pulumi.ResourceTransformationResult(props, args.opts)

    return transform


def register_tagging(required: Mapping[str, str]) -> None:
    """Tag every AWS resource declared after this call in the current stack."""
    pulumi.runtime.register_stack_transformation(tagging_transformation(required))
