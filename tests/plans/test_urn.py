"""URNs as the Pulumi engine builds them (infra/plans/urn.py), in the plans and the docs.

The real-world reference URNs below are copied from a recorded engine event stream of a real
`aws-ts-eks` deployment (awsx VPC component -> awsx Subnet component -> route), kept by the
Pulumi CLI's display tests: repository pulumi/pulumi, path
`pkg/backend/display/testdata/not-truncated/template-body.json`, commit
cdd95f8cee7f23205e0411a907a15edc392625f6 (the file as of
1b5949891b3cefcb9974752b24a5ecef0acc86c8). Each resource's `urn` and `parent` are as the
engine wrote them in that stack's state.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from infra.plans.index import ResourceRefError, resolve_ref, resolve_refs
from infra.plans.mocks import run_program
from infra.plans.mocks.engine import RecordingMonitor
from infra.plans.urn import (
    ROOT_STACK_TYPE,
    URNError,
    alias_urn,
    engine_urn,
    mocks_urn,
    parse_urn,
    stack_urn,
    urn_of_chain,
)

REPO = Path(__file__).resolve().parents[2]

# (urn, parent) pairs from the public event stream cited in the module docstring.
EKS_STACK = "urn:pulumi:dev::aws-ts-eks::pulumi:pulumi:Stack::aws-ts-eks-dev"
EKS_VPC = "urn:pulumi:dev::aws-ts-eks::awsx:x:ec2:Vpc::vpc"
EKS_SUBNET = "urn:pulumi:dev::aws-ts-eks::awsx:x:ec2:Vpc$awsx:x:ec2:Subnet::vpc-private-0"
EKS_ROUTE = (
    "urn:pulumi:dev::aws-ts-eks::awsx:x:ec2:Vpc$awsx:x:ec2:Subnet$aws:ec2/route:Route"
    "::vpc-private-0-nat-0"
)
EKS_PAIRS = [(EKS_VPC, EKS_STACK), (EKS_SUBNET, EKS_VPC), (EKS_ROUTE, EKS_SUBNET)]


# -- the rule itself -------------------------------------------------------------------


def test_nested_components_give_the_engines_urn() -> None:
    """stack -> component -> component -> resource -> child, one registration at a time."""
    root = stack_urn("dev", "movies")
    outer = engine_urn("dev", "movies", root, "movies:test:Outer", "outer")
    inner = engine_urn("dev", "movies", outer, "movies:test:Inner", "inner")
    table = engine_urn("dev", "movies", inner, "aws:ec2/routeTable:RouteTable", "rt")
    route = engine_urn("dev", "movies", table, "aws:ec2/route:Route", "default")
    assert root == "urn:pulumi:dev::movies::pulumi:pulumi:Stack::movies-dev"
    assert outer == "urn:pulumi:dev::movies::movies:test:Outer::outer"
    assert route == (
        "urn:pulumi:dev::movies::movies:test:Outer$movies:test:Inner"
        "$aws:ec2/routeTable:RouteTable$aws:ec2/route:Route::default"
    )
    assert route == urn_of_chain(
        "dev",
        "movies",
        (
            "movies:test:Outer",
            "movies:test:Inner",
            "aws:ec2/routeTable:RouteTable",
            "aws:ec2/route:Route",
        ),
        "default",
    )
    # What Pulumi's Python mocks would have built instead: last parent type, stack included.
    assert mocks_urn("dev", "movies", table, "aws:ec2/route:Route", "default") == (
        "urn:pulumi:dev::movies::aws:ec2/routeTable:RouteTable$aws:ec2/route:Route::default"
    )
    assert mocks_urn("dev", "movies", root, "movies:test:Outer", "outer") == (
        "urn:pulumi:dev::movies::pulumi:pulumi:Stack$movies:test:Outer::outer"
    )


def test_parse_keeps_a_name_with_delimiters_and_refuses_a_non_urn() -> None:
    parts = parse_urn("urn:pulumi:dev::movies::a:b:C$d:e:F::name::with::colons")
    assert parts.name == "name::with::colons" and parts.type == "d:e:F"
    assert parts.type_chain == ("a:b:C", "d:e:F")
    assert str(parts) == "urn:pulumi:dev::movies::a:b:C$d:e:F::name::with::colons"
    with pytest.raises(URNError, match="not a Pulumi URN"):
        parse_urn("arn:aws:s3:::bucket")


def test_a_public_engine_state_follows_the_same_rule() -> None:
    for urn, parent in EKS_PAIRS:
        parts = parse_urn(urn)
        assert engine_urn(parts.stack, parts.project, parent, parts.type, parts.name) == urn
    parts = parse_urn(EKS_ROUTE)
    # the mocks' rule would have lost the VPC component's type
    assert mocks_urn(parts.stack, parts.project, EKS_SUBNET, parts.type, parts.name) != EKS_ROUTE
    assert stack_urn("dev", "aws-ts-eks") == EKS_STACK


def test_alias_urns_follow_the_engines_collapse() -> None:
    parent = "urn:pulumi:dev::movies::movies:test:Outer$movies:test:Inner::inner"
    kw = {"stack": "dev", "project": "movies", "type_": "aws:s3/bucket:Bucket", "name": "old"}
    assert alias_urn(parent=parent, **kw) == (
        "urn:pulumi:dev::movies::movies:test:Outer$movies:test:Inner$aws:s3/bucket:Bucket::old"
    )
    root = stack_urn("dev", "movies")
    assert alias_urn(parent=root, **kw) == "urn:pulumi:dev::movies::aws:s3/bucket:Bucket::old"
    assert alias_urn(parent=parent, no_parent=True, **kw) == alias_urn(parent=None, **kw)


# -- the recording monitor -------------------------------------------------------------


class _Box(pulumi.ComponentResource):
    def __init__(self, type_: str, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_, name, None, opts)


def nested_program() -> None:
    outer = _Box("movies:test:Outer", "outer")
    inner = _Box("movies:test:Inner", "inner", pulumi.ResourceOptions(parent=outer))
    vpc = aws.ec2.Vpc("vpc", cidr_block="10.9.0.0/16", opts=pulumi.ResourceOptions(parent=inner))
    table = aws.ec2.RouteTable(
        "rt",
        vpc_id=vpc.id,
        opts=pulumi.ResourceOptions(
            parent=vpc,
            aliases=[
                pulumi.Alias(name="rt-old"),
                pulumi.Alias(name="rt-top", parent=None),
                pulumi.Alias(name="rt-root", parent=pulumi.runtime.get_root_resource()),
            ],
        ),
    )
    aws.ec2.Route(
        "default",
        route_table_id=table.id,
        destination_cidr_block="0.0.0.0/0",
        opts=pulumi.ResourceOptions(parent=table),
    )


def test_run_program_records_engine_urns_parents_and_aliases() -> None:
    run = run_program(nested_program, project="movies", stack="dev", region="us-east-1")
    by_name = {r.name: r for r in run.resources}
    chain = "movies:test:Outer$movies:test:Inner$aws:ec2/vpc:Vpc"
    route = by_name["default"]
    assert route.urn == (
        f"urn:pulumi:dev::movies::{chain}$aws:ec2/routeTable:RouteTable"
        "$aws:ec2/route:Route::default"
    )
    assert route.parent == by_name["rt"].urn
    assert by_name["rt"].urn in route.dependencies
    assert by_name["outer"].urn == "urn:pulumi:dev::movies::movies:test:Outer::outer"
    assert by_name["outer"].parent == run.stack_urn
    assert by_name["rt"].options["aliases"] == sorted(
        [
            f"urn:pulumi:dev::movies::{chain}$aws:ec2/routeTable:RouteTable::rt-old",
            "urn:pulumi:dev::movies::aws:ec2/routeTable:RouteTable::rt-top",
            "urn:pulumi:dev::movies::aws:ec2/routeTable:RouteTable::rt-root",
        ]
    )


def test_the_plan_differs_from_a_mocks_urn_plan_in_urns_only(monkeypatch, stack_plan) -> None:
    """The same stack built with Pulumi's own MockMonitor.make_urn: after mapping its URNs
    to the engine's (tests/plans/urn_change.py) the bytes are the same."""
    from infra.plans.build import build_plan, dumps_plan
    from tests.plans.urn_change import changed_urns, normalised

    # The session's plan of the stack (tests/conftest.py: the same build_plan call, made
    # with the engine's URN rule, before the patch below), not a second build of it here.
    ours = copy.deepcopy(stack_plan("prod", "edge"))
    monkeypatch.setattr(RecordingMonitor, "make_urn", pulumi_mocks.MockMonitor.make_urn)
    theirs = build_plan("prod", "edge")
    assert changed_urns(theirs, ours), "the mocks' URNs should differ for nested resources"
    assert dumps_plan(normalised(theirs, ours)) == dumps_plan(ours)


