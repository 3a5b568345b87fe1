"""Crafted stacks for the review tests, built with the one fake-plan builder
(tests/plans/fake.py)."""

from __future__ import annotations

from typing import Any

from tests.plans.fake import plan, res

DB = ("movies:infra:Database",)


def db_primary(**overrides: Any) -> dict[str, Any]:
    inputs = {
        "identifier": "movies-dev-db",
        "engine": "postgres",
        "engineVersion": "16",
        "instanceClass": "db.t4g.small",
        "allocatedStorage": 20,
        "storageType": "gp3",
        "storageEncrypted": True,
        "multiAz": False,
        "username": "movies",
        "password": "[secret]",
        "tags": {"project": "movies", "stage": "cached", "environment": "dev"},
    }
    inputs.update(overrides)
    return res("aws:rds/instance:Instance", "db-primary", inputs, parents=DB)


def bucket(name: str = "movies-dev-media", res_name: str = "media-bucket") -> dict[str, Any]:
    return res(
        "aws:s3/bucket:Bucket",
        res_name,
        {"bucket": name, "tags": {"stage": "edge"}},
        parents=("movies:infra:MediaStorage",),  # the program's component type
    )


ALB_ARN = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/alb/1"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/1"


def wired_stack(env: str = "dev", stage: str = "edge") -> dict[str, Any]:
    """An edge-stage-shaped plan whose wiring (ids, ARNs, DNS names) is consistent."""
    sg = "aws:ec2/securityGroup:SecurityGroup"
    rule = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

    def ingress(name: str, to: str, frm: str, port: int) -> dict[str, Any]:
        return res(
            rule,
            name,
            {
                "securityGroupId": to,
                "referencedSecurityGroupId": frm,
                "fromPort": port,
                "toPort": port,
            },
        )

    return plan(
        stage,
        [
            res(sg, "alb-sg", {"name": "alb-sg"}, id_="sg-alb0001"),
            res(sg, "app-sg", {"name": "app-sg"}, id_="sg-app0001"),
            res(sg, "db-sg", {"name": "db-sg"}, id_="sg-db00001"),
            res(sg, "redis-sg", {"name": "redis-sg"}, id_="sg-red0001"),
            ingress("app-from-alb", "sg-app0001", "sg-alb0001", 8000),
            ingress("db-from-app", "sg-db00001", "sg-app0001", 5432),
            ingress("redis-from-app", "sg-red0001", "sg-app0001", 6379),
            res(
                "aws:lb/loadBalancer:LoadBalancer",
                "alb",
                {
                    "securityGroups": ["sg-alb0001"],
                    "subnets": ["subnet-a", "subnet-b"],
                    "internal": False,
                },
                id_=ALB_ARN,
                outputs={"dnsName": "alb-1.us-east-1.elb.amazonaws.com"},
            ),
            res(
                "aws:lb/targetGroup:TargetGroup",
                "web-tg",
                {"port": 8000},
                id_=TG_ARN,
            ),
            res(
                "aws:lb/listener:Listener",
                "http",
                {
                    "loadBalancerArn": ALB_ARN,
                    "port": 80,
                    "defaultActions": [
                        {
                            "type": "forward",
                            "targetGroupArn": TG_ARN,
                        }
                    ],
                },
            ),
            res(
                "aws:ec2/launchTemplate:LaunchTemplate",
                "web-lt",
                {
                    "instanceType": "t4g.small",
                    "vpcSecurityGroupIds": ["sg-app0001"],
                    "blockDeviceMappings": [
                        {"deviceName": "/dev/xvda", "ebs": {"volumeSize": 20, "volumeType": "gp3"}}
                    ],
                },
                id_="lt-0001",
            ),
            res(
                "aws:autoscaling/group:Group",
                "web",
                {
                    "minSize": 1,
                    "maxSize": 2,
                    "desiredCapacity": 1,
                    "launchTemplate": {"id": "lt-0001", "version": "1"},
                    "targetGroupArns": [TG_ARN],
                },
            ),
            res(
                "aws:rds/instance:Instance",
                "db-primary",
                {
                    "identifier": "movies-dev-db",
                    "engine": "postgres",
                    "instanceClass": "db.t4g.small",
                    "allocatedStorage": 20,
                    "storageType": "gp3",
                    "vpcSecurityGroupIds": ["sg-db00001"],
                },
                id_="movies-dev-db",
            ),
            res(
                "aws:rds/instance:Instance",
                "db-replica-0",
                {
                    "identifier": "movies-dev-db-replica-0",
                    "replicateSourceDb": "movies-dev-db",
                    "instanceClass": "db.t4g.small",
                    "vpcSecurityGroupIds": ["sg-db00001"],
                },
                id_="movies-dev-db-replica-0",
            ),
            res(
                "aws:elasticache/replicationGroup:ReplicationGroup",
                "redis",
                {
                    "nodeType": "cache.t4g.micro",
                    "numCacheClusters": 1,
                    "securityGroupIds": ["sg-red0001"],
                },
            ),
            res(
                "aws:s3/bucket:Bucket",
                "media",
                {"bucket": "movies-dev-media"},
                outputs={"bucketRegionalDomainName": "movies-dev-media.s3.us-east-1.amazonaws.com"},
            ),
            res(
                "aws:cloudfront/distribution:Distribution",
                "cdn",
                {
                    "priceClass": "PriceClass_100",
                    "origins": [
                        {"domainName": "alb-1.us-east-1.elb.amazonaws.com", "originId": "alb"},
                        {
                            "domainName": "movies-dev-media.s3.us-east-1.amazonaws.com",
                            "originId": "media",
                        },
                    ],
                },
            ),
        ],
        env=env,
    )
