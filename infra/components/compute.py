"""Compute: the single box (stages 1-2), and the web tier behind an ALB (stage 3 on).

- `SingleBox`: one instance in a public subnet with an Elastic IP, SSM instead of SSH,
  IMDSv2 only, an encrypted gp3 root volume.
- `LoadBalancer`: the ALB across >= 2 AZs, the web target group (and the search one at
  scale-5x, reached by a listener rule), HTTP listener, HTTPS + redirect with a certificate,
  and a 404 for `/metrics*` on every forwarding listener ahead of any forward rule.
- `WebTier`: launch template (IMDSv2 required, hop limit 1, encrypted gp3, no public IP)
  and an ASG in private subnets on the template's `latest_version`, with instance refresh
  and target tracking on ALBRequestCountPerTarget.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

HEALTH_CHECK_PATH = "/healthz"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
ROOT_DEVICE = "/dev/xvda"  # Amazon Linux 2023
# ALB rule priorities: the lower number is evaluated first.
METRICS_RULE_PRIORITY = 5
SEARCH_RULE_PRIORITY = 10
METRICS_PATH_PATTERN = "/metrics*"
_GRAVITON = re.compile(r"^[a-z]+\d+[a-z]*g[a-z]*\.")


def architecture(instance_type: str) -> str:
    """`arm64` for Graviton families (t4g, c7g, m7gd, ...), else `x86_64`."""
    return "arm64" if _GRAVITON.match(instance_type) else "x86_64"


def ami_parameter(instance_type: str) -> str:
    """The public SSM parameter holding the latest Amazon Linux 2023 AMI for the type."""
    arch = architecture(instance_type)
    return f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"


def _metadata_options() -> dict[str, object]:
    # IMDSv2 only; hop limit 1 so nothing forwarded off the instance can reach IMDS.
    return {
        "http_endpoint": "enabled",
        "http_tokens": "required",
        "http_put_response_hop_limit": 1,
        "instance_metadata_tags": "disabled",
    }


# --- single box ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SingleBoxArgs:
    name_prefix: str
    instance_type: str
    root_volume_gb: int
    ami_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]  # a public subnet
    security_group_ids: Sequence[pulumi.Input[str]]
    instance_profile_name: pulumi.Input[str]
    user_data: pulumi.Input[str]
    holds_data: bool  # PostgreSQL lives on this box's root volume (stage 1)
    protect: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class SingleBox(pulumi.ComponentResource):
    """Outputs: instance_id, public_ip, public_dns, private_ip."""

    def __init__(
        self, name: str, args: SingleBoxArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("movies:infra:SingleBox", name, None, opts)
        self.instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=args.ami_id,
            instance_type=args.instance_type,
            subnet_id=args.subnet_id,
            vpc_security_group_ids=list(args.security_group_ids),
            iam_instance_profile=args.instance_profile_name,
            associate_public_ip_address=False,  # the Elastic IP is the public address
            user_data=args.user_data,
            user_data_replace_on_change=False,  # a new release must not replace the box
            metadata_options=_metadata_options(),
            root_block_device={
                "volume_type": "gp3",
                "volume_size": args.root_volume_gb,
                "encrypted": True,
                # Holding the database, the volume outlives an accidental termination.
                "delete_on_termination": not args.holds_data,
            },
            monitoring=True,
            disable_api_termination=args.protect,
            tags={**args.tags, "Name": f"{args.name_prefix}-box"},
            volume_tags={**args.tags, "Name": f"{args.name_prefix}-box-root"},
            opts=pulumi.ResourceOptions(
                parent=self,
                # A newer AMI in the SSM parameter must not replace a running box.
                ignore_changes=["ami"],
                # Kept at split-db too: Pulumi allows a replace in the very update that lifts
                # protect, and the single-box -> split-db update is when the box is most at
                # risk (its volume still holds the only PostgreSQL copy until the restore).
                protect=args.protect,
            ),
        )
        self.eip = aws.ec2.Eip(
            f"{name}-eip",
            domain="vpc",
            instance=self.instance.id,
            tags={**args.tags, "Name": f"{args.name_prefix}-box"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.instance_id = self.instance.id
        self.public_ip = self.eip.public_ip
        self.public_dns = self.eip.public_dns
        self.private_ip = self.instance.private_ip
        self.register_outputs(
            {
                "instanceId": self.instance_id,
                "publicIp": self.public_ip,
                "publicDns": self.public_dns,
            }
        )


# --- load balancer ------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchRoute:
    """`GET <path>?<query_key>=...` goes to the search target group."""

    path: str
    query_key: str


@dataclass(frozen=True)
class LoadBalancerArgs:
    name_prefix: str
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]  # public subnets, one per AZ (>= 2)
    security_group_id: pulumi.Input[str]
    app_port: int
    # With a certificate, HTTP redirects to HTTPS (at the edge stages too: CloudFront then
    # reaches the ALB over HTTPS, so a redirect never loops).
    certificate_arn: str | None = None
    search: SearchRoute | None = None
    deletion_protection: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class LoadBalancer(pulumi.ComponentResource):
    """Outputs: alb_arn, alb_arn_suffix, dns_name, zone_id, url, target groups by role."""

    def __init__(
        self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("movies:infra:LoadBalancer", name, None, opts)
        if len(args.subnet_ids) < 2:
            raise ValueError(
                f"subnet_ids: invalid count {len(args.subnet_ids)}; "
                "allowed: >= 2 (an ALB spans 2 AZs)"
            )
        child = pulumi.ResourceOptions(parent=self)
        self.alb = aws.lb.LoadBalancer(
            f"{name}-lb",
            load_balancer_type="application",
            internal=False,
            subnets=list(args.subnet_ids),
            security_groups=[args.security_group_id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.deletion_protection,
            idle_timeout=30,
            tags={**args.tags, "Name": f"{args.name_prefix}-alb"},
            opts=child,
        )
        self.target_groups: dict[str, aws.lb.TargetGroup] = {
            "web": self._target_group(name, "web", args)
        }
        if args.search is not None:
            self.target_groups["search"] = self._target_group(name, "search", args)

        web_forward = [{"type": "forward", "target_group_arn": self.target_groups["web"].arn}]
        self.https_listener: aws.lb.Listener | None = None
        if args.certificate_arn:
            self.https_listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=self.alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=args.certificate_arn,
                default_actions=web_forward,
                opts=child,
            )
        http_actions: list[dict[str, object]] = web_forward
        if args.certificate_arn:
            http_actions = [
                {
                    "type": "redirect",
                    "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"},
                }
            ]
        self.http_listener = aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=http_actions,
            opts=child,
        )
        # Rules go on every listener that forwards (a redirecting one sends clients to HTTPS).
        serving = [("", self.http_listener)] if http_actions is web_forward else []
        if self.https_listener is not None:
            serving.append(("-https", self.https_listener))
        self.metrics_rules = [
            self._metrics_rule(name + suffix, listener) for suffix, listener in serving
        ]
        self.search_rules: list[aws.lb.ListenerRule] = []
        if args.search is not None:
            self.search_rules = [
                self._search_rule(name + suffix, listener, args.search)
                for suffix, listener in serving
            ]

        self.alb_arn = self.alb.arn
        self.alb_arn_suffix = self.alb.arn_suffix
        self.dns_name = self.alb.dns_name
        self.zone_id = self.alb.zone_id
        self.https = bool(args.certificate_arn)
        scheme = "https" if self.https else "http"
        self.url = self.alb.dns_name.apply(lambda dns: f"{scheme}://{dns}")
        self.register_outputs(
            {
                "albArn": self.alb_arn,
                "dnsName": self.dns_name,
                "url": self.url,
                "targetGroupArns": {k: tg.arn for k, tg in self.target_groups.items()},
            }
        )

    def _metrics_rule(self, name: str, listener: aws.lb.Listener) -> aws.lb.ListenerRule:
        """`/metrics*` answers 404 at the ALB: the scrape is for the box itself, not the internet.

        Evaluated before every forward rule (a lower number wins), so no path pattern of a
        later rule can reach the service's metrics through the load balancer.
        """
        return aws.lb.ListenerRule(
            f"{name}-metrics",
            listener_arn=listener.arn,
            priority=METRICS_RULE_PRIORITY,
            conditions=[{"path_pattern": {"values": [METRICS_PATH_PATTERN]}}],
            actions=[
                {
                    "type": "fixed-response",
                    "fixed_response": {
                        "content_type": "text/plain",
                        "message_body": "not found",
                        "status_code": "404",
                    },
                }
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _search_rule(
        self, name: str, listener: aws.lb.Listener, search: SearchRoute
    ) -> aws.lb.ListenerRule:
        return aws.lb.ListenerRule(
            f"{name}-search",
            listener_arn=listener.arn,
            priority=SEARCH_RULE_PRIORITY,
            conditions=[
                {"path_pattern": {"values": [search.path]}},
                {"query_strings": [{"key": search.query_key, "value": "*"}]},
            ],
            actions=[{"type": "forward", "target_group_arn": self.target_groups["search"].arn}],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _target_group(self, name: str, role: str, args: LoadBalancerArgs) -> aws.lb.TargetGroup:
        return aws.lb.TargetGroup(
            f"{name}-{role}",
            port=args.app_port,
            protocol="HTTP",
            target_type="instance",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check={
                "path": HEALTH_CHECK_PATH,
                "port": "traffic-port",
                "protocol": "HTTP",
                "matcher": "200",
                "interval": 15,
                "timeout": 5,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
            tags={**args.tags, "Name": f"{args.name_prefix}-{role}"},
            opts=pulumi.ResourceOptions(parent=self),
        )


# --- web tier (launch template + autoscaling group) ---------------------------------------


@dataclass(frozen=True)
class WebTierArgs:
    name_prefix: str
    role: str  # web | search: the Name tag and the ASG's purpose
    instance_type: str
    min_size: int
    max_size: int
    desired_capacity: int
    scale_target_per_minute: int  # ALBRequestCountPerTarget target value
    root_volume_gb: int
    ami_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]  # private subnets
    security_group_ids: Sequence[pulumi.Input[str]]
    instance_profile_name: pulumi.Input[str]
    user_data: pulumi.Input[str]
    target_group_arn: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    alb_arn_suffix: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)


class WebTier(pulumi.ComponentResource):
    """Outputs: asg_name, launch_template_id, launch_template_version."""

    def __init__(
        self, name: str, args: WebTierArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("movies:infra:WebTier", name, None, opts)
        if not args.min_size <= args.desired_capacity <= args.max_size:
            raise ValueError(
                f"desired_capacity: invalid value {args.desired_capacity}; "
                f"allowed: {args.min_size}..{args.max_size}"
            )
        child = pulumi.ResourceOptions(parent=self)
        instance_tags = {**args.tags, "Name": f"{args.name_prefix}-{args.role}"}
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            image_id=args.ami_id,
            instance_type=args.instance_type,
            iam_instance_profile={"name": args.instance_profile_name},
            user_data=pulumi.Output.from_input(args.user_data).apply(
                lambda text: base64.b64encode(text.encode()).decode()
            ),
            metadata_options=_metadata_options(),
            network_interfaces=[
                {
                    "device_index": 0,
                    "associate_public_ip_address": "false",
                    "delete_on_termination": "true",
                    "security_groups": list(args.security_group_ids),
                }
            ],
            block_device_mappings=[
                {
                    "device_name": ROOT_DEVICE,
                    "ebs": {
                        "volume_type": "gp3",
                        "volume_size": args.root_volume_gb,
                        "encrypted": "true",
                        "delete_on_termination": "true",
                    },
                }
            ],
            monitoring={"enabled": True},
            update_default_version=True,
            tag_specifications=[
                {"resource_type": "instance", "tags": instance_tags},
                {"resource_type": "volume", "tags": instance_tags},
            ],
            tags=instance_tags,
            opts=child,
        )
        self.group = aws.autoscaling.Group(
            f"{name}-asg",
            min_size=args.min_size,
            max_size=args.max_size,
            desired_capacity=args.desired_capacity,
            vpc_zone_identifiers=list(args.subnet_ids),
            # The template's number, not "$Latest": instance refresh only starts when the
            # version the ASG points at changes.
            launch_template={
                "id": self.launch_template.id,
                "version": self.launch_template.latest_version.apply(str),
            },
            target_group_arns=[args.target_group_arn],
            health_check_type="ELB",
            health_check_grace_period=180,
            default_instance_warmup=120,
            instance_refresh={
                "strategy": "Rolling",
                "preferences": {"min_healthy_percentage": 90, "instance_warmup": "120"},
            },
            enabled_metrics=["GroupInServiceInstances", "GroupDesiredCapacity"],
            tags=[
                {"key": key, "value": value, "propagate_at_launch": True}
                for key, value in sorted(instance_tags.items())
            ],
            opts=pulumi.ResourceOptions(
                parent=self,
                # Target tracking owns the running count between deployments.
                ignore_changes=["desired_capacity"],
            ),
        )
        resource_label = pulumi.Output.concat(
            args.alb_arn_suffix, "/", args.target_group_arn_suffix
        )
        self.scaling_policy = aws.autoscaling.Policy(
            f"{name}-requests",
            autoscaling_group_name=self.group.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=120,
            target_tracking_configuration={
                "predefined_metric_specification": {
                    "predefined_metric_type": "ALBRequestCountPerTarget",
                    "resource_label": resource_label,
                },
                "target_value": float(args.scale_target_per_minute),
            },
            opts=child,
        )
        self.asg_name = self.group.name
        self.launch_template_id = self.launch_template.id
        self.launch_template_version = self.launch_template.latest_version
        self.register_outputs(
            {
                "asgName": self.asg_name,
                "launchTemplateId": self.launch_template_id,
                "launchTemplateVersion": self.launch_template_version,
            }
        )
