"""The mocks package: deterministic outputs, invoke answers, options capture, secrets."""

from __future__ import annotations

import importlib
import inspect

import pulumi
import pulumi_aws as aws
import pytest

from infra.config import ENVIRONMENTS, STAGES
from infra.plans.mocks import RESOURCE_OUTPUTS, run_program
from infra.plans.mocks.engine import MockInvokeError
from infra.tokens import SECRET_MARKER


def small_program() -> None:
    vpc = aws.ec2.Vpc("vpc", cidr_block="10.9.0.0/16")

    class Part(pulumi.ComponentResource):
        def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
            super().__init__("movies:test:Part", name, None, opts)
            self.group = aws.ec2.SecurityGroup(
                f"{name}-sg",
                vpc_id=vpc.id,
                opts=pulumi.ResourceOptions(
                    parent=self, ignore_changes=["description"], delete_before_replace=True
                ),
            )
            self.register_outputs({"groupId": self.group.id})

    Part("part", opts=pulumi.ResourceOptions(protect=True))
    aws.ec2.Eip(
        "eip",
        domain="vpc",
        opts=pulumi.ResourceOptions(retain_on_delete=True, aliases=[pulumi.Alias(name="old-eip")]),
    )
    secret = aws.secretsmanager.Secret("secret", name="s")
    aws.secretsmanager.SecretVersion(
        "secret-value", secret_id=secret.id, secret_string=pulumi.Output.secret("hunter2")
    )
    pulumi.export("vpc_id", vpc.id)
    pulumi.export("token", pulumi.Output.secret("hunter2"))


def run(stack: str = "dev"):
    return run_program(small_program, project="movies", stack=stack, region="us-east-1")


def test_outputs_are_realistic_and_deterministic() -> None:
    first, second = run(), run()
    assert [r.to_plan() for r in first.resources] == [r.to_plan() for r in second.resources]
    vpc = first.by_type("aws:ec2/vpc:Vpc")[0]
    assert vpc.id.startswith("vpc-0") and len(vpc.id) == len("vpc-0123456789abcdef0")
    assert vpc.outputs["arn"] == f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc.id}"
    eip = first.by_type("aws:ec2/eip:Eip")[0]
    assert eip.outputs["publicIp"].count(".") == 3
    # A different stack gets different ids.
    assert run("prod").by_type("aws:ec2/vpc:Vpc")[0].id != vpc.id


def test_resources_carry_parent_dependencies_and_urns() -> None:
    result = run()
    by_name = {r.name: r for r in result.resources}
    part, group, vpc = by_name["part"], by_name["part-sg"], by_name["vpc"]
    assert part.type == "movies:test:Part" and part.id == "" and part.inputs == {}
    assert part.outputs == {"groupId": group.id}
    assert group.parent == part.urn
    assert vpc.urn in group.dependencies
    assert (
        group.urn
        == "urn:pulumi:dev::movies::movies:test:Part$aws:ec2/securityGroup:SecurityGroup::part-sg"
    )
    assert result.stack_urn == "urn:pulumi:dev::movies::pulumi:pulumi:Stack::movies-dev"


def test_options_are_captured_by_the_transformation() -> None:
    by_name = {r.name: r for r in run().resources}
    assert by_name["part"].options["protect"] is True
    # protect is inherited from the parent, as the engine would see it
    group = by_name["part-sg"].options
    assert group["protect"] is True
    assert group["ignoreChanges"] == ["description"]
    assert group["deleteBeforeReplace"] is True
    eip = by_name["eip"].options
    assert eip["retainOnDelete"] is True
    assert eip["aliases"] == ["urn:pulumi:dev::movies::aws:ec2/eip:Eip::old-eip"]
    assert by_name["vpc"].options == {
        "protect": False,
        "retainOnDelete": False,
        "aliases": [],
        "ignoreChanges": [],
        "deleteBeforeReplace": False,
    }


def test_secrets_are_masked_in_inputs_outputs_and_exports() -> None:
    result = run()
    version = next(r for r in result.resources if r.name == "secret-value")
    assert version.inputs["secretString"] == SECRET_MARKER
    assert version.outputs["secretString"] == SECRET_MARKER
    assert result.exports["token"] == SECRET_MARKER and result.secret_exports == ["token"]
    assert "hunter2" not in repr([r.to_plan() for r in result.resources])


def test_unknown_invoke_fails_loudly() -> None:
    def program() -> None:
        aws.ec2.get_vpc(default=True)

    with pytest.raises(MockInvokeError, match="getVpc"):
        run_program(program, project="movies", stack="dev", region="us-east-1")
    # and the runtime is clean again afterwards
    assert run().by_type("aws:ec2/vpc:Vpc")


def test_every_planned_type_has_an_output_builder(plans) -> None:
    """A type without a builder would get only a synthetic id: register one."""
    types = {
        r["type"]
        for plan in plans.values()
        for r in plan["resources"]
        if not r["type"].startswith(("movies:", "pulumi:"))
    }
    missing = sorted(types - set(RESOURCE_OUTPUTS))
    assert missing == []


def _taggable(type_token: str) -> bool:
    package, module_path, class_name = type_token.split(":")
    if package != "aws":
        return False
    module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    cls = getattr(module, class_name)
    return "tags" in inspect.signature(cls._internal_init).parameters


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stage", STAGES)
def test_every_taggable_resource_has_the_four_tags(plans, env: str, stage: str) -> None:
    plan = plans[(env, stage)]
    required = {"project": "movies", "stage": stage, "environment": env, "owner": "platform-team"}
    taggable = {t for t in {r["type"] for r in plan["resources"]} if _taggable(t)}
    assert "aws:ec2/vpc:Vpc" in taggable
    for resource in plan["resources"]:
        if resource["type"] not in taggable:
            continue
        tags = resource["inputs"].get("tags")
        if isinstance(tags, list):  # autoscaling group
            tags = {t["key"]: t["value"] for t in tags if t["propagateAtLaunch"]}
        assert tags is not None, resource["urn"]
        assert {k: tags.get(k) for k in required} == required, resource["urn"]


def test_resource_level_region_is_the_region_in_the_arn() -> None:
    def program() -> None:
        aws.sns.Topic("here", name="alarms")
        aws.sns.Topic("edge", name="edge-alarms", region="us-east-1")
        aws.cloudwatch.MetricAlarm(
            "cdn-5xx",
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=1,
            region="us-east-1",
        )

    result = run_program(program, project="movies", stack="prod", region="eu-west-1")
    arns = {r.name: r.outputs["arn"] for r in result.resources}
    assert arns["here"] == "arn:aws:sns:eu-west-1:123456789012:alarms"
    assert arns["edge"] == "arn:aws:sns:us-east-1:123456789012:edge-alarms"
    assert ":us-east-1:" in arns["cdn-5xx"]
