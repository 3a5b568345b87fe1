"""Query helpers for plan dicts (see docs/architecture.md for the shape)."""

from __future__ import annotations

import base64
from typing import Any

from infra.config import ENVIRONMENTS, STAGES

Plan = dict[str, Any]
Resource = dict[str, Any]
# Every (environment, stage) stack, in the plan order.
STACKS = [(env, stage) for env in ENVIRONMENTS for stage in STAGES]


def of_type(plan: Plan, type_token: str) -> list[Resource]:
    return [r for r in plan["resources"] if r["type"] == type_token]


def one(plan: Plan, type_token: str, name: str | None = None) -> Resource:
    found = [r for r in of_type(plan, type_token) if name is None or r["name"] == name]
    assert len(found) == 1, f"{type_token} {name}: found {[r['name'] for r in found]}"
    return found[0]


def named(plan: Plan, name: str) -> Resource:
    found = [r for r in plan["resources"] if r["name"] == name]
    assert len(found) == 1, f"{name}: found {len(found)}"
    return found[0]


def exports(plan: Plan) -> dict[str, Any]:
    return one(plan, "pulumi:pulumi:Stack")["outputs"]


def by_id(plan: Plan) -> dict[str, Resource]:
    return {r["id"]: r for r in plan["resources"] if r["id"]}


def user_data(plan: Plan) -> list[str]:
    """The rendered cloud-init of every instance / launch template in the plan."""
    texts = [r["inputs"]["userData"] for r in of_type(plan, "aws:ec2/instance:Instance")]
    texts += [
        base64.b64decode(r["inputs"]["userData"]).decode()
        for r in of_type(plan, "aws:ec2/launchTemplate:LaunchTemplate")
    ]
    return texts


RDS = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
BUCKET = "aws:s3/bucket:Bucket"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
ASG = "aws:autoscaling/group:Group"
TG = "aws:lb/targetGroup:TargetGroup"
ALB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
RULE = "aws:lb/listenerRule:ListenerRule"
EC2 = "aws:ec2/instance:Instance"
CLOUDFRONT = "aws:cloudfront/distribution:Distribution"
