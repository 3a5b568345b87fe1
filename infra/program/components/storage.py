"""S3 media bucket: private, versioned, encrypted, lifecycle, TLS-only, CloudFront (OAC) read.

The bucket's name is ``<project>-<environment>-media-<account id>`` (globally unique, never
the stage): a changed name replaces the bucket and loses the posters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.program.components.bucket import BucketNames, harden_bucket, tls_only_policy
from infra.tokens import ResourceType

_ABORT_MULTIPART_DAYS = 7


@dataclass(frozen=True)
class MediaStorageArgs:
    project: str
    environment: str
    account_id: pulumi.Input[str]
    noncurrent_version_expiration_days: int
    infrequent_access_after_days: int | None = None
    # The distribution that may read through its origin access control. The distribution
    # needs the bucket first, so pass a `pulumi.deferred_output()` and resolve it with the
    # edge's `distribution_arn` (see docs/data-tier.md).
    cloudfront_distribution_arn: pulumi.Input[str] | None = None
    # Browser origins allowed to PUT/POST presigned uploads; empty: no CORS rule.
    cors_allowed_origins: Sequence[str] = ()
    force_destroy: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    protect: bool = False

    def __post_init__(self) -> None:
        if self.force_destroy and self.protect:
            raise ValueError(
                "MediaStorageArgs.force_destroy: true with protect=true; "
                "a protected bucket must not be emptied on delete"
            )
        for origin in self.cors_allowed_origins:
            if origin == "*" or not origin.startswith("https://"):
                raise ValueError(
                    f"MediaStorageArgs.cors_allowed_origins: {origin!r}; "
                    "allowed: explicit https:// origins"
                )

    def bucket_name(self) -> pulumi.Output[str]:
        return pulumi.Output.from_input(self.account_id).apply(
            lambda account: f"{self.project}-{self.environment}-media-{account}"
        )


class MediaStorage(pulumi.ComponentResource):
    """Outputs: bucket_name, bucket_arn, bucket_regional_domain_name."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    bucket_regional_domain_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: MediaStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_MEDIA_STORAGE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name(),
            force_destroy=args.force_destroy,
            tags=args.tags,
            # prod: refuse to delete, and if the resource is ever dropped from the program
            # (or the stack destroyed after unprotecting) keep the bucket and its posters.
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        # SSE-S3 rather than SSE-KMS: CloudFront's OAC reads SSE-S3 objects as they are,
        # while a KMS key would need a key policy for cloudfront.amazonaws.com and KMS
        # request charges on every edge miss; posters are public images.
        harden_bucket(
            bucket,
            BucketNames(
                public_access=f"{name}-public-access-block",
                ownership=f"{name}-ownership",
                encryption=f"{name}-encryption",
                versioning=f"{name}-versioning",
                policy=f"{name}-policy",
            ),
            encryption_rule={
                "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}
            },
            policy=tls_only_policy(bucket.arn, args.cloudfront_distribution_arn),
            opts=child,
            policy_after_guards=True,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=self._lifecycle_rules(args),
            opts=child,
        )
        if args.cors_allowed_origins:
            aws.s3.BucketCorsConfiguration(
                f"{name}-cors",
                bucket=bucket.id,
                cors_rules=[
                    aws.s3.BucketCorsConfigurationCorsRuleArgs(
                        allowed_methods=["PUT", "POST"],
                        allowed_origins=list(args.cors_allowed_origins),
                        allowed_headers=["content-type", "content-md5", "x-amz-*"],
                        expose_headers=["ETag"],
                        max_age_seconds=3000,
                    )
                ],
                opts=child,
            )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.bucket_regional_domain_name = bucket.bucket_regional_domain_name
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "bucket_regional_domain_name": self.bucket_regional_domain_name,
            }
        )

    @staticmethod
    def _lifecycle_rules(
        args: MediaStorageArgs,
    ) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
        every_object = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=every_object,
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=args.noncurrent_version_expiration_days
                ),
                # Once its old versions are gone, a lone delete marker is noise.
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                    expired_object_delete_marker=True
                ),
            ),
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="abort-incomplete-multipart-uploads",
                status="Enabled",
                filter=every_object,
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=_ABORT_MULTIPART_DAYS
                ),
            ),
        ]
        if args.infrequent_access_after_days is not None:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="posters-to-infrequent-access",
                    status="Enabled",
                    filter=every_object,
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            storage_class="STANDARD_IA", days=args.infrequent_access_after_days
                        )
                    ],
                )
            )
        return rules