# -- every plan and the docs -----------------------------------------------------------


def test_every_plan_urn_holds_its_whole_parent_chain(plans) -> None:
    checked = 0
    for plan in plans.values():
        by_urn = {r["urn"]: r for r in plan["resources"]}
        for r in plan["resources"]:
            assert f"{ROOT_STACK_TYPE}$" not in r["urn"], r["urn"]
            types, parent = [r["type"]], r["parent"]
            while parent is not None:
                above = by_urn[parent]  # every parent is in the plan
                if above["type"] != ROOT_STACK_TYPE:
                    types.insert(0, above["type"])
                parent = above["parent"]
            assert parse_urn(r["urn"]).type_chain == tuple(types), r["urn"]
            assert all(d in by_urn for d in r["dependencies"]), r["urn"]
            checked += len(types) >= 3  # a resource with a grandparent below the stack
    assert checked > 100


URN_IN_TEXT = re.compile(r"urn:pulumi:[^\s'\"`<>)\]]+")


def test_every_urn_printed_in_the_docs_is_in_a_plan(plans) -> None:
    known = {r["urn"] for plan in plans.values() for r in plan["resources"]}
    docs = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    found = {(d.name, u) for d in docs for u in URN_IN_TEXT.findall(d.read_text("utf-8"))}
    assert found, "the docs print at least one URN (the edge runbook)"
    missing = sorted((name, u) for name, u in found if u not in known)
    assert not missing, missing


