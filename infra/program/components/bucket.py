"""The one hardened S3 bucket setup, shared by the media bucket and the artifacts bucket.

`harden_bucket` declares, for an existing `aws.s3.Bucket`: all public access blocked,
ACLs off (BucketOwnerEnforced), default encryption, versioning, and a bucket policy that
denies plain HTTP (plus whatever `bucket_policy_document` allows). The callers keep their
resource names (passed in `BucketNames`) and parents, so no URN moves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class BucketNames:
    """The Pulumi names of the settings resources (part of their URNs: never change them)."""

    public_access: str
    ownership: str
    encryption: str
    versioning: str
    policy: str


def bucket_policy_document(bucket_arn: str, distribution_arn: str | None) -> dict[str, Any]:
    """TLS only for everyone; read for exactly one CloudFront distribution (OAC), if any."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if distribution_arn:
        statements.append(
            {
                "Sid": "AllowCloudFrontOriginAccessControlRead",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def harden_bucket(
    bucket: aws.s3.Bucket,
    names: BucketNames,
    *,
    encryption_rule: Mapping[str, Any],
    policy: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    policy_after_guards: bool = False,
) -> None:
    """Declare the bucket's access block, ownership, encryption, versioning and policy.

    `policy_after_guards`: the policy waits for the public access block and the ownership
    setting, so a policy that slipped into being public is refused rather than applied.
    """
    public_block = aws.s3.BucketPublicAccessBlock(
        names.public_access,
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    # ACLs off: the bucket owner owns every object; access is by policy only.
    ownership = aws.s3.BucketOwnershipControls(
        names.ownership,
        bucket=bucket.id,
        rule={"object_ownership": "BucketOwnerEnforced"},
        opts=opts,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        names.encryption,
        bucket=bucket.id,
        rules=[dict(encryption_rule)],
        opts=opts,
    )
    aws.s3.BucketVersioning(
        names.versioning,
        bucket=bucket.id,
        versioning_configuration={"status": "Enabled"},
        opts=opts,
    )
    after = pulumi.ResourceOptions(depends_on=[public_block, ownership])
    aws.s3.BucketPolicy(
        names.policy,
        bucket=bucket.id,
        policy=policy,
        opts=pulumi.ResourceOptions.merge(opts, after) if policy_after_guards else opts,
    )


def tls_only_policy(
    bucket_arn: pulumi.Output[str],
    distribution_arn: pulumi.Input[str] | None = None,
    *,
    dumps: Callable[[Any], str] = json.dumps,
) -> pulumi.Output[str]:
    """The bucket policy JSON (`bucket_policy_document`) once the ARNs are known."""
    return pulumi.Output.all(bucket_arn, distribution_arn).apply(
        lambda values: dumps(bucket_policy_document(values[0], values[1]))
    )
