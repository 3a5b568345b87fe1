"""MediaStorage under the mocks: private, encrypted, versioned, TLS-only, OAC read grant."""

from __future__ import annotations

import dataclasses
import json

import pulumi
import pytest

from infra.program.components.storage import MediaStorage, MediaStorageArgs

ACCOUNT = "123456789012"
DIST_ARN = f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2EXAMPLE12345"


def args(env: str = "dev", **overrides) -> MediaStorageArgs:
    base = MediaStorageArgs(
        project="movies",
        environment=env,
        account_id=ACCOUNT,
        noncurrent_version_expiration_days=30,
        infrequent_access_after_days=90,
        cloudfront_distribution_arn=DIST_ARN,
        force_destroy=env == "dev",
        tags={"project": "movies"},
        protect=env == "prod",
    )
    return dataclasses.replace(base, **overrides)


def declare(storage_args: MediaStorageArgs) -> None:
    media = MediaStorage("media", storage_args)
    pulumi.export("bucket", media.bucket_name)
    pulumi.export("domain", media.bucket_regional_domain_name)


def policy(run, runner) -> dict:
    return json.loads(runner.one(run, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])


def test_public_access_block_has_all_four_flags(runner):
    run = runner(lambda: declare(args()))
    block = runner.one(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block[flag] is True, flag
    assert block["bucket"] == "movies-dev-media-123456789012"


def test_bucket_policy_denies_non_tls(runner):
    run = runner(lambda: declare(args()))
    statements = policy(run, runner)["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert len(deny) == 1
    assert deny[0]["Principal"] == "*" and deny[0]["Action"] == "s3:*"
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    arn = "arn:aws:s3:::movies-dev-media-123456789012"
    assert sorted(deny[0]["Resource"]) == [arn, f"{arn}/*"]


def test_bucket_policy_allows_only_the_distribution_through_oac(runner):
    run = runner(lambda: declare(args()))
    allow = [s for s in policy(run, runner)["Statement"] if s["Effect"] == "Allow"]
    assert allow == [
        {
            "Sid": "AllowCloudFrontOriginAccessControlRead",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::movies-dev-media-123456789012/*",
            "Condition": {"StringEquals": {"AWS:SourceArn": DIST_ARN}},
        }
    ]
    without = runner(lambda: declare(args(cloudfront_distribution_arn=None)))
    assert [s["Effect"] for s in policy(without, runner)["Statement"]] == ["Deny"]


def test_encrypted_versioned_owner_enforced_no_website(runner):
    run = runner(lambda: declare(args()))
    sse = runner.one(
        run,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    ).inputs
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    versioning = runner.one(run, "aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    ownership = runner.one(run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    types = {r.type for r in run.resources}
    assert not any("website" in t.lower() or "bucketAcl" in t for t in types)
    bucket = runner.one(run, "aws:s3/bucket:Bucket").inputs
    assert not {"website", "acl", "policy"} & set(bucket)


def test_lifecycle_expires_noncurrent_and_aborts_uploads(runner):
    run = runner(lambda: declare(args()))
    rules = {
        r["id"]: r
        for r in runner.one(
            run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
        ).inputs["rules"]
    }
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {
        "noncurrentDays": 30
    }
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {
        "daysAfterInitiation": 7
    }
    assert rules["posters-to-infrequent-access"]["transitions"] == [
        {"storageClass": "STANDARD_IA", "days": 90}
    ]
    assert all(r["status"] == "Enabled" for r in rules.values())


@pytest.mark.parametrize(("env", "protected"), [("prod", True), ("dev", False)])
def test_bucket_protected_and_retained_in_prod(runner, env, protected):
    run = runner(lambda: declare(args(env)), env=env)
    bucket = runner.one(run, "aws:s3/bucket:Bucket")
    assert bucket.options["protect"] is protected
    assert bucket.options["retainOnDelete"] is protected
    assert bucket.inputs["bucket"] == f"movies-{env}-media-{ACCOUNT}"
    assert bucket.inputs["forceDestroy"] is (not protected)


def test_cors_only_for_explicit_https_origins(runner):
    run = runner(lambda: declare(args(cors_allowed_origins=["https://movies.example.com"])))
    rule = runner.one(run, "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration").inputs[
        "corsRules"
    ][0]
    assert rule["allowedOrigins"] == ["https://movies.example.com"]
    assert sorted(rule["allowedMethods"]) == ["POST", "PUT"]
    assert (
        runner(lambda: declare(args())).by_type(
            "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration"
        )
        == []
    )
    with pytest.raises(ValueError, match=r"cors_allowed_origins: '\*'"):
        args(cors_allowed_origins=["*"])


def test_bad_arguments_fail_with_one_line():
    with pytest.raises(ValueError, match="force_destroy: true with protect=true"):
        args("prod", force_destroy=True)
