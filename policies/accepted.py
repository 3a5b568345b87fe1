"""Accepted findings (``policies/accepted.yaml``): which violations are accepted, and why.

One home for the reasons: the offline runner marks a matching violation accepted (its
table, its summary and SARIF ``suppressions[]`` show the reason), docs/policy.md's table
is rendered from the same entries, and the pack drops a violation accepted in every
environment (the pack cannot tell the environment; dev runs advisory anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pulumi_policy import (
    Policy,
    ReportViolation,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from infra.yamlfile import YamlError, load_yaml, shown

ACCEPTED_FILE = Path(__file__).resolve().parent / "accepted.yaml"
ENVIRONMENTS = ("dev", "prod")
_KEYS = {"rule", "resource", "environments", "match", "stages", "reason"}
_REQUIRED = ("rule", "resource", "environments", "stages", "reason")


class AcceptedError(ValueError):
    """A malformed accepted.yaml; the message is one line naming the entry."""


@dataclass(frozen=True)
class Acceptance:
    rule: str
    resource: str
    environments: tuple[str, ...]
    stages: str
    reason: str
    match: str | None = None

    def covers(self, policy: str, resource_name: str | None, message: str, env: str) -> bool:
        return (
            policy == self.rule
            and resource_name == self.resource
            and env in self.environments
            and (self.match is None or self.match in message)
        )

    @property
    def everywhere(self) -> bool:
        return set(self.environments) == set(ENVIRONMENTS)


def _entry(index: int, raw: Any, rules: set[str]) -> Acceptance:
    where = f"{ACCEPTED_FILE.name}[{index}]"
    if not isinstance(raw, Mapping):
        raise AcceptedError(f"{where}: expected a mapping, got {shown(raw)}")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise AcceptedError(f"{where}: unknown keys {unknown}; allowed: {', '.join(sorted(_KEYS))}")
    for key in _REQUIRED:
        if key not in raw:
            raise AcceptedError(f"{where}.{key}: required key is missing")
    for key in ("rule", "resource", "stages", "reason", "match"):
        value = raw.get(key)
        if key in raw and (not isinstance(value, str) or not value.strip()):
            raise AcceptedError(f"{where}.{key}: expected a non-empty string, got {shown(value)}")
    if raw["rule"] not in rules:
        raise AcceptedError(
            f"{where}.rule: {shown(raw['rule'])} is no policy; allowed: {', '.join(sorted(rules))}"
        )
    envs = raw["environments"]
    if not isinstance(envs, list) or not envs or not set(envs) <= set(ENVIRONMENTS):
        raise AcceptedError(
            f"{where}.environments: {shown(envs)}; allowed: a list of {', '.join(ENVIRONMENTS)}"
        )
    return Acceptance(
        rule=raw["rule"],
        resource=raw["resource"],
        environments=tuple(envs),
        stages=raw["stages"],
        reason=" ".join(raw["reason"].split()),
        match=raw.get("match"),
    )


def parse(doc: Any, rules: Iterable[str]) -> tuple[Acceptance, ...]:
    if not isinstance(doc, list):
        raise AcceptedError(f"{ACCEPTED_FILE.name}: expected a list of entries")
    known = set(rules)
    return tuple(_entry(index, raw, known) for index, raw in enumerate(doc))


@cache
def load_accepted(path: Path = ACCEPTED_FILE) -> tuple[Acceptance, ...]:
    from policies.rules import ALL_POLICIES

    try:
        doc = load_yaml(path, "accepted findings")
    except YamlError as error:
        raise AcceptedError(str(error)) from None
    return parse(doc, (policy.name for policy in ALL_POLICIES))


def acceptance_for(
    policy: str,
    resource_name: str | None,
    message: str,
    env: str,
    entries: Sequence[Acceptance] | None = None,
) -> Acceptance | None:
    for entry in load_accepted() if entries is None else entries:
        if entry.covers(policy, resource_name, message, env):
            return entry
    return None


def _name_of(urn: str | None) -> str | None:
    return urn.rsplit("::", 1)[-1] if urn else None


def pack_policies(
    policies: Sequence[Policy], entries: Sequence[Acceptance] | None = None
) -> list[Policy]:
    """The policies with every-environment acceptances applied, for the live pack: a
    violation accepted in both environments is not reported (it would block prod's up)."""
    everywhere = [e for e in (load_accepted() if entries is None else entries) if e.everywhere]
    wrapped: list[Policy] = []
    for policy in policies:
        mine = [e for e in everywhere if e.rule == policy.name]
        if not mine:
            wrapped.append(policy)
            continue
        kind = type(policy)
        assert isinstance(policy, ResourceValidationPolicy | StackValidationPolicy)
        wrapped.append(
            kind(
                name=policy.name,
                description=policy.description,
                validate=_filtered(policy, mine),
                enforcement_level=policy.enforcement_level,
                severity=policy.severity,
            )
        )
    return wrapped


def _filtered(
    policy: ResourceValidationPolicy | StackValidationPolicy, entries: Sequence[Acceptance]
) -> Callable[[Any, ReportViolation], None]:
    validate = policy.validate
    assert callable(validate)

    def run(args: Any, report: ReportViolation) -> None:
        pinned = getattr(args, "name", None)  # a resource policy's own resource

        def filtered(message: str, urn: str | None = None) -> None:
            name = pinned or _name_of(urn)
            if not any(e.covers(policy.name, name, message, e.environments[0]) for e in entries):
                report(message, urn)

        validate(args, filtered)

    return run


def markdown_table(entries: Sequence[Acceptance] | None = None) -> str:
    """docs/policy.md's table of accepted findings, rendered from accepted.yaml."""
    rows = [
        "| rule | resource | finding | environments | stages | why accepted |",
        "|---|---|---|---|---|---|",
    ]
    for e in load_accepted() if entries is None else entries:
        rows.append(
            f"| `{e.rule}` | `{e.resource}` | {e.match or 'all'} | {', '.join(e.environments)} "
            f"| {e.stages} | {e.reason} |"
        )
    return "\n".join(rows)
