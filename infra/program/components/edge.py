"""CloudFront in front of the ALB (API) and the media bucket (posters, through OAC).

Two origins: the S3 bucket's regional REST endpoint, signed by an origin access control
(never a website endpoint, never a public bucket), and the ALB as a custom origin. The
default behaviour sends everything to the ALB and caches only what the API marks
cacheable; ``/posters/*`` is served from S3 with the managed CachingOptimized policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.program.components.observability import (
    CLOUDFRONT_METRICS_REGION,
    FIVE_MINUTES,
    Observability,
)
from infra.tokens import ResourceType

# Managed policies, looked up by name (docs/data-tier.md lists them for the mocks).
POSTERS_CACHE_POLICY = "Managed-CachingOptimized"
API_ORIGIN_REQUEST_POLICY = "Managed-AllViewerExceptHostHeader"
_ONE_YEAR = 31_536_000
_ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
_READ_METHODS = ["GET", "HEAD"]
_ALB_ORIGIN = "alb"
_MEDIA_ORIGIN = "media"


@dataclass(frozen=True)
class EdgeArgs:
    project: str
    environment: str
    bucket_regional_domain_name: pulumi.Input[str]
    # The name CloudFront connects to: the ALB's DNS name, or (with alb_https) a name the
    # ALB's certificate covers, since CloudFront checks the origin certificate against it.
    alb_domain_name: pulumi.Input[str]
    # True when the ALB has an HTTPS listener whose certificate covers alb_domain_name.
    alb_https: bool
    price_class: str
    # ACM certificate in us-east-1 for the viewer side: an ARN from the profile, or the
    # validated one of components/domain.py (an output, made in us-east-1 there).
    certificate_arn: pulumi.Input[str] | None = None
    aliases: Sequence[str] = ()
    posters_path_pattern: str = "/posters/*"
    logging_bucket_domain_name: str | None = None  # <bucket>.s3.amazonaws.com, ACLs enabled
    tags: dict[str, str] = field(default_factory=dict)
    alarms: Observability | None = None  # the stage's alarm sink; None: no alarms

    def __post_init__(self) -> None:
        if self.aliases and self.certificate_arn is None:
            raise ValueError(
                f"EdgeArgs.aliases: {list(self.aliases)} without certificate_arn; "
                "custom names need an ACM certificate in us-east-1"
            )
        if isinstance(self.certificate_arn, str) and not self.certificate_arn.startswith(
            "arn:aws:acm:us-east-1:"
        ):
            raise ValueError(
                f"EdgeArgs.certificate_arn: {self.certificate_arn!r}; "
                "allowed: an ACM certificate ARN in us-east-1 (CloudFront's region)"
            )
        if not self.posters_path_pattern.startswith("/") or not self.posters_path_pattern.endswith(
            "*"
        ):
            raise ValueError(
                f"EdgeArgs.posters_path_pattern: {self.posters_path_pattern!r}; "
                "allowed: a path pattern like /posters/*"
            )

    @property
    def base_name(self) -> str:
        return f"{self.project}-{self.environment}"


class Edge(pulumi.ComponentResource):
    """Outputs: domain_name, distribution_id, distribution_arn, hosted_zone_id."""

    domain_name: pulumi.Output[str]
    distribution_id: pulumi.Output[str]
    distribution_arn: pulumi.Output[str]
    hosted_zone_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_EDGE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)

        oac = aws.cloudfront.OriginAccessControl(
            f"{name}-media-oac",
            name=f"{args.base_name}-media",
            description="CloudFront signs every request to the media bucket (SigV4)",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        api_cache = aws.cloudfront.CachePolicy(
            f"{name}-api-cache",
            name=f"{args.base_name}-api",
            comment="Honour the API's Cache-Control; key on query and Authorization",
            # TTL 0/0/1y: CloudFront keeps a response exactly as long as the API's
            # Cache-Control max-age/s-maxage says, and not at all when it says nothing,
            # no-store or private.
            min_ttl=0,
            default_ttl=0,
            max_ttl=_ONE_YEAR,
            parameters_in_cache_key_and_forwarded_to_origin=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginArgs(
                # Search (/movies?q=...&page=...) differs by query string: all of it is key.
                query_strings_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfigArgs(
                    query_string_behavior="all"
                ),
                # CloudFront only forwards Authorization when it is in the cache key (an
                # origin request policy may not carry it). In the key it also means one
                # user's response can never be served to another user or to anonymous
                # requests, even if the API forgets Cache-Control: private; anonymous
                # requests (no header) still share one entry, which is the point.
                headers_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfigArgs(
                    header_behavior="whitelist",
                    headers=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfigHeadersArgs(
                        items=["Authorization"]
                    ),
                ),
                cookies_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfigArgs(
                    cookie_behavior="none"
                ),
                enable_accept_encoding_gzip=True,
                enable_accept_encoding_brotli=True,
            ),
            opts=child,
        )
        posters_cache = aws.cloudfront.get_cache_policy_output(
            name=POSTERS_CACHE_POLICY, opts=invoke
        )
        # Everything but Host reaches the ALB (Host stays the origin's name, which the
        # ALB's certificate covers); query strings and cookies too, outside the key.
        api_origin_request = aws.cloudfront.get_origin_request_policy_output(
            name=API_ORIGIN_REQUEST_POLICY, opts=invoke
        )

        distribution = aws.cloudfront.Distribution(
            f"{name}-distribution",
            comment=f"{args.base_name}: API (ALB) and posters (S3)",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=args.price_class,
            aliases=list(args.aliases) or None,
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=_ALB_ORIGIN,
                    domain_name=args.alb_domain_name,
                    custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                        http_port=80,
                        https_port=443,
                        # https-only needs an ALB certificate that covers alb_domain_name;
                        # without one the hop CloudFront -> ALB is plain HTTP inside AWS's
                        # network (viewers still get HTTPS), and the ALB only admits
                        # CloudFront's prefix list.
                        origin_protocol_policy="https-only" if args.alb_https else "http-only",
                        origin_ssl_protocols=["TLSv1.2"],
                        origin_read_timeout=30,
                        origin_keepalive_timeout=5,
                    ),
                ),
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=_MEDIA_ORIGIN,
                    # The REST endpoint: OAC signs requests to it; a website endpoint
                    # cannot be signed and would need a public bucket.
                    domain_name=args.bucket_regional_domain_name,
                    origin_access_control_id=oac.id,
                ),
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=_ALB_ORIGIN,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=_ALL_METHODS,
                cached_methods=_READ_METHODS,
                cache_policy_id=api_cache.id,
                origin_request_policy_id=api_origin_request.id,
                compress=True,
            ),
            ordered_cache_behaviors=[
                aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                    path_pattern=args.posters_path_pattern,
                    target_origin_id=_MEDIA_ORIGIN,
                    viewer_protocol_policy="redirect-to-https",
                    allowed_methods=_READ_METHODS,
                    cached_methods=_READ_METHODS,
                    cache_policy_id=posters_cache.id,
                    compress=True,
                )
            ],
            viewer_certificate=self._viewer_certificate(args),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            logging_config=(
                aws.cloudfront.DistributionLoggingConfigArgs(
                    bucket=args.logging_bucket_domain_name,
                    prefix=f"cloudfront/{args.base_name}/",
                    include_cookies=False,
                )
                if args.logging_bucket_domain_name
                else None
            ),
            tags=args.tags,
            opts=child,
        )

        self.domain_name = distribution.domain_name
        self.distribution_id = distribution.id
        self.distribution_arn = distribution.arn
        self.hosted_zone_id = distribution.hosted_zone_id
        if args.alarms is not None:
            declare_alarms(args.alarms, self.distribution_id)
        self.register_outputs(
            {
                "domain_name": self.domain_name,
                "distribution_id": self.distribution_id,
                "distribution_arn": self.distribution_arn,
                "hosted_zone_id": self.hosted_zone_id,
            }
        )

    @staticmethod
    def _viewer_certificate(args: EdgeArgs) -> aws.cloudfront.DistributionViewerCertificateArgs:
        if args.certificate_arn is not None:
            # TLSv1.2_2021: TLS 1.2 and 1.3 only, with the ECDHE AES-GCM / ChaCha20 ciphers
            # ("Supported protocols and ciphers between viewers and CloudFront", CloudFront
            # developer guide, docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/
            # secure-connections-supported-viewer-protocols-ciphers.html); sni-only: no
            # dedicated IPs (vip is billed per month), every current client sends SNI.
            return aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=args.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            )
        # The *.cloudfront.net certificate: HTTPS works, but CloudFront fixes the minimum
        # protocol at TLSv1 for it and no custom name can be served.
        return aws.cloudfront.DistributionViewerCertificateArgs(cloudfront_default_certificate=True)


def declare_alarms(sink: Observability, distribution_id: pulumi.Input[str]) -> None:
    """CloudFront's 5xx rate, alarmed where CloudFront publishes it (us-east-1)."""
    share = sink.thresholds.cloudfront_5xx_percent
    sink.alarm(
        "cdn-5xx-rate",
        f"CloudFront answers more than {share}% of requests with 5xx",
        metrics_region=CLOUDFRONT_METRICS_REGION,
        namespace="AWS/CloudFront",
        metric_name="5xxErrorRate",
        dimensions={"DistributionId": distribution_id, "Region": "Global"},
        statistic="Average",
        period=FIVE_MINUTES,
        evaluation_periods=3,
        comparison_operator="GreaterThanThreshold",
        threshold=share,
        treat_missing_data="notBreaching",
    )
