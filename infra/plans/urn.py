"""Resource URNs exactly as the Pulumi engine builds them (one home for the rule).

    urn:pulumi:<stack>::<project>::<qualified type>::<name>

The qualified type is the resource's type prefixed, `$`-joined, by its parent's *whole*
qualified type; the root stack's type (`pulumi:pulumi:Stack`) is never part of a chain. So a
route under a route table under a VPC under the Network component is
`movies:infra:Network$aws:ec2/vpc:Vpc$aws:ec2/routeTable:RouteTable$aws:ec2/route:Route`, and
the Network component itself is plain `movies:infra:Network`.

Read from pulumi/pulumi at commit 1b5949891b3cefcb9974752b24a5ecef0acc86c8:

- `pkg/resource/deploy/deployment.go`, `(*Deployment).generateURN`: "Skip empty parents and
  don't use the root stack type; otherwise, use the full qualified type" -- the parent's
  `QualifiedType()` (the third `::` field of its URN) is the prefix;
- `sdk/go/common/resource/urn/urn.go`, `New` (re-exported as `resource.NewURN` by
  `sdk/go/common/resource/urn.go`): joins `parentType$baseType` unless the parent type is
  empty or `tokens.RootStackType`; `QualifiedType`/`Type`/`Name` parse a URN (the name is
  everything after the third `::`, so it may itself contain `::`);
- `sdk/go/common/resource/stack.go`, `DefaultRootStackURN`: the stack is
  `pulumi:pulumi:Stack::<project>-<stack>`;
- `pkg/resource/deploy/step_generator.go`, `collapseAliasToUrn`, with
  `sdk/go/common/resource/alias.go`, `CreateURN`: an alias without its own parent takes the
  resource's parent; a root-stack parent (or `NoParent`) means no prefix; otherwise the
  prefix is the parent URN up to its last `::` plus `$`.

Pulumi's Python mocks do *not* follow this (`sdk/python/lib/pulumi/runtime/mocks.py`,
`MockMonitor.make_urn`: `parent.split("::")[2].split("$").pop()`, the parent's last type only,
root stack included), nor does the Python SDK's own `create_urn` for a root-stack parent;
the engine computes alias URNs itself from the alias specs the SDK sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.tokens import ResourceType

PREFIX = "urn:pulumi:"
NAME_DELIMITER = "::"
TYPE_DELIMITER = "$"
ROOT_STACK_TYPE = ResourceType.STACK


class URNError(ValueError):
    """A string that is not a Pulumi URN; the message is one line."""


@dataclass(frozen=True)
class URN:
    """The four parts of a URN, as `urn.URN`'s accessors read them."""

    stack: str
    project: str
    qualified_type: str
    name: str

    @property
    def type(self) -> str:
        """The resource's own type: the last `$` element of the qualified type."""
        return self.qualified_type.rsplit(TYPE_DELIMITER, 1)[-1]

    @property
    def type_chain(self) -> tuple[str, ...]:
        """Every type from the outermost ancestor (below the stack) to the resource's own."""
        return tuple(self.qualified_type.split(TYPE_DELIMITER))

    def __str__(self) -> str:
        return new_urn(self.stack, self.project, "", self.qualified_type, self.name)


def is_urn(text: object) -> bool:
    """`urn.URN.IsValid`: the prefix and at least three `::` delimiters."""
    return isinstance(text, str) and text.startswith(PREFIX) and text.count(NAME_DELIMITER) >= 3


def parse_urn(text: str) -> URN:
    """The parts of `text`; the name keeps any `::` it holds (`getComponentN(.., 3, open)`)."""
    if not is_urn(text):
        raise URNError(
            f"not a Pulumi URN: {text!r}; expected "
            "urn:pulumi:<stack>::<project>::<qualified type>::<name>"
        )
    stack, project, qualified_type, name = text[len(PREFIX) :].split(NAME_DELIMITER, 3)
    return URN(stack, project, qualified_type, name)


def new_urn(stack: str, project: str, parent_type: str, base_type: str, name: str) -> str:
    """`urn.New`: `parent_type$base_type`, unless the parent type is empty or the root stack's."""
    qualified = base_type
    if parent_type and parent_type != ROOT_STACK_TYPE:
        qualified = f"{parent_type}{TYPE_DELIMITER}{base_type}"
    return (
        f"{PREFIX}{stack}{NAME_DELIMITER}{project}{NAME_DELIMITER}{qualified}{NAME_DELIMITER}{name}"
    )


def stack_urn(stack: str, project: str) -> str:
    """`resource.DefaultRootStackURN`: the root stack resource's URN."""
    return new_urn(stack, project, "", ROOT_STACK_TYPE, f"{project}-{stack}")


def engine_urn(stack: str, project: str, parent: str | None, type_: str, name: str) -> str:
    """`(*Deployment).generateURN`: qualified by the parent's whole qualified type, except
    when there is no parent or the parent is the root stack."""
    parent_type = ""
    if parent:
        qualified = parse_urn(parent).qualified_type
        if qualified != ROOT_STACK_TYPE:
            parent_type = qualified
    return new_urn(stack, project, parent_type, type_, name)


def urn_of_chain(stack: str, project: str, chain: tuple[str, ...] | list[str], name: str) -> str:
    """The URN of a resource whose ancestors' types (outermost first, stack excluded) and own
    type are `chain`: what `engine_urn` gives when applied down the parent chain."""
    types = [t for t in chain if t != ROOT_STACK_TYPE]
    if not types:
        raise URNError("a URN needs a type; the chain holds none but the root stack's")
    return new_urn(stack, project, TYPE_DELIMITER.join(types[:-1]), types[-1], name)


def alias_urn(
    *,
    stack: str,
    project: str,
    name: str,
    type_: str,
    parent: str | None,
    no_parent: bool = False,
) -> str:
    """`collapseAliasToUrn` + `CreateURN` for an alias whose fields are already defaulted
    (name, type, parent, stack and project filled from the resource where the alias left
    them out): the parent URN up to its last `::` then `$`, no prefix for none or the stack."""
    if no_parent or not parent or parse_urn(parent).qualified_type == ROOT_STACK_TYPE:
        return (
            f"{PREFIX}{stack}{NAME_DELIMITER}{project}{NAME_DELIMITER}{type_}{NAME_DELIMITER}{name}"
        )
    return f"{parent[: parent.rfind(NAME_DELIMITER)]}{TYPE_DELIMITER}{type_}{NAME_DELIMITER}{name}"


def mocks_urn(stack: str, project: str, parent: str | None, type_: str, name: str) -> str:
    """What Pulumi's Python mocks build (`MockMonitor.make_urn`): the parent's *last* type
    only, root stack included. Kept to compare old plans with new, never to make a plan."""
    qualified = type_
    if parent:
        qualified = f"{parse_urn(parent).type}{TYPE_DELIMITER}{type_}"
    return (
        f"{PREFIX}{stack}{NAME_DELIMITER}{project}{NAME_DELIMITER}{qualified}{NAME_DELIMITER}{name}"
    )
