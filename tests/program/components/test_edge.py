"""Edge (CloudFront) under the mocks: OAC to S3, ALB origin, cache behaviours, TLS."""

from __future__ import annotations

import dataclasses
import json

import pulumi
import pytest

from infra.program.components.edge import Edge, EdgeArgs
from infra.program.components.storage import MediaStorage, MediaStorageArgs

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUCKET_DOMAIN = "movies-dev-media-123456789012.s3.us-east-1.amazonaws.com"
ALB = "movies-dev-alb-1234567890.us-east-1.elb.amazonaws.com"
# AWS's published ids of the managed policies (CloudFront developer guide).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-1111-2222-3333-444455556666"


def args(**overrides) -> EdgeArgs:
    base = EdgeArgs(
        project="movies",
        environment="dev",
        bucket_regional_domain_name=BUCKET_DOMAIN,
        alb_domain_name=ALB,
        alb_https=False,
        price_class="PriceClass_100",
        tags={"project": "movies"},
    )
    return dataclasses.replace(base, **overrides)


def declare(edge_args: EdgeArgs) -> None:
    cdn = Edge("cdn", edge_args)
    pulumi.export("domain", cdn.domain_name)
    pulumi.export("arn", cdn.distribution_arn)


def origins(dist) -> dict:
    return {o["originId"]: o for o in dist.inputs["origins"]}


def test_bucket_origin_uses_oac_and_rest_endpoint(runner):
    run = runner(lambda: declare(args()))
    oac = runner.one(run, "aws:cloudfront/originAccessControl:OriginAccessControl")
    assert oac.inputs["originAccessControlOriginType"] == "s3"
    assert oac.inputs["signingBehavior"] == "always"
    assert oac.inputs["signingProtocol"] == "sigv4"
    media = origins(runner.one(run, DISTRIBUTION))["media"]
    assert media["originAccessControlId"] == oac.id
    assert media["domainName"] == BUCKET_DOMAIN
    assert "s3-website" not in json.dumps(runner.one(run, DISTRIBUTION).inputs)
    assert "customOriginConfig" not in media and "s3OriginConfig" not in media


@pytest.mark.parametrize(("https", "policy"), [(False, "http-only"), (True, "https-only")])
def test_alb_origin_protocol_follows_certificate(runner, https, policy):
    run = runner(lambda: declare(args(alb_https=https)))
    alb = origins(runner.one(run, DISTRIBUTION))["alb"]
    assert alb["domainName"] == ALB
    assert alb["customOriginConfig"]["originProtocolPolicy"] == policy
    assert alb["customOriginConfig"]["originSslProtocols"] == ["TLSv1.2"]


def test_default_behaviour_honours_cache_control_and_keys_on_authorization(runner):
    run = runner(lambda: declare(args()))
    default = runner.one(run, DISTRIBUTION).inputs["defaultCacheBehavior"]
    cache = runner.one(run, "aws:cloudfront/cachePolicy:CachePolicy")
    assert default["targetOriginId"] == "alb"
    assert default["viewerProtocolPolicy"] == "redirect-to-https"
    assert default["cachePolicyId"] == cache.id
    assert default["originRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert {"POST", "PUT", "DELETE"} <= set(default["allowedMethods"])
    assert sorted(default["cachedMethods"]) == ["GET", "HEAD"]
    policy = cache.inputs
    assert (policy["minTtl"], policy["defaultTtl"]) == (0, 0)
    assert policy["maxTtl"] >= 86400
    key = policy["parametersInCacheKeyAndForwardedToOrigin"]
    assert key["queryStringsConfig"]["queryStringBehavior"] == "all"
    assert key["headersConfig"]["headerBehavior"] == "whitelist"
    assert key["headersConfig"]["headers"]["items"] == ["Authorization"]
    assert key["cookiesConfig"]["cookieBehavior"] == "none"


def test_posters_behaviour_goes_to_s3_with_caching_optimized(runner):
    run = runner(lambda: declare(args()))
    (posters,) = runner.one(run, DISTRIBUTION).inputs["orderedCacheBehaviors"]
    assert posters["pathPattern"] == "/posters/*"
    assert posters["targetOriginId"] == "media"
    assert posters["cachePolicyId"] == CACHING_OPTIMIZED
    assert posters["viewerProtocolPolicy"] == "redirect-to-https"
    assert sorted(posters["allowedMethods"]) == ["GET", "HEAD"]


def test_tls_default_certificate_or_custom_with_tls12(runner):
    plain = runner.one(runner(lambda: declare(args())), DISTRIBUTION).inputs
    assert plain["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert "aliases" not in plain
    custom = runner.one(
        runner(lambda: declare(args(certificate_arn=CERT, aliases=["cdn.movies.example"]))),
        DISTRIBUTION,
    ).inputs
    assert custom["viewerCertificate"] == {
        "acmCertificateArn": CERT,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    assert custom["aliases"] == ["cdn.movies.example"]
    assert custom["httpVersion"] == "http2and3"
    assert custom["priceClass"] == "PriceClass_100"


def test_bad_arguments_fail_with_one_line():
    with pytest.raises(ValueError, match="aliases"):
        args(aliases=["cdn.movies.example"])
    with pytest.raises(ValueError, match="us-east-1"):
        args(certificate_arn=CERT.replace("us-east-1", "eu-west-1"))


def test_storage_and_edge_wired_through_a_deferred_distribution_arn(runner):
    """The documented composer wiring: bucket policy names the distribution that reads it."""

    def program() -> None:
        arn, resolve = pulumi.deferred_output()
        media = MediaStorage(
            "media",
            MediaStorageArgs(
                project="movies",
                environment="dev",
                account_id="123456789012",
                noncurrent_version_expiration_days=30,
                cloudfront_distribution_arn=arn,
            ),
        )
        cdn = Edge("cdn", args(bucket_regional_domain_name=media.bucket_regional_domain_name))
        resolve(cdn.distribution_arn)

    run = runner(program)
    dist = runner.one(run, DISTRIBUTION)
    bucket_policy = runner.one(run, "aws:s3/bucketPolicy:BucketPolicy")
    statements = json.loads(bucket_policy.inputs["policy"])["Statement"]
    allow = next(s for s in statements if s["Effect"] == "Allow")
    assert allow["Condition"]["StringEquals"]["AWS:SourceArn"] == dist.outputs["arn"]
    assert dist.urn in bucket_policy.dependencies
    assert origins(dist)["media"]["domainName"] == BUCKET_DOMAIN


def test_edge_declares_its_alarm_on_its_own_distribution(runner, alarm_sink):
    def program() -> None:
        sink = alarm_sink(region="eu-west-1")
        declare(args(alarms=sink))
        sink.close()

    run = runner(program, region="eu-west-1")
    (alarm,) = run.by_type(ALARM)
    distribution = runner.one(run, DISTRIBUTION).id
    assert alarm.inputs["name"] == "movies-dev-cdn-5xx-rate"
    assert alarm.inputs["dimensions"] == {"DistributionId": distribution, "Region": "Global"}
    assert alarm.inputs["region"] == "us-east-1"  # where CloudFront publishes its metrics
    assert runner(lambda: declare(args())).by_type(ALARM) == []
