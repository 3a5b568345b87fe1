"""Run the pack's rules on an offline plan, the way the Pulumi engine would, with no CLI.

The engine calls each resource policy once per resource with the resource's inputs, and
each stack policy once with every resource's outputs, parents and dependencies; values
are wrapped in pulumi_policy's unknown-checking proxies. This module builds the same
argument objects from a plan file (``build/plan/<env>-<stage>.json``) and applies the
same enforcement configuration format the CLI reads (``--policy-pack-config``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policies.rules import ALL_POLICIES, DEFAULT_ENFORCEMENT

POLICIES_DIR = Path(__file__).resolve().parent
_LEVELS = {level.value: level for level in EnforcementLevel}


@dataclass(frozen=True)
class Violation:
    policy: str
    level: EnforcementLevel
    message: str
    urn: str | None = None
    resource_type: str | None = None
    resource_name: str | None = None
    # The reason from policies/accepted.yaml when the finding is accepted; None otherwise.
    accepted: str | None = None

    @property
    def mandatory(self) -> bool:
        """A mandatory violation that nobody accepted: what fails the run."""
        return self.level == EnforcementLevel.MANDATORY and self.accepted is None


def config_path(env: str) -> Path:
    return POLICIES_DIR / f"policy-config.{env}.json"


def load_config(env: str) -> dict[str, Any]:
    path = config_path(env)
    if not path.exists():
        allowed = sorted(p.name for p in POLICIES_DIR.glob("policy-config.*.json"))
        raise ValueError(f"no policy config for environment {env!r}; have: {', '.join(allowed)}")
    return json.loads(path.read_text())


def _level(key: str, value: Any) -> EnforcementLevel | None:
    raw = value.get("enforcementLevel") if isinstance(value, Mapping) else value
    if raw is None:
        return None
    if raw not in _LEVELS:
        raise ValueError(
            f"policy config {key!r}: enforcement level {raw!r} is not one of {', '.join(_LEVELS)}"
        )
    return _LEVELS[raw]


def enforcement_levels(
    config: Mapping[str, Any], policies: Sequence[Policy] = ALL_POLICIES
) -> dict[str, EnforcementLevel]:
    """Each policy's level under a CLI policy config: a policy's own entry beats ``all``,
    which beats the policy's level, which beats the pack's default."""
    names = {policy.name for policy in policies}
    unknown = sorted(set(config) - names - {"all"})
    if unknown:
        raise ValueError(
            f"policy config names unknown policies {unknown}; "
            f"allowed: all, {', '.join(sorted(names))}"
        )
    everything = _level("all", config["all"]) if "all" in config else None
    levels = {}
    for policy in policies:
        own = _level(policy.name, config[policy.name]) if policy.name in config else None
        levels[policy.name] = own or everything or policy.enforcement_level or DEFAULT_ENFORCEMENT
    return levels


def _options(options: Mapping[str, Any], parent: str | None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=bool(options.get("protect", False)),
        ignore_changes=list(options.get("ignoreChanges", [])),
        delete_before_replace=options.get("deleteBeforeReplace"),
        aliases=[str(alias) for alias in options.get("aliases", [])],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


def resource_args(resource: Mapping[str, Any]) -> ResourceValidationArgs:
    """What the engine passes a resource policy: the inputs, behind the unknown proxy."""
    return ResourceValidationArgs(
        resource_type=resource["type"],
        props=unknown_checking_proxy(copy.deepcopy(dict(resource.get("inputs") or {}))),
        urn=resource["urn"],
        name=resource["name"],
        opts=_options(resource.get("options") or {}, resource.get("parent")),
        provider=None,
    )


def stack_resources(resources: Iterable[Mapping[str, Any]]) -> list[PolicyResource]:
    """What the engine passes a stack policy: outputs (which carry the inputs), the id
    the bridged providers keep among them, parents and dependencies as objects."""
    plan_resources = list(resources)
    built: dict[str, PolicyResource] = {}
    for resource in plan_resources:
        props = {**(resource.get("inputs") or {}), **(resource.get("outputs") or {})}
        if resource.get("id") and "id" not in props:
            props["id"] = resource["id"]
        built[resource["urn"]] = PolicyResource(
            resource_type=resource["type"],
            props=unknown_checking_proxy(copy.deepcopy(props)),
            urn=resource["urn"],
            name=resource["name"],
            opts=_options(resource.get("options") or {}, resource.get("parent")),
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
    for resource in plan_resources:
        policy_resource = built[resource["urn"]]
        policy_resource.parent = built.get(resource.get("parent") or "")
        policy_resource.dependencies = [
            built[urn] for urn in resource.get("dependencies", []) if urn in built
        ]
    return list(built.values())


def analyze(
    resources: Sequence[Mapping[str, Any]],
    levels: Mapping[str, EnforcementLevel],
    policies: Sequence[Policy] = ALL_POLICIES,
    *,
    preview: bool = False,
) -> list[Violation]:
    """Every violation the pack reports on these planned resources, with its level.

    ``preview``: the resources come from a real ``pulumi preview`` and may hold values
    not known until apply. A policy that reads one is then reported the way the engine
    reports it (pulumi_policy ``PolicyPack._analyze``: an advisory "can't run policy ...
    during preview"), instead of failing the run as an incomplete offline plan would.
    """
    violations: list[Violation] = []
    by_urn = {resource["urn"]: resource for resource in resources}
    stack = stack_resources(resources)
    for policy in policies:
        level = levels[policy.name]
        if level == EnforcementLevel.DISABLED:
            continue
        if level == EnforcementLevel.REMEDIATE:
            level = EnforcementLevel.MANDATORY  # as the engine does for a violation left over
        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:
                # The engine pins a resource policy's violations to the resource itself.
                report = _reporter(policy.name, level, by_urn, violations, resource["urn"])
                unknown = _reporter(
                    policy.name, EnforcementLevel.ADVISORY, by_urn, violations, resource["urn"]
                )
                _run(policy, resource["urn"], resource_args(resource), report, unknown, preview)
        elif isinstance(policy, StackValidationPolicy):
            report = _reporter(policy.name, level, by_urn, violations, None)
            unknown = _reporter(policy.name, EnforcementLevel.ADVISORY, by_urn, violations, None)
            _run(policy, "the stack", StackValidationArgs(stack), report, unknown, preview)
    return violations


def _reporter(
    policy: str,
    level: EnforcementLevel,
    by_urn: Mapping[str, Mapping[str, Any]],
    sink: list[Violation],
    pinned_urn: str | None,
) -> Callable[..., None]:
    def report(message: str, urn: str | None = None) -> None:
        target_urn = pinned_urn or urn
        target = by_urn.get(target_urn or "")
        sink.append(
            Violation(
                policy=policy,
                level=level,
                message=message,
                urn=target_urn,
                resource_type=target["type"] if target else None,
                resource_name=target["name"] if target else None,
            )
        )

    return report


def _run(
    policy: ResourceValidationPolicy | StackValidationPolicy,
    where: str,
    args: Any,
    report: Callable[..., None],
    unknown: Callable[..., None],
    preview: bool,
) -> None:
    try:
        policy.validate(args, report)
    except UnknownValueError as error:
        if preview:
            unknown(f"can't run policy '{policy.name}' during preview: {error.message}")
            return
        # Offline plans hold no unknowns; one here means the plan is incomplete.
        raise RuntimeError(f"policy {policy.name} on {where}: {error.message}") from error
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
        # A rule reads inputs of the provider's types; a value of another type (a hand-edited
        # or truncated preview) makes it fail. The engine fails the run when a policy throws;
        # so does this, in one line that names the rule and the resource.
        detail = str(error).splitlines()[0][:200] if str(error) else ""
        raise RuntimeError(
            f"policy {policy.name} on {where}: an input is not of the provider's type "
            f"({type(error).__name__}: {detail})"
        ) from error
