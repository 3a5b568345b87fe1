"""What a guard run reports: a `ValueFinding` on a plan resource (`Plan` is the plan
dict), and a `StackReport` per stack (the pack's violations and the value findings), which
the runner fills and the renderers (table, SARIF) read.

Named apart from `infra.verify.Finding`, a check of a live stack: one name, one meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass
class StackReport:
    env: str
    stage: str
    violations: list[Any] = field(default_factory=list)  # policies.offline.Violation
    findings: list[Any] = field(default_factory=list)  # infra.guard.findings.ValueFinding

    @property
    def stack(self) -> str:
        return f"{self.env}/{self.stage}"

    @property
    def mandatory(self) -> list[Any]:
        return [v for v in self.violations if v.mandatory]

    @property
    def advisory(self) -> list[Any]:
        return [v for v in self.violations if not v.mandatory and v.accepted is None]

    @property
    def accepted(self) -> list[Any]:
        """Violations policies/accepted.yaml accepts, with their reason."""
        return [v for v in self.violations if v.accepted is not None]

    @property
    def failed(self) -> bool:
        return bool(self.mandatory or self.findings)
