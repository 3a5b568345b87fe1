"""VPC with public, private and data subnets over N AZs, NAT per strategy, VPC endpoints.

`Network` is the VPC, subnets, internet gateway, route tables, NAT gateways and the S3
gateway endpoint (free). `PrivateEndpoints` adds the interface endpoints private instances
need (SSM always; Secrets Manager and CloudWatch Logs when there is no NAT); it is a
separate component because its security group comes from `Security`, which needs the VPC.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.tokens import ResourceType

NAT_STRATEGIES = ("none", "single", "per-az")
SSM_SERVICES = ("ssm", "ssmmessages", "ec2messages")
# What a private instance still reaches without NAT: its secrets and its log group.
NO_NAT_SERVICES = ("secretsmanager", "logs")


@dataclass(frozen=True)
class SubnetPlan:
    public: tuple[str, ...]
    private: tuple[str, ...]
    data: tuple[str, ...]


def plan_subnets(vpc_cidr: str, az_count: int) -> SubnetPlan:
    """Split the VPC into 16 equal blocks: public 0-3, private 4-7, data 8-11 (12-15 spare)."""
    if not 1 <= az_count <= 4:
        raise ValueError(f"az_count: invalid value {az_count}; allowed: 1..4")
    net = ipaddress.ip_network(vpc_cidr)
    blocks = [str(b) for b in net.subnets(new_prefix=net.prefixlen + 4)]
    return SubnetPlan(
        public=tuple(blocks[i] for i in range(az_count)),
        private=tuple(blocks[4 + i] for i in range(az_count)),
        data=tuple(blocks[8 + i] for i in range(az_count)),
    )


@dataclass(frozen=True)
class NetworkArgs:
    name_prefix: str  # e.g. "movies-dev": physical names and Name tags
    region: str
    vpc_cidr: str
    # Zone IDs (use1-az1), not names: names map to different zones in each account
    # (pinned in the profile as zone_ids; infra.program.zones checks them).
    availability_zone_ids: Sequence[str]
    nat: str  # none | single | per-az
    private_compute: bool  # the stage runs instances in private subnets (NAT is for them)
    tags: dict[str, str] = field(default_factory=dict)


class Network(pulumi.ComponentResource):
    """Outputs: vpc_id, public/private/data_subnet_ids, private_route_table_ids, nat_gateway_ids."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_NETWORK, name, None, opts)
        if args.nat not in NAT_STRATEGIES:
            raise ValueError(
                f"nat: invalid value {args.nat!r}; allowed: {', '.join(NAT_STRATEGIES)}"
            )
        child = pulumi.ResourceOptions(parent=self)
        azs = list(args.availability_zone_ids)
        plan = plan_subnets(args.vpc_cidr, len(azs))

        def tags(label: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{args.name_prefix}-{label}"}

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,  # interface endpoints with private DNS need both
            enable_dns_support=True,
            tags=tags("vpc"),
            opts=child,
        )
        vpc_child = pulumi.ResourceOptions(parent=self.vpc)
        self.internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags=tags("igw"), opts=vpc_child
        )

        def subnets(tier: str, cidrs: Sequence[str]) -> list[aws.ec2.Subnet]:
            return [
                aws.ec2.Subnet(
                    f"{name}-{tier}-{i}",
                    vpc_id=self.vpc.id,
                    cidr_block=cidr,
                    availability_zone_id=az,
                    map_public_ip_on_launch=False,  # the single box gets an Elastic IP instead
                    tags={**tags(f"{tier}-{az}"), "tier": tier},
                    opts=vpc_child,
                )
                for i, (cidr, az) in enumerate(zip(cidrs, azs, strict=True))
            ]

        self.public_subnets = subnets("public", plan.public)
        self.private_subnets = subnets("private", plan.private)
        self.data_subnets = subnets("data", plan.data)

        self.public_route_table = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id, tags=tags("public"), opts=vpc_child
        )
        public_default = aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=self.public_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=self.internet_gateway.id,
            opts=pulumi.ResourceOptions(parent=self.public_route_table),
        )
        for i, subnet in enumerate(self.public_subnets):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}",
                subnet_id=subnet.id,
                route_table_id=self.public_route_table.id,
                opts=pulumi.ResourceOptions(parent=subnet),
            )

        self.nat_gateways = self._nat_gateways(name, args, tags)
        self.private_route_tables: list[aws.ec2.RouteTable] = []
        private_defaults: list[aws.ec2.Route] = []
        for i, (subnet, az) in enumerate(zip(self.private_subnets, azs, strict=True)):
            table = aws.ec2.RouteTable(
                f"{name}-private-rt-{i}",
                vpc_id=self.vpc.id,
                tags=tags(f"private-{az}"),
                opts=vpc_child,
            )
            if self.nat_gateways:
                nat = self.nat_gateways[i % len(self.nat_gateways)]
                route = aws.ec2.Route(
                    f"{name}-private-default-{i}",
                    route_table_id=table.id,
                    destination_cidr_block="0.0.0.0/0",
                    nat_gateway_id=nat.id,
                    opts=pulumi.ResourceOptions(parent=table),
                )
                private_defaults.append(route)
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}",
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=pulumi.ResourceOptions(parent=subnet),
            )
            self.private_route_tables.append(table)

        # Data subnets have no route out of the VPC at all.
        self.data_route_table = aws.ec2.RouteTable(
            f"{name}-data-rt", vpc_id=self.vpc.id, tags=tags("data"), opts=vpc_child
        )
        for i, subnet in enumerate(self.data_subnets):
            aws.ec2.RouteTableAssociation(
                f"{name}-data-{i}",
                subnet_id=subnet.id,
                route_table_id=self.data_route_table.id,
                opts=pulumi.ResourceOptions(parent=subnet),
            )

        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[self.public_route_table.id]
            + [t.id for t in self.private_route_tables],
            tags=tags("s3"),
            opts=vpc_child,
        )

        # What an instance's first boot reaches the outside through (packages, the release
        # artifact in S3, secrets, SSM): instances declare depends_on on these.
        self.public_boot_dependencies: list[pulumi.Resource] = [public_default, self.s3_endpoint]
        self.private_boot_dependencies: list[pulumi.Resource] = [
            *private_defaults,
            self.s3_endpoint,
        ]
        self.vpc_id = self.vpc.id
        self.vpc_cidr = args.vpc_cidr
        self.public_subnet_ids = [s.id for s in self.public_subnets]
        self.private_subnet_ids = [s.id for s in self.private_subnets]
        self.data_subnet_ids = [s.id for s in self.data_subnets]
        self.private_route_table_ids = [t.id for t in self.private_route_tables]
        self.nat_gateway_ids = [n.id for n in self.nat_gateways]
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
                "dataSubnetIds": self.data_subnet_ids,
                "natGatewayIds": self.nat_gateway_ids,
            }
        )

    def _nat_gateways(self, name: str, args: NetworkArgs, tags) -> list[aws.ec2.NatGateway]:
        if args.nat == "none" or not args.private_compute:
            return []
        count = 1 if args.nat == "single" else len(self.public_subnets)
        gateways = []
        for i in range(count):
            eip = aws.ec2.Eip(
                f"{name}-nat-eip-{i}",
                domain="vpc",
                tags=tags(f"nat-{i}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.internet_gateway]),
            )
            gateways.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i}",
                    allocation_id=eip.allocation_id,
                    subnet_id=self.public_subnets[i].id,
                    tags=tags(f"nat-{i}"),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.internet_gateway]),
                )
            )
        return gateways


