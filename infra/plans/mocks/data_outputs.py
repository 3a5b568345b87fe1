"""Mock outputs for the data-tier types that `aws_outputs.py` does not build.

`infra/plans/mocks/aws_outputs.py` builds the RDS, ElastiCache, Secrets Manager, random, bucket,
CloudFront, SNS topic, KMS and alarm outputs, and `infra/plans/mocks/invokes.py` answers the
CloudFront managed-policy invokes the edge makes. This module adds the rest of what the
data-tier components declare: the Route 53 private zone and weighted records behind the
database reader endpoint, the S3 per-bucket settings and the SNS topic policy. A token
registered twice is an import error (`infra.plans.mocks.registry`); output keys are camelCase.
"""

from __future__ import annotations

from typing import Any

from infra.plans.mocks.registry import MockContext, resource_outputs
from infra.tokens import ResourceType


@resource_outputs(ResourceType.ROUTE53_ZONE)
def route53_zone(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    zone_id = f"Z{ctx.upper_token(20)}"
    return {
        "id": zone_id,
        "zoneId": zone_id,
        "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
        "nameServers": [] if inputs.get("vpcs") else [f"ns-1.awsdns-{ctx.token(2)}.org"],
        "primaryNameServer": "ns-0.awsdns-00.com",
    }


@resource_outputs(ResourceType.ROUTE53_RECORD)
def route53_record(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    name = str(inputs.get("name", ctx.name))
    set_id = inputs.get("setIdentifier")
    record_id = "_".join(
        str(part) for part in (inputs.get("zoneId"), name, inputs.get("type"), set_id) if part
    )
    return {"id": record_id, "fqdn": name}


@resource_outputs(
    ResourceType.S3_BUCKET_VERSIONING,
    ResourceType.S3_BUCKET_SERVER_SIDE_ENCRYPTION_CONFIGURATION,
    ResourceType.S3_BUCKET_PUBLIC_ACCESS_BLOCK,
    ResourceType.S3_BUCKET_OWNERSHIP_CONTROLS,
    ResourceType.S3_BUCKET_LIFECYCLE_CONFIGURATION,
    ResourceType.S3_BUCKET_CORS_CONFIGURATION,
    ResourceType.S3_BUCKET_POLICY,
)
def s3_bucket_setting(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    # The provider uses the bucket name as the id of each of its per-bucket settings.
    return {"id": str(inputs.get("bucket", ctx.name))}


@resource_outputs(ResourceType.SNS_TOPIC_POLICY)
def sns_topic_policy(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(inputs.get("arn", ctx.name)), "owner": ctx.account}
