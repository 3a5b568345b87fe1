"""Release: what runs on the instances and what it may touch.

A private, encrypted artifacts bucket holding the service build (`app_image/build.py`), the
instance role and profile (SSM core, read the artifact and the stage's secrets, write its
log group, use the media bucket: each scoped to its ARN), the log group, and the cloud-init
user data rendered with jinja2 from `app_image/deploy/user-data.yaml.j2` with the stage's
endpoints. No secret value is ever rendered: only secret ARNs, read at boot.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pulumi
import pulumi_aws as aws

from infra import REPO_ROOT
from infra.program.components.bucket import (
    BucketNames,
    bucket_kms_key,
    harden_bucket,
    kms_encryption_rule,
    tls_only_policy,
)
from infra.tokens import ResourceType

TEMPLATE_PATH = REPO_ROOT / "app_image" / "deploy" / "user-data.yaml.j2"
BUILD_SCRIPT = REPO_ROOT / "app_image" / "build.py"
ARTIFACT_DIR = REPO_ROOT / "build" / "artifact"
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
# The variables the template receives (the contract with app_image/).
TEMPLATE_VARIABLES = (
    "stage",
    "environment",
    "region",
    "app_port",
    "artifact_bucket",
    "artifact_key",
    "local_postgres",
    "db_host",
    "db_port",
    "db_name",
    "db_reader_host",
    "db_secret_arn",
    "redis_host",
    "redis_port",
    "redis_auth_secret_arn",
    "media_bucket",
    "cdn_base_url",
    "metrics_allow_cidrs",
    "log_group",
    "http_keepalive_s",
)


class ReleaseError(ValueError):
    """The service build or its template is missing or does not render."""


def artifact_name(build_script: Path = BUILD_SCRIPT) -> str:
    """`artifact_name()` from app_image/build.py: the tarball name for this version."""
    if not build_script.is_file():
        raise ReleaseError(f"artifact: {build_script} is missing; it defines artifact_name()")
    stat = build_script.stat()
    return _load_artifact_name(build_script, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _load_artifact_name(build_script: Path, mtime_ns: int, size: int) -> str:
    # Cached per file version: loading the build script costs more than planning a stack.
    spec = importlib.util.spec_from_file_location("movies_app_build", build_script)
    if spec is None or spec.loader is None:
        raise ReleaseError(f"artifact: cannot load {build_script}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    name = module.artifact_name()
    if not isinstance(name, str) or not name.endswith(".tar.gz"):
        raise ReleaseError(f"artifact: artifact_name() returned {name!r}; allowed: '<name>.tar.gz'")
    return name


def require_artifact(artifact_dir: Path = ARTIFACT_DIR) -> str:
    """The artifact name, after checking the build exists (a real `pulumi up` uploads it)."""
    name = artifact_name()
    if not (artifact_dir / name).is_file():
        raise ReleaseError(
            f"artifact: {artifact_dir / name} is missing; build it first with "
            "`python app_image/build.py`"
        )
    return name


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates kept for the process, so each plan does not compile the cloud-init
    template again (~15 ms of a ~300 ms plan). jinja2 stores each with its source's checksum
    and compiles again when the file's text differs (`jinja2.bccache.Bucket.load_bytecode`);
    every Environment below has the same options, so the compiled code is the same."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()


def render_user_data(template_path: Path, variables: Mapping[str, Any]) -> str:
    """Render the cloud-init template; every variable must be given and used names defined."""
    missing = sorted(set(TEMPLATE_VARIABLES) - set(variables))
    if missing:
        raise ReleaseError(f"user data: variables missing: {', '.join(missing)}")
    if not template_path.is_file():
        raise ReleaseError(f"user data: template {template_path} is missing")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_path.parent)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
        bytecode_cache=_COMPILED,
    )
    try:
        text = env.get_template(template_path.name).render(**variables)
    except jinja2.TemplateError as exc:
        raise ReleaseError(f"user data: {template_path.name}: {exc}") from exc
    if not text.startswith("#cloud-config"):
        raise ReleaseError(f"user data: {template_path.name} must start with '#cloud-config'")
    if len(text.encode()) > 16384:
        raise ReleaseError(f"user data: {len(text.encode())} bytes; allowed: <= 16384 (EC2 limit)")
    return text


@dataclass(frozen=True)
class Endpoints:
    """The stage's endpoints as outputs; "" where the stage lacks the part."""

    db_host: pulumi.Input[str] = ""
    db_port: pulumi.Input[int] = 5432
    db_name: str = "movies"
    db_reader_host: pulumi.Input[str] = ""
    db_secret_arn: pulumi.Input[str] = ""
    redis_host: pulumi.Input[str] = ""
    redis_port: pulumi.Input[int] = 6379
    redis_auth_secret_arn: pulumi.Input[str] = ""
    media_bucket: pulumi.Input[str] = ""
    media_bucket_arn: pulumi.Input[str] = ""
    cdn_base_url: pulumi.Input[str] = ""


