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
    # The provider reports fqdn without the trailing dot a name (an ACM validation
    # record's) may be given with.
    return {"id": record_id, "fqdn": name.rstrip(".")}


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


# --- ACM and the hosted zone a domain names --------------------------------------------


def validation_record(ctx: MockContext, domain_name: str) -> dict[str, str]:
    """The CNAME ACM asks for `domain_name`: seeded by the stack and the name only, since
    ACM gives every certificate of an account the same record for a name, in any region
    (ACM user guide, "DNS validation"). The shape is ACM's: `_<32 hex>.<name>.` pointing
    at `_<32 hex>.<10 letters>.acm-validations.aws.`, both with the trailing dot the
    provider reports."""
    seeded = MockContext(ctx.stack, "", "acm-validation", domain_name)
    return {
        "domainName": domain_name,
        "resourceRecordName": f"_{seeded.digest('name')[:32]}.{domain_name}.",
        "resourceRecordType": "CNAME",
        "resourceRecordValue": (
            f"_{seeded.digest('value')[:32]}.{seeded.token(10, 'zone')}.acm-validations.aws."
        ),
    }


@resource_outputs(ResourceType.ACM_CERTIFICATE)
def acm_certificate(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    # `region` (pulumi-aws v7, per resource) puts the certificate there, else the stack's.
    region = str(inputs.get("region") or ctx.region)
    arn = MockContext(ctx.stack, region, ctx.type_token, ctx.name).arn(
        "acm", f"certificate/{_uuid(ctx)}"
    )
    names = [str(inputs.get("domainName"))] + [
        str(n) for n in inputs.get("subjectAlternativeNames") or []
    ]
    return {
        "id": arn,
        "arn": arn,
        "region": region,
        "domainValidationOptions": [validation_record(ctx, name) for name in names],
        # Freshly requested: ACM issues it once the validation records resolve.
        "status": "PENDING_VALIDATION",
        "type": "AMAZON_ISSUED",
        "keyAlgorithm": inputs.get("keyAlgorithm") or "RSA_2048",
        "validationEmails": [],
        "pendingRenewal": False,
        "renewalEligibility": "INELIGIBLE",
    }


@resource_outputs(ResourceType.ACM_CERTIFICATE_VALIDATION)
def acm_certificate_validation(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    # The provider's id is the issue time; certificate_arn echoes the input.
    return {"id": "2026-01-01 00:00:00 +0000 UTC", "certificateArn": inputs.get("certificateArn")}


def _uuid(ctx: MockContext) -> str:
    raw = ctx.digest("uuid")
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-8{raw[17:20]}-{raw[20:32]}"