# -- naming a resource -----------------------------------------------------------------


def test_resolve_ref_by_urn_name_and_type_name(plans) -> None:
    plan = plans[("prod", "edge")]
    db = next(r for r in plan["resources"] if r["type"] == "aws:rds/instance:Instance")
    assert resolve_ref(plan, db["urn"]) == db["urn"]
    assert resolve_ref(plan, db["name"]) == db["urn"]
    assert resolve_ref(plan, f"{db['type']}::{db['name']}") == db["urn"]


def test_resolve_ref_refuses_unknown_in_one_line_with_near_matches(plans) -> None:
    plan = plans[("prod", "edge")]
    with pytest.raises(ResourceRefError) as err:
        resolve_ref(plan, "database-primray")
    message = str(err.value)
    assert "\n" not in message and "near: database-primary" in message
    # The old (mocks') URN of the rule the edge runbook names: the engine's is the near match.
    old = (
        "urn:pulumi:prod::movies::aws:ec2/securityGroup:SecurityGroup"
        "$aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::security-alb-from-internet-http"
    )
    with pytest.raises(
        ResourceRefError, match=r"near: urn:pulumi:prod::movies::movies:infra:Security\$"
    ):
        resolve_ref(plan, old)


def test_resolve_refs_spans_both_sides_and_refuses_ambiguity() -> None:
    def res(urn: str) -> dict:
        parts = parse_urn(urn)
        return {"urn": urn, "type": parts.type, "name": parts.name}

    old_urn = "urn:pulumi:dev::movies::movies:infra:Old$aws:s3/bucket:Bucket::media"
    new_urn = "urn:pulumi:dev::movies::movies:infra:New$aws:s3/bucket:Bucket::media"
    old, new = {"resources": [res(old_urn)]}, {"resources": [res(new_urn)]}
    assert resolve_refs((old, new), ["media"]) == {old_urn, new_urn}
    assert resolve_refs((old, new), ["nothing"], unknown_ok=True) == frozenset()
    twins = {"resources": [res(old_urn), res("urn:pulumi:dev::movies::aws:sqs/queue:Queue::media")]}
    with pytest.raises(ResourceRefError, match=r"ambiguous.*TYPE::NAME"):
        resolve_refs((twins,), ["media"])
    assert resolve_refs((twins,), ["aws:sqs/queue:Queue::media"]) == {
        "urn:pulumi:dev::movies::aws:sqs/queue:Queue::media"
    }
