"""The one hardened S3 bucket setup, shared by the media bucket and the artifacts bucket.

`harden_bucket` declares, for an existing `aws.s3.Bucket`: all public access blocked,
ACLs off (BucketOwnerEnforced), default encryption, versioning, and a bucket policy that
denies plain HTTP (plus whatever `bucket_policy_document` allows). The callers keep their
resource names (passed in `BucketNames`) and parents, so no URN moves.

`bucket_kms_key` declares a customer-managed KMS key for a bucket's default encryption
(`kms_encryption_rule`): what a scanner asks of a bucket that holds anything of ours
(checkov CKV_AWS_145, "S3 buckets are encrypted with KMS by default").

In place, never a replacement: hashicorp/terraform-provider-aws
`internal/service/s3/bucket_server_side_encryption_configuration.go` (read at 01606926)
marks only `bucket` and `expected_bucket_owner` ForceNew, and its Update calls
PutBucketEncryption with the new `rule`, so SSE-S3 -> SSE-KMS, or the AWS managed key -> a
customer key, updates the same configuration. Objects already stored keep the encryption
they were written with until rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.program.components.kms import KEY_ADMIN_ACTIONS

# What S3 asks of KMS for SSE-KMS objects: GenerateDataKey on write, Decrypt on read
# (S3 user guide, "Using server-side encryption with AWS KMS keys", permissions).
KEY_USE_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")


def bucket_key_policy(account_id: str) -> dict[str, Any]:
    """The account administers the key, and its principals may use it when their own IAM
    policy also says so (a key policy statement for the account root is what lets IAM
    policies grant use of a key: AWS KMS developer guide, "Default key policy", "Allows
    access to the AWS account and enables IAM policies")."""
    root = {"AWS": f"arn:aws:iam::{account_id}:root"}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": root,
                "Action": KEY_ADMIN_ACTIONS,
                "Resource": "*",
            },
            {
                "Sid": "AccountUsesThroughIamPolicies",
                "Effect": "Allow",
                "Principal": root,
                "Action": list(KEY_USE_ACTIONS),
                "Resource": "*",
            },
        ],
    }


def bucket_kms_key(
    name: str,
    purpose: str,
    account_id: pulumi.Input[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.kms.Key:
    """A customer-managed key (rotated yearly) for one bucket's default encryption."""
    return aws.kms.Key(
        name,
        description=purpose,
        enable_key_rotation=True,
        # The longest window: a key scheduled for deletion by mistake can be recovered
        # for 30 days, and objects under a deleted key are lost for good.
        deletion_window_in_days=30,
        policy=pulumi.Output.from_input(account_id).apply(
            lambda account: json.dumps(bucket_key_policy(account), sort_keys=True)
        ),
        tags=tags,
        opts=opts,
    )


def kms_encryption_rule(key_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Default SSE-KMS under `key_arn`, with an S3 Bucket Key (fewer KMS requests)."""
    return {
        "apply_server_side_encryption_by_default": {
            "sse_algorithm": "aws:kms",
            "kms_master_key_id": key_arn,
        },
        "bucket_key_enabled": True,
    }


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