@dataclass(frozen=True)
class ReleaseArgs:
    project: str
    environment: str
    stage: str
    region: str
    account_id: str
    app_port: int
    local_postgres: bool
    endpoints: Endpoints
    log_retention_days: int
    artifact_name: str
    # Besides loopback, who may read the service's /metrics (comma-joined into
    # MOVIES_METRICS_ALLOW_CIDRS): the VPC, where a scraper and the ALB live. The ALB
    # itself answers /metrics* with 404, so this does not open it to the internet.
    metrics_allow_cidrs: tuple[str, ...] = ()
    # The service's HTTP keep-alive (MOVIES_HTTP_KEEPALIVE_S -> uvicorn timeout_keep_alive):
    # longer than the ALB's idle timeout, so the ALB is always the side that closes.
    http_keepalive_s: int = 75
    artifact_dir: Path = ARTIFACT_DIR
    template_path: Path = TEMPLATE_PATH
    # The artifacts bucket is stateful (infra.catalog: a bucket): every instance that
    # launches (scale-out, replacement, refresh) fetches the release from it, and its
    # versions are the rollback path. Protected like the other stateful resources.
    protect: bool = False
    tags: dict[str, str] = field(default_factory=dict)


def instance_policy(
    artifact_object_arn: str,
    log_group_arn: str,
    secret_arns: list[str],
    media_bucket_arn: str,
    artifact_key_arn: str,
) -> dict[str, Any]:
    """The instance role's own permissions, each statement scoped to named ARNs."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadRelease",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [artifact_object_arn],
        },
        {
            # The artifact is SSE-KMS under the artifacts key: a GetObject needs Decrypt
            # on that key too (S3 user guide, "Using server-side encryption with AWS KMS
            # keys"); the key policy lets IAM policies grant it.
            "Sid": "DecryptRelease",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [artifact_key_arn],
        },
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            # CloudWatch Logs authorises every action but the tagging ones against the
            # group's ARN with a trailing ":*" (CloudWatch Logs user guide, "Overview of
            # managing access permissions"); the provider's `arn` drops it. The ":*" form
            # also covers the group's streams (`...:log-stream:<name>`).
            "Resource": [f"{log_group_arn.removesuffix(':*')}:*"],
        },
    ]
    secrets = sorted(arn for arn in secret_arns if arn)
    if secrets:
        statements.append(
            {
                "Sid": "ReadStageSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": secrets,
            }
        )
    if media_bucket_arn:
        statements += [
            {
                "Sid": "ListMedia",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [media_bucket_arn],
            },
            {
                "Sid": "ReadWriteMedia",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [f"{media_bucket_arn}/*"],
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


class Release(pulumi.ComponentResource):
    """Outputs: artifact_bucket, artifact_key, instance_profile_name, role_arn, log_group,
    user_data."""

    def __init__(
        self, name: str, args: ReleaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_RELEASE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"{args.project}-{args.environment}"
        # Bucket names are global: account id keeps them unique; never the stage.
        bucket_name = f"{prefix}-artifacts-{args.account_id}"
        self.bucket = aws.s3.Bucket(
            f"{name}-artifacts",
            bucket=bucket_name,
            force_destroy=True,  # every object is rebuilt by app_image/build.py
            tags={**args.tags, "Name": bucket_name},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        bucket_child = pulumi.ResourceOptions(parent=self.bucket)
        # The stack's customer-managed key for the release: the role below may decrypt
        # with it and nothing else may (no grant but the account's IAM policies).
        self.key = bucket_kms_key(
            f"{name}-artifacts-key",
            f"{bucket_name}: default encryption of the release artifacts",
            args.account_id,
            args.tags,
            bucket_child,
        )
        harden_bucket(
            self.bucket,
            BucketNames(
                public_access=f"{name}-artifacts-public-access",
                ownership=f"{name}-artifacts-ownership",
                encryption=f"{name}-artifacts-encryption",
                versioning=f"{name}-artifacts-versioning",
                policy=f"{name}-artifacts-tls-only",
            ),
            encryption_rule=kms_encryption_rule(self.key.arn),
            # The same TLS-only statement as the media bucket, with no reader to allow.
            policy=tls_only_policy(
                self.bucket.arn, dumps=lambda doc: json.dumps(doc, sort_keys=True)
            ),
            opts=bucket_child,
        )
        artifact_key = f"releases/{args.artifact_name}"
        self.artifact = aws.s3.BucketObjectv2(
            f"{name}-artifact",
            bucket=self.bucket.id,
            key=artifact_key,
            source=pulumi.FileAsset(str(args.artifact_dir / args.artifact_name)),
            content_type="application/gzip",
            server_side_encryption="aws:kms",
            # Named: a PutObject that says aws:kms without a key id is encrypted under
            # the AWS managed key aws/s3, not the bucket's default key (S3 user guide,
            # "Specifying server-side encryption with AWS KMS (SSE-KMS)").
            kms_key_id=self.key.arn,
            opts=bucket_child,
        )

        log_group_name = f"/{args.project}/{args.environment}/api"
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name,
            retention_in_days=args.log_retention_days,
            tags=args.tags,
            opts=child,
        )

        self.role = aws.iam.Role(
            f"{name}-instance-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                sort_keys=True,
            ),
            description="movies API instances",
            tags=args.tags,
            opts=child,
        )
        role_child = pulumi.ResourceOptions(parent=self.role)
        aws.iam.RolePolicyAttachment(
            f"{name}-ssm-core", role=self.role.name, policy_arn=SSM_CORE_POLICY, opts=role_child
        )
        ep = args.endpoints
        aws.iam.RolePolicy(
            f"{name}-instance-policy",
            role=self.role.name,
            policy=pulumi.Output.all(
                self.artifact.arn,
                self.log_group.arn,
                ep.db_secret_arn,
                ep.redis_auth_secret_arn,
                ep.media_bucket_arn,
                self.key.arn,
            ).apply(
                lambda v: json.dumps(
                    instance_policy(
                        artifact_object_arn=v[0],
                        log_group_arn=v[1],
                        secret_arns=[v[2] or "", v[3] or ""],
                        media_bucket_arn=v[4] or "",
                        artifact_key_arn=v[5],
                    ),
                    sort_keys=True,
                )
            ),
            opts=role_child,
        )
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-instance-profile", role=self.role.name, tags=args.tags, opts=child
        )

        template_path = args.template_path
        self.user_data: pulumi.Output[str] = pulumi.Output.all(
            artifact_bucket=self.bucket.bucket,
            log_group=self.log_group.name,
            db_host=ep.db_host,
            db_port=ep.db_port,
            db_reader_host=ep.db_reader_host,
            db_secret_arn=ep.db_secret_arn,
            redis_host=ep.redis_host,
            redis_port=ep.redis_port,
            redis_auth_secret_arn=ep.redis_auth_secret_arn,
            media_bucket=ep.media_bucket,
            cdn_base_url=ep.cdn_base_url,
        ).apply(
            lambda resolved: render_user_data(
                template_path,
                {
                    **{k: "" if v is None else str(v) for k, v in resolved.items()},
                    "stage": args.stage,
                    "environment": args.environment,
                    "region": args.region,
                    "app_port": str(args.app_port),
                    "artifact_key": artifact_key,
                    "local_postgres": args.local_postgres,
                    "db_name": ep.db_name,
                    "metrics_allow_cidrs": ",".join(args.metrics_allow_cidrs),
                    "http_keepalive_s": str(args.http_keepalive_s),
                },
            )
        )

        self.artifact_bucket = self.bucket.bucket
        self.artifact_key = artifact_key
        self.instance_profile_name = self.instance_profile.name
        self.role_arn = self.role.arn
        self.role_name = self.role.name
        self.log_group_name = self.log_group.name
        self.register_outputs(
            {
                "artifactBucket": self.artifact_bucket,
                "artifactKey": self.artifact_key,
                "instanceProfileName": self.instance_profile_name,
                "roleArn": self.role_arn,
                "logGroup": self.log_group_name,
            }
        )
