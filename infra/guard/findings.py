"""What a value check reports: a `ValueFinding` on a plan resource (`Plan` is the plan dict).

Named apart from `infra.verify.Finding`, a check of a live stack: one name, one meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Plan = Mapping[str, Any]


@dataclass(frozen=True)
class ValueFinding:
    check: str
    message: str
    urn: str | None = None
    resource_type: str | None = None
    resource_name: str | None = None

    @classmethod
    def on(cls, check: str, resource: Mapping[str, Any], message: str) -> ValueFinding:
        return cls(check, message, resource["urn"], resource["type"], resource["name"])
