"""`SingleBox` (stages 1-2): one instance in a public subnet with an Elastic IP, SSM instead
of SSH, IMDSv2 only, an encrypted gp3 root volume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.program.components.instance import metadata_options
from infra.program.components.observability import ONE_MINUTE, Observability
from infra.tokens import ResourceType


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
    # What the first boot needs from the network (the public route, the S3 endpoint).
    boot_dependencies: Sequence[pulumi.Resource] = ()
    tags: dict[str, str] = field(default_factory=dict)
    # The hand-made box to import instead of launching one (infra/adopt.py); its record
    # was checked against this stage before any resource was declared.
    adopt: Any = None  # infra.adopt.Adopt
    alarms: Observability | None = None  # the stage's alarm sink; None: no alarms


class SingleBox(pulumi.ComponentResource):
    """Outputs: instance_id, public_ip, public_dns, private_ip."""

    def __init__(
        self, name: str, args: SingleBoxArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_SINGLE_BOX, name, None, opts)
        adopt = args.adopt
        placement: dict[str, Any] = {
            "subnet_id": args.subnet_id,
            "associate_public_ip_address": False,  # the Elastic IP is the public address
        }
        ignore = ["ami"]  # see ignore_changes below
        if adopt is not None:
            # The live subnet (ForceNew); the live public-IP setting (ForceNew, left
            # undeclared); the user data it booted with (it ran once; changing it stops and
            # starts the box).
            placement = {"subnet_id": adopt.subnet_id}
            ignore += ["userData"]
        self.instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=args.ami_id,
            instance_type=args.instance_type,
            vpc_security_group_ids=list(args.security_group_ids),
            iam_instance_profile=args.instance_profile_name,
            **placement,
            user_data=args.user_data,
            user_data_replace_on_change=False,  # a new release must not replace the box
            metadata_options=metadata_options(),
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
                # A bumped AMI pin (python -m infra ami) must not replace a running box:
                # the ami is ForceNew and the box may hold the only PostgreSQL copy.
                ignore_changes=ignore,
                depends_on=list(args.boot_dependencies),
                import_=adopt.instance_id if adopt is not None else None,
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
            opts=pulumi.ResourceOptions(
                parent=self,
                import_=adopt.elastic_ip.allocation_id if adopt is not None else None,
            ),
        )
        self.instance_id = self.instance.id
        self.public_ip = self.eip.public_ip
        self.public_dns = self.eip.public_dns
        self.private_ip = self.instance.private_ip
        if args.alarms is not None:
            declare_alarms(args.alarms, self.instance_id)
        self.register_outputs(
            {
                "instanceId": self.instance_id,
                "publicIp": self.public_ip,
                "publicDns": self.public_dns,
            }
        )


def declare_alarms(sink: Observability, instance_id: pulumi.Input[str]) -> None:
    """CPU (API and PostgreSQL share it) and the EC2 status check of the box."""
    sink.cpu_alarm(
        "box-cpu",
        "AWS/EC2",
        "CPUUtilization",
        {"InstanceId": instance_id},
        "single box CPU high: API and PostgreSQL compete for it (move to split-db)",
    )
    sink.alarm(
        "box-status-check",
        "single box failed an EC2 status check (instance or host)",
        namespace="AWS/EC2",
        metric_name="StatusCheckFailed",
        dimensions={"InstanceId": instance_id},
        statistic="Maximum",
        period=ONE_MINUTE,
        evaluation_periods=2,
        comparison_operator="GreaterThanOrEqualToThreshold",
        threshold=1,
        # A box that reports nothing at all is as bad as one failing its check.
        treat_missing_data="breaching",
    )
