"""Output builders for mocked resources and answers for mocked invokes, keyed by type token.

A builder receives the resource's inputs (camelCase, as the engine sends them) and a
`MockContext` with deterministic naming helpers, and returns the outputs the provider
would compute (camelCase). The mocks merge them over the inputs, as a provider echoes its
inputs. Register one with::

    from infra.plans.mocks.registry import MockContext, resource_outputs

    @resource_outputs("aws:rds/instance:Instance")
    def rds_instance(ctx: MockContext, inputs: dict) -> dict:
        return {"id": ctx.physical_id("db"), "address": ...}

The special key ``"id"`` sets the physical id (otherwise one is made from the type).
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ACCOUNT_ID = "123456789012"
PARTITION = "aws"

OutputBuilder = Callable[["MockContext", dict[str, Any]], dict[str, Any]]
InvokeAnswer = Callable[["MockContext", dict[str, Any]], dict[str, Any]]

RESOURCE_OUTPUTS: dict[str, OutputBuilder] = {}
INVOKE_ANSWERS: dict[str, InvokeAnswer] = {}


def resource_outputs(*tokens: str) -> Callable[[OutputBuilder], OutputBuilder]:
    """Register a builder for one or more resource type tokens (a token only once)."""

    def register(builder: OutputBuilder) -> OutputBuilder:
        for token in tokens:
            if token in RESOURCE_OUTPUTS:
                raise ValueError(f"mock outputs for {token!r} are registered twice")
            RESOURCE_OUTPUTS[token] = builder
        return builder

    return register


def invoke_answer(*tokens: str) -> Callable[[InvokeAnswer], InvokeAnswer]:
    """Register the answer for one or more invoke (data source) tokens."""

    def register(answer: InvokeAnswer) -> InvokeAnswer:
        for token in tokens:
            if token in INVOKE_ANSWERS:
                raise ValueError(f"mock answer for invoke {token!r} is registered twice")
            INVOKE_ANSWERS[token] = answer
        return answer

    return register


@dataclass(frozen=True)
class MockContext:
    """Deterministic identity for one resource (or invoke) in one stack."""

    stack: str
    region: str
    type_token: str
    name: str
    account: str = ACCOUNT_ID

    def digest(self, salt: str = "") -> str:
        seed = f"{self.stack}|{self.type_token}|{self.name}|{salt}"
        return hashlib.sha256(seed.encode()).hexdigest()

    def physical_id(self, prefix: str, length: int = 17) -> str:
        """An AWS-style id such as `vpc-0a1b2c3d4e5f60718`."""
        return f"{prefix}-0{self.digest()[: length - 1]}"

    def token(self, length: int = 12, salt: str = "") -> str:
        """Lower-case alphanumerics, as in RDS/ElastiCache endpoint hosts."""
        alphabet = string.ascii_lowercase + string.digits
        raw = int(self.digest(salt), 16)
        chars = []
        for _ in range(length):
            raw, index = divmod(raw, len(alphabet))
            chars.append(alphabet[index])
        return "".join(chars)

    def upper_token(self, length: int = 13, salt: str = "") -> str:
        """Upper-case alphanumerics, as in CloudFront ids and RDS resource ids."""
        return self.token(length, salt).upper()

    def auto_name(self, inputs: dict[str, Any], key: str = "name", limit: int = 255) -> str:
        """The given name, or what Pulumi auto-naming would give: logical name + 7 chars."""
        given = inputs.get(key)
        if isinstance(given, str) and given:
            return given
        prefix = inputs.get(f"{key}Prefix")
        base = prefix if isinstance(prefix, str) and prefix else f"{self.name}-"
        return f"{base}{self.token(7, 'autoname')}"[:limit]

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return ":".join(
            [
                "arn",
                PARTITION,
                service,
                self.region if region else "",
                self.account if account else "",
                resource,
            ]
        )
