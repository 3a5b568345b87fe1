"""Security groups: internet (or CloudFront only) -> ALB -> app -> DB and Redis, nothing wider.

At a stage with a CloudFront edge the ALB takes CloudFront's origin-facing prefix list; it
keeps its internet rules too while the stack setting `movies:edgeCutover` is `open` (DNS
still points at the ALB: docs/infra.md, the edge cut-over), so closing the ALB is its own
`pulumi up` that deletes exactly those rules.

Every rule is its own `aws.vpc.SecurityGroupIngressRule` / `...EgressRule`, so a stage that
adds or removes a path changes rules, never a group. Groups declare no inline rules, so the
provider strips AWS's default allow-all egress. The groups exist only for the parts a stage
has; their descriptions never mention a stage (a description change replaces a group).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.config import EDGE_CUTOVER_TAG
from infra.tokens import ResourceType

CLOUDFRONT_ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"
HTTP, HTTPS = 80, 443


@dataclass(frozen=True)
class SecurityArgs:
    name_prefix: str
    vpc_id: pulumi.Input[str]
    app_port: int  # the service port behind the ALB (the single box serves on 80)
    db_port: int
    redis_port: int
    load_balancer: bool  # an ALB fronts the app (else the single box is public)
    # Who reaches the ALB: the internet (0.0.0.0/0 on 80, and 443 with a certificate),
    # CloudFront's managed prefix list, or both during an edge cut-over (StackConfig).
    alb_from_internet: bool = True
    alb_from_cloudfront: bool = False
    alb_https: bool = False  # the ALB serves HTTPS (a certificate is set)
    database: bool = False
    cache: bool = False
    private_endpoints: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    # The hand-made box's group, imported as the app group (infra/adopt.py): its VPC, name
    # and description are the live ones, since changing any of them replaces a group.
    adopt_app: Any = None  # infra.adopt.Adopt


class Security(pulumi.ComponentResource):
    """Outputs: app_sg_id and, when present, alb_sg_id, db_sg_id, redis_sg_id, endpoints_sg_id."""

    def __init__(
        self, name: str, args: SecurityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_SECURITY, name, None, opts)
        if args.load_balancer and not (args.alb_from_internet or args.alb_from_cloudfront):
            raise ValueError(
                "alb_from_internet, alb_from_cloudfront: both False leaves the ALB unreachable; "
                "allowed: at least one True"
            )
        self._rule_prefix = name
        self._args = args

        self.app = self._group("app", "movies API instances")
        self.alb = (
            self._group("alb", "movies application load balancer") if args.load_balancer else None
        )
        self.db = self._group("db", "movies PostgreSQL") if args.database else None
        self.redis = self._group("redis", "movies Redis") if args.cache else None
        self.endpoints = (
            self._group("endpoints", "movies VPC interface endpoints")
            if args.private_endpoints
            else None
        )

        if self.alb is not None:
            self._alb_ingress(self.alb)
            self._egress(self.alb, "alb-to-app", args.app_port, group=self.app)
            self._ingress(self.app, "app-from-alb", args.app_port, group=self.alb)
        else:
            # The single box answers the internet itself, on HTTP's port (the service binds
            # 80 there). No 443: an ACM certificate cannot be installed on an instance, so
            # the box has no TLS to offer; HTTPS starts with the ALB.
            self._ingress(self.app, "app-from-internet", HTTP, cidr="0.0.0.0/0")

        # The app reaches AWS APIs (S3, SSM, Secrets Manager, Logs) and package mirrors over
        # HTTPS only, through the NAT, the endpoints or (single box) the internet gateway.
        self._egress(self.app, "app-to-https", HTTPS, cidr="0.0.0.0/0")
        if self.db is not None:
            self._egress(self.app, "app-to-db", args.db_port, group=self.db)
            self._ingress(self.db, "db-from-app", args.db_port, group=self.app)
        if self.redis is not None:
            self._egress(self.app, "app-to-redis", args.redis_port, group=self.redis)
            self._ingress(self.redis, "redis-from-app", args.redis_port, group=self.app)
        if self.endpoints is not None:
            self._ingress(self.endpoints, "endpoints-from-app", HTTPS, group=self.app)

        self.app_sg_id = self.app.id
        self.alb_sg_id = self.alb.id if self.alb else None
        self.db_sg_id = self.db.id if self.db else None
        self.redis_sg_id = self.redis.id if self.redis else None
        self.endpoints_sg_id = self.endpoints.id if self.endpoints else None
        self.register_outputs(
            {
                key: value
                for key, value in {
                    "appSgId": self.app_sg_id,
                    "albSgId": self.alb_sg_id,
                    "dbSgId": self.db_sg_id,
                    "redisSgId": self.redis_sg_id,
                    "endpointsSgId": self.endpoints_sg_id,
                }.items()
                if value is not None
            }
        )

    def _group(self, role: str, description: str) -> aws.ec2.SecurityGroup:
        adopt = self._args.adopt_app if role == "app" else None
        if adopt is not None:
            live = adopt.security_group
            return aws.ec2.SecurityGroup(
                f"{self._rule_prefix}-{role}",
                vpc_id=adopt.vpc_id,
                name=live.name,
                description=live.description,
                tags={**self._args.tags, "Name": f"{self._args.name_prefix}-{role}"},
                opts=pulumi.ResourceOptions(parent=self, import_=live.id),
            )
        return aws.ec2.SecurityGroup(
            f"{self._rule_prefix}-{role}",
            vpc_id=self._args.vpc_id,
            description=description,
            tags={**self._args.tags, "Name": f"{self._args.name_prefix}-{role}"},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _alb_ingress(self, alb: aws.ec2.SecurityGroup) -> None:
        if self._args.alb_from_cloudfront:
            # One port only: the prefix list weighs ~55 entries against the security group
            # rules quota. HTTPS when the ALB has a certificate (CloudFront's origin is then
            # https-only, to a name the certificate covers), else HTTP.
            prefix_list = aws.ec2.get_managed_prefix_list(name=CLOUDFRONT_ORIGIN_FACING)
            if self._args.alb_https:
                self._ingress(alb, "alb-from-cloudfront-https", HTTPS, prefix_list=prefix_list.id)
            else:
                self._ingress(alb, "alb-from-cloudfront-http", HTTP, prefix_list=prefix_list.id)
        if not self._args.alb_from_internet:
            return
        # Beside CloudFront's rule the internet rules are the cut-over's: tagged so, which
        # is how the policy pack (sg-no-world-ingress) tells them from an ALB left open.
        cutover = {EDGE_CUTOVER_TAG: "open"} if self._args.alb_from_cloudfront else {}
        self._ingress(alb, "alb-from-internet-http", HTTP, cidr="0.0.0.0/0", tags=cutover)
        if self._args.alb_https:
            self._ingress(alb, "alb-from-internet-https", HTTPS, cidr="0.0.0.0/0", tags=cutover)

    def _ingress(
        self,
        target: aws.ec2.SecurityGroup,
        label: str,
        port: int,
        *,
        group: aws.ec2.SecurityGroup | None = None,
        cidr: str | None = None,
        prefix_list: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        aws.vpc.SecurityGroupIngressRule(
            f"{self._rule_prefix}-{label}",
            security_group_id=target.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=group.id if group else None,
            cidr_ipv4=cidr,
            prefix_list_id=prefix_list,
            description=label,
            tags={**self._args.tags, "Name": f"{self._args.name_prefix}-{label}", **(tags or {})},
            opts=pulumi.ResourceOptions(parent=target),
        )

    def _egress(
        self,
        source: aws.ec2.SecurityGroup,
        label: str,
        port: int,
        *,
        group: aws.ec2.SecurityGroup | None = None,
        cidr: str | None = None,
    ) -> None:
        aws.vpc.SecurityGroupEgressRule(
            f"{self._rule_prefix}-{label}",
            security_group_id=source.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=group.id if group else None,
            cidr_ipv4=cidr,
            description=label,
            tags={**self._args.tags, "Name": f"{self._args.name_prefix}-{label}"},
            opts=pulumi.ResourceOptions(parent=source),
        )
