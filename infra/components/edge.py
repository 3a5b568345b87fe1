"""CloudFront in front of the ALB (API) and the media bucket (posters, through OAC)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi


@dataclass(frozen=True)
class EdgeArgs:
    project: str
    environment: str
    bucket_regional_domain_name: pulumi.Input[str]
    alb_domain_name: pulumi.Input[str]
    # True when the ALB has an HTTPS listener whose certificate covers alb_domain_name.
    alb_https: bool
    price_class: str
    certificate_arn: str | None = None  # ACM, us-east-1, for the viewer side
    aliases: Sequence[str] = ()
    posters_path_pattern: str = "/posters/*"
    logging_bucket_domain_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


class Edge(pulumi.ComponentResource):
    """Outputs: domain_name, distribution_id, distribution_arn."""

    def __init__(
        self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("movies:infra:Edge", name, None, opts)
        raise NotImplementedError("Edge: being written (skeleton commit)")
