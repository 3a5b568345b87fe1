"""`WebTier`: launch template (IMDSv2 required, hop limit 1, encrypted gp3, no public IP) and
an ASG in private subnets on the template's `latest_version`, with instance refresh and
target tracking on ALBRequestCountPerTarget."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.program.components.instance import READY_SECONDS, ROOT_DEVICE, metadata_options
from infra.program.components.observability import FIVE_MINUTES, Observability

# Launch before terminate; the range and why: infra/program/refresh.py.
from infra.program.refresh import MAX_HEALTHY_PERCENTAGE, MIN_HEALTHY_PERCENTAGE
from infra.tokens import ResourceType

# How long `pulumi up` waits for the group's healthy capacity before it fails: one full
# boot-to-healthy (READY_SECONDS, 270 s) for the first launch, one more for a replacement
# of an instance that failed its checks after the grace period, and 5 minutes for EC2
# capacity and the scaling activity itself. The provider's default is "10m"
# (terraform-provider-aws internal/service/autoscaling/group.go, wait_for_capacity_timeout).
WAIT_FOR_CAPACITY_SECONDS = 2 * READY_SECONDS + 300


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
    # What the first boot needs from the network (NAT routes, VPC endpoints).
    boot_dependencies: Sequence[pulumi.Resource] = ()
    # The listener / rule that forwards to `target_group_arn` (LoadBalancer.attachments):
    # until one exists the ALB does not check the group's targets and the group's
    # readiness wait (wait_for_elb_capacity) could not end.
    attachments: Sequence[pulumi.Resource] = ()
    tags: dict[str, str] = field(default_factory=dict)
    alarms: Observability | None = None  # the stage's alarm sink; None: no alarms


class WebTier(pulumi.ComponentResource):
    """Outputs: asg_name, launch_template_id, launch_template_version."""

    def __init__(
        self, name: str, args: WebTierArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_WEB_TIER, name, None, opts)
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
            metadata_options=metadata_options(),
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
            # `pulumi up` returns only once `desired_capacity` instances are healthy in the
            # target group, so whatever routes traffic to the group after the group (the
            # search rule, LoadBalancer.route_search) never meets an empty fleet. The
            # provider, terraform-provider-aws internal/service/autoscaling/group.go: on
            # create it waits for >= wait_for_elb_capacity (else min_elb_capacity) targets
            # "healthy" in every target group (statusGroupCapacity); on update only when
            # min_size or desired_capacity changes, and then for EXACTLY this count (a
            # fleet target tracking has grown would time out). desired_capacity is in
            # ignore_changes and tests/program/test_moves.py checks no move changes an
            # existing group's min_size, so no move's update waits on a stale count.
            wait_for_elb_capacity=args.desired_capacity,
            wait_for_capacity_timeout=f"{WAIT_FOR_CAPACITY_SECONDS}s",
            health_check_type="ELB",
            health_check_grace_period=READY_SECONDS,
            default_instance_warmup=READY_SECONDS,
            instance_refresh={
                "strategy": "Rolling",
                "preferences": {
                    "min_healthy_percentage": MIN_HEALTHY_PERCENTAGE,
                    "max_healthy_percentage": MAX_HEALTHY_PERCENTAGE,
                    "instance_warmup": str(READY_SECONDS),
                },
            },
            # The same range for every other replacement (an unhealthy instance, a
            # rebalance): launch the new one before the old one goes.
            instance_maintenance_policy={
                "min_healthy_percentage": MIN_HEALTHY_PERCENTAGE,
                "max_healthy_percentage": MAX_HEALTHY_PERCENTAGE,
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
                depends_on=[*args.boot_dependencies, *args.attachments],
            ),
        )
        resource_label = pulumi.Output.concat(
            args.alb_arn_suffix, "/", args.target_group_arn_suffix
        )
        self.scaling_policy = aws.autoscaling.Policy(
            f"{name}-requests",
            autoscaling_group_name=self.group.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=READY_SECONDS,
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
        if args.alarms is not None:
            declare_alarms(
                args.alarms,
                args.role,
                self.asg_name,
                args.alb_arn_suffix,
                args.target_group_arn_suffix,
            )
        self.register_outputs(
            {
                "asgName": self.asg_name,
                "launchTemplateId": self.launch_template_id,
                "launchTemplateVersion": self.launch_template_version,
            }
        )


def declare_alarms(
    sink: Observability,
    role: str,
    asg_name: pulumi.Input[str],
    alb_arn_suffix: pulumi.Input[str],
    target_group_arn_suffix: pulumi.Input[str],
) -> None:
    """The tier's CPU (high only when the ASG cannot grow) and its target group's p99."""
    sink.cpu_alarm(
        f"asg-{role}-cpu",
        "AWS/EC2",
        "CPUUtilization",
        {"AutoScalingGroupName": asg_name},
        f"web tier '{role}' average CPU above target: the ASG is at its maximum",
    )
    p99 = sink.thresholds.latency_p99_seconds
    sink.alarm(
        f"latency-{role}-p99",
        f"p99 target response time of '{role}' above {p99}s",
        namespace="AWS/ApplicationELB",
        metric_name="TargetResponseTime",
        dimensions={"LoadBalancer": alb_arn_suffix, "TargetGroup": target_group_arn_suffix},
        extended_statistic="p99",
        period=FIVE_MINUTES,
        evaluation_periods=3,
        comparison_operator="GreaterThanThreshold",
        threshold=p99,
        treat_missing_data="notBreaching",
    )