@dataclass(frozen=True)
class PrivateEndpointsArgs:
    name_prefix: str
    region: str
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    with_nat: bool  # without NAT, add the endpoints for secrets and logs
    tags: dict[str, str] = field(default_factory=dict)


def endpoint_services(with_nat: bool) -> tuple[str, ...]:
    return SSM_SERVICES if with_nat else SSM_SERVICES + NO_NAT_SERVICES


class PrivateEndpoints(pulumi.ComponentResource):
    """Interface endpoints (private DNS) in the private subnets. Outputs: endpoint_ids."""

    def __init__(
        self, name: str, args: PrivateEndpointsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_PRIVATE_ENDPOINTS, name, None, opts)
        self.endpoints = {
            service: aws.ec2.VpcEndpoint(
                f"{name}-{service}",
                vpc_id=args.vpc_id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=list(args.subnet_ids),
                security_group_ids=[args.security_group_id],
                tags={**args.tags, "Name": f"{args.name_prefix}-{service}"},
                opts=pulumi.ResourceOptions(parent=self),
            )
            for service in endpoint_services(args.with_nat)
        }
        self.endpoint_ids = {s: e.id for s, e in self.endpoints.items()}
        self.boot_dependencies: list[pulumi.Resource] = list(self.endpoints.values())
        self.register_outputs({"endpointIds": self.endpoint_ids})
