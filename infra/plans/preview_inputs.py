"""A real preview and, optionally, the stack export it runs against, read as one pair.

Shared by every tool that takes ``--preview FILE [--state FILE]`` (diff, cost, policy):
it lives with the plans' loaders so that guard reads previews without importing review.
"""

from __future__ import annotations

from typing import Any

from infra.plans.preview import (
    Preview,
    PreviewError,
    load_preview,
    load_state,
    urn_parts,
)


def _stack_of(resources: list[dict[str, Any]]) -> str | None:
    return urn_parts(resources[0]["urn"])[0] if resources else None


def load_inputs(preview_path: str, state_path: str | None) -> tuple[Preview, dict | None]:
    """The preview and the optional state, checked to be of one stack."""
    preview = load_preview(preview_path)
    state = load_state(state_path) if state_path else None
    if state is not None and preview.steps:
        a, b = _stack_of(state["resources"]), urn_parts(preview.steps[0].urn)[0]
        if a and a != b:
            raise PreviewError(
                f"{state_path}: the export is of stack {a!r}, the preview of stack {b!r}; "
                "expected both of one stack"
            )
    return preview, state
