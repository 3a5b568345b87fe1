"""S3 media bucket: private, versioned, encrypted, lifecycle, TLS-only, CloudFront (OAC) read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi


@dataclass(frozen=True)
class MediaStorageArgs:
    project: str
    environment: str
    account_id: pulumi.Input[str]
    noncurrent_version_expiration_days: int
    infrequent_access_after_days: int | None = None
    # The distribution that may read through its origin access control; may be a
    # pulumi.deferred_output() resolved later, since the distribution needs the bucket.
    cloudfront_distribution_arn: pulumi.Input[str] | None = None
    cors_allowed_origins: Sequence[str] = ()
    force_destroy: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    protect: bool = False


class MediaStorage(pulumi.ComponentResource):
    """Outputs: bucket_name, bucket_arn, bucket_regional_domain_name."""

    def __init__(
        self, name: str, args: MediaStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("movies:infra:MediaStorage", name, None, opts)
        raise NotImplementedError("MediaStorage: being written (skeleton commit)")
