"""Stage specs and environment profiles: loaded, validated and frozen before any resource.

`load_stack_config(env, stage)` reads `stacks/<stage>.yaml` and `stacks/env/<env>.yaml`,
resolves per-environment values (`{dev: x, prod: y}`), checks every key, type, size and
combination, and returns a frozen `StackConfig`. Anything wrong raises `ConfigError` with
one line naming the key, the bad value and what is allowed.

The checks are declared once, as pydantic v2 models (`EnvProfile`, `StageSpec` and its
sections): each constrained field carries its rule (`between`, `positive`, `matches`,
`one_of`), which both validates and appears in the JSON Schema published as
`stacks/schema.json` (`python -m infra schema`; tests/infra/test_schema.py fails when the
file and the models drift apart).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from infra import REPO_ROOT
from infra.errors import ConfigError
from infra.yamlfile import YamlError, load_yaml, shown

PROJECT = "movies"
STAGES: tuple[str, ...] = (
    "single-box",
    "split-db",
    "load-balanced",
    "cached",
    "read-replicas",
    "edge",
    "scale-5x",
)
ENVIRONMENTS: tuple[str, ...] = ("dev", "prod")
# The tiers a request crosses, as the capacity model and the lab name them (a stage's
# `removes` is one of them; the lab's db-replica1, db-replica2 are db-replicas).
TIERS: tuple[str, ...] = (
    "edge",
    "alb",
    "box",
    "app",
    "search",
    "redis",
    "db-primary",
    "db-replicas",
)
NAT_STRATEGIES: tuple[str, ...] = ("none", "single", "per-az")
PRICE_CLASSES: tuple[str, ...] = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
APP_PORT = 8000  # behind the ALB
BOX_PORT = 80  # the single box faces the internet itself
DB_PORT = 5432
REDIS_PORT = 6379
# How much longer the service keeps an idle connection than the ALB: the ALB must always
# be the one to close it (see EnvProfile.alb_idle_timeout_s).
KEEPALIVE_MARGIN_S = 15
APPLY_CHANGES: tuple[str, ...] = ("immediately", "maintenance-window")
ARCHITECTURES: tuple[str, ...] = ("arm64", "x86_64")
_AMI_ID = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
# An availability zone ID: the region's short code, "-az", a number (use1-az1, apne1-az4).
# IDs, unlike names, denote the same physical zone in every account ("Availability Zone
# IDs for your AWS resources", AWS RAM user guide).
ZONE_ID = re.compile(r"^([a-z]{2,}[0-9]+)-az[0-9]+$")
STACKS_DIR = REPO_ROOT / "stacks"
# The Redis hit-rate alarm sums CacheHits and CacheMisses of every node in one metric-math
# expression, and such an alarm may reference at most 10 metrics, a hard limit (CloudWatch
# User Guide, "Limits that apply to alarms based on metric math expressions",
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html). The one
# home of that number: tests/infra/test_one_home.py fails on a second.
ALARM_METRICS_LIMIT = 10
MAX_CACHE_NODES = ALARM_METRICS_LIMIT // 2

_EC2_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_DB_CLASS = re.compile(r"^db\.[a-z][a-z0-9-]*\.[a-z0-9]+$")
_CACHE_NODE = re.compile(r"^cache\.[a-z][a-z0-9-]*\.[a-z0-9]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ACM_ARN = re.compile(r"^arn:aws:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")
_HOSTNAME = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# A Route 53 hosted zone id: "Z" and upper-case letters and digits (Route 53 API
# reference, HostedZone.Id, at most 32 characters).
_HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DB_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_URL_PATH = re.compile(r"^/[A-Za-z0-9/_-]*$")
_QUERY_KEY = re.compile(r"^[A-Za-z0-9_]+$")


# --- field rules: each validates and says what it allows (message and JSON Schema) --------


def _describe(value: Any) -> str:
    return f"{shown(value)} ({type(value).__name__})"


def _invalid(value: Any, problem: str) -> PydanticCustomError:
    return PydanticCustomError(
        "config", "{detail}", {"key": "", "detail": f"invalid value {shown(value)}; {problem}"}
    )


def _rule(check: Callable[[Any], str | None], schema: dict[str, Any]) -> tuple[Any, ...]:
    def validate(value: Any) -> Any:
        problem = check(value)
        if problem:
            raise _invalid(value, problem)
        return value

    return (AfterValidator(validate), Field(json_schema_extra=schema))


def between(low: int, high: int) -> tuple[Any, ...]:
    return _rule(
        lambda v: None if low <= v <= high else f"allowed: {low}..{high}",
        {"minimum": low, "maximum": high},
    )


def positive() -> tuple[Any, ...]:
    return _rule(lambda v: None if v > 0 else "must be a positive integer", {"minimum": 1})


def matches(pattern: re.Pattern[str], what: str) -> tuple[Any, ...]:
    return _rule(
        lambda v: None if pattern.match(v) else f"allowed: {what}",
        {"pattern": pattern.pattern, "description": what},
    )


def one_of(choices: tuple[Any, ...]) -> tuple[Any, ...]:
    return _rule(
        lambda v: None if v in choices else f"allowed: {', '.join(map(str, choices))}",
        {"enum": list(choices)},
    )


def _sentence(value: str) -> str | None:
    return None if value.strip() and "\n" not in value.strip() else "allowed: one line of text"


def _cidr(value: str) -> str | None:
    try:
        net = ipaddress.ip_network(value)
    except ValueError:
        return "allowed: an IPv4 CIDR such as 10.40.0.0/16"
    if net.version != 4 or not 16 <= net.prefixlen <= 20:
        return "allowed: an IPv4 CIDR with a prefix length of /16 to /20"
    return None


def _cache_nodes(value: int) -> str | None:
    if 1 <= value <= MAX_CACHE_NODES:
        return None
    return (
        f"allowed: 1..{MAX_CACHE_NODES} (the Redis hit-rate alarm reads 2 metrics per node "
        f"and CloudWatch allows {ALARM_METRICS_LIMIT} per alarm)"
    )


def _fail(key: str, detail: str) -> PydanticCustomError:
    """A cross-field problem, reported at `key` inside the model being validated."""
    return PydanticCustomError("config", "{detail}", {"key": key, "detail": detail})


Sentence = Annotated[str, *_rule(_sentence, {"pattern": "\\S", "description": "one line"})]
Ec2Type = Annotated[str, *matches(_EC2_TYPE, "an EC2 type")]
DbClass = Annotated[str, *matches(_DB_CLASS, "an RDS class such as db.r7g.large")]
VolumeGb = Annotated[int, *between(8, 16384)]
Count = Annotated[int, *positive()]
StorageGb = Annotated[int, *between(20, 65536)]
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731)


_AMI_IDS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {arch: {"type": "string", "pattern": _AMI_ID.pattern} for arch in ARCHITECTURES},
    "required": list(ARCHITECTURES),
    "additionalProperties": False,
}

_ZONE_IDS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "pattern": ZONE_ID.pattern},
    "minItems": 1,
    "maxItems": 4,
    "uniqueItems": True,
    "description": "pinned availability zone IDs, one per az_count (python -m infra zones)",
}

# The keys `python -m infra size` derives per section, which `override:` may name.
SIZED_KEYS: dict[str, tuple[str, ...]] = {
    "single_box": ("instance_type",),
    "web": ("instance_type", "min_size", "max_size", "desired_capacity", "scale_target_rps"),
    "search": ("instance_type", "min_size", "max_size", "desired_capacity", "scale_target_rps"),
    "database": ("instance_class", "read_replicas", "replica_instance_class"),
    "cache": ("node_type", "node_count"),
}


def _override(raw: Any, section: str, env: str | None) -> tuple[tuple[str, str], ...]:
    """`override: {key: reason}`; a reason is one line, or `{dev: ..., prod: ...}` with
    the environments it applies to."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise _fail("", f"expected a mapping of key -> reason, got {_describe(raw)}")
    allowed = SIZED_KEYS[section]
    found = []
    for key, reason in raw.items():
        if key not in allowed:
            raise _fail("", f"unknown key {shown(key)}; allowed: {', '.join(allowed)}")
        if isinstance(reason, dict):
            extra = set(reason) - set(ENVIRONMENTS)
            if extra:
                raise _fail(
                    str(key),
                    f"unknown environment {shown(sorted(extra)[0])}; "
                    f"allowed: {', '.join(ENVIRONMENTS)}",
                )
            reason = reason.get(env) if env else None
            if reason is None:
                continue
        if not isinstance(reason, str) or _sentence(reason):
            raise _fail(str(key), f"invalid reason {shown(reason)}; allowed: one line of text")
        found.append((str(key), reason.strip()))
    return tuple(found)


def _override_schema(section: str) -> dict[str, Any]:
    reason = {"type": "string", "pattern": "\\S"}
    return {
        "type": "object",
        "propertyNames": {"enum": list(SIZED_KEYS[section])},
        "additionalProperties": {
            "anyOf": [
                reason,
                {
                    "type": "object",
                    "properties": {env: reason for env in ENVIRONMENTS},
                    "additionalProperties": False,
                },
            ]
        },
    }


def Override(section: str) -> Any:
    """`override:` of a sized section: (key, reason) pairs for the environment loaded."""
    return Annotated[tuple[tuple[str, str], ...], WithJsonSchema(_override_schema(section))]


class _Model(BaseModel):
    # strict: a YAML "2" is not an int and `true` is not a size; forbid: a misspelt key
    # is an error, not a silently ignored line.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


# --- environment profile ----------------------------------------------------------------


Hostname = Annotated[str, *matches(_HOSTNAME, "a lower-case DNS name")]


class DomainProfile(_Model):
    """`domain:` of a profile: the names the stack serves, in a public Route 53 hosted zone
    the stack does not own (made once by hand or by another stack; never created or
    deleted here). With it the program makes the ACM certificates (DNS-validated in the
    zone) and the alias records (infra/program/components/domain.py)."""

    # The hosted zone's name; `api` and `origin` must be in it.
    zone: Hostname
    # The zone's id. Given: used as is. Left out: looked up by name at preview
    # (route53.get_zone, a public zone), which fails when two public zones share the name.
    zone_id: (
        Annotated[
            str,
            *matches(_HOSTED_ZONE_ID, "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJK"),
        ]
        | None
    ) = None
    # The name viewers use: an alias to the ALB, or to CloudFront at edge and scale-5x
    # once the edge cut-over is closed (an A record to the box's Elastic IP at stages 1-2).
    api: Hostname
    # The ALB's own name (an alias to it at every stage with an ALB), on the ALB's
    # certificate: CloudFront's HTTPS origin at edge and scale-5x, where `api` points at
    # CloudFront and so cannot be the origin.
    origin: Hostname

    @model_validator(mode="after")
    def _names(self) -> DomainProfile:
        for key in ("api", "origin"):
            name = getattr(self, key)
            if name != self.zone and not name.endswith("." + self.zone):
                raise _fail(
                    key,
                    f"invalid value {shown(name)}: not in the zone {shown(self.zone)}; "
                    f"allowed: {self.zone} or a name ending in .{self.zone}",
                )
        if self.origin == self.api:
            raise _fail(
                "origin",
                f"invalid value {shown(self.origin)}, the same as api; allowed: another name "
                "(at edge and scale-5x api points at CloudFront, origin at the ALB)",
            )
        return self


class EnvProfile(_Model):
    """stacks/env/<env>.yaml."""

    name: Literal["dev", "prod"] = Field(alias="environment")
    region: Annotated[str, *matches(_REGION, "an AWS region such as us-east-1")]
    az_count: Annotated[int, *between(1, 4)]
    vpc_cidr: Annotated[
        str, *_rule(_cidr, {"description": "an IPv4 CIDR with a prefix length of /16 to /20"})
    ]
    nat: Annotated[str, *one_of(NAT_STRATEGIES)]
    multi_az: bool
    backup_retention_days: Annotated[int, *between(0, 35)]
    deletion_protection: bool
    protect: bool
    skip_final_snapshot: bool
    owner: Annotated[str, *matches(re.compile(r"^[\w.@-]{1,64}$"), "1-64 of [\\w.@-]")]
    log_retention_days: Annotated[int, *one_of(LOG_RETENTION_DAYS)]
    certificate_arn: Annotated[str, *matches(_ACM_ARN, "an ACM certificate ARN")] | None = None
    # A DNS name the certificate covers that points at the ALB: CloudFront's origin name,
    # so it can reach the ALB over HTTPS (the ALB's own *.elb.amazonaws.com name is not
    # on any certificate you can hold).
    alb_origin_domain: Annotated[str, *matches(_HOSTNAME, "a lower-case DNS name")] | None = None
    alarm_email: Annotated[str, *matches(_EMAIL, "an e-mail address")] | None = None
    # Optional: a hosted zone and the names to serve; the stack then makes and validates
    # its own certificates (instead of certificate_arn / alb_origin_domain).
    domain: DomainProfile | None = None
    # The ALB's connection idle timeout. The service's HTTP keep-alive is derived from it
    # (http_keepalive_s), so one setting decides both: a target that closes an idle
    # connection first makes the ALB answer 502 ("Edit load balancer attributes",
    # connection idle timeout, in the ELB user guide). 1-4000 s: the range the ALB
    # attribute idle_timeout.timeout_seconds accepts.
    alb_idle_timeout_s: Annotated[int, *between(1, 4000)]
    # When RDS and ElastiCache apply a modification (a class change, an engine upgrade):
    # "immediately", with the failover or reboot it costs, or "maintenance-window".
    apply_changes: Annotated[str, *one_of(APPLY_CHANGES)]
    # (architecture, pinned Amazon Linux 2023 AMI) pairs, a tuple so the profile stays
    # hashable; bumped on purpose with `python -m infra ami --write` (a new id refreshes
    # every fleet). In the YAML: `ami_ids: {arm64: ami-..., x86_64: ami-...}`.
    ami_ids: Annotated[tuple[tuple[str, str], ...], WithJsonSchema(_AMI_IDS_SCHEMA)]
    # The availability zone IDs of the stack's subnets, in subnet order (subnet i of each
    # tier is in zone_ids[i]), one per az_count. Pinned, never looked up at `pulumi up`: a
    # subnet's zone is ForceNew (availability_zone_id in the Terraform provider's
    # internal/service/ec2/vpc_subnet.go), so a zone chosen live would replace subnets,
    # and the NAT gateway, RDS standby and Redis nodes in them, whenever a stage or AWS's
    # offerings changed. Chosen on purpose with `python -m infra zones --write`.
    zone_ids: Annotated[tuple[str, ...], WithJsonSchema(_ZONE_IDS_SCHEMA)]
    # What was read off the hand-made box that single-box imports (infra/adopt.py).
    adopt: Annotated[Any, WithJsonSchema({"type": ["object", "null"]})] = None

    def ami_for(self, arch: str) -> str:
        return dict(self.ami_ids)[arch]

    @property
    def http_keepalive_s(self) -> int:
        return self.alb_idle_timeout_s + KEEPALIVE_MARGIN_S

    @property
    def apply_immediately(self) -> bool:
        return self.apply_changes == "immediately"

    @field_validator("ami_ids", mode="before")
    @classmethod
    def _ami_pins(cls, raw: Any) -> tuple[tuple[str, str], ...]:
        if not isinstance(raw, dict):
            raise _fail("", f"expected a mapping, got {_describe(raw)}")
        for arch in raw:
            if arch not in ARCHITECTURES:
                raise _fail(
                    str(arch), f"unknown key {shown(arch)}; allowed: {', '.join(ARCHITECTURES)}"
                )
        pins = []
        for arch in ARCHITECTURES:
            if arch not in raw:
                raise _fail(arch, "required key is missing")
            ami = raw[arch]
            if not isinstance(ami, str):
                raise _fail(arch, f"expected str, got {_describe(ami)}")
            if not _AMI_ID.match(ami):
                raise _fail(
                    arch,
                    f"invalid value {shown(ami)}; allowed: an AMI id such as ami-0123456789abcdef0",
                )
            pins.append((arch, ami))
        return tuple(pins)

    @field_validator("zone_ids", mode="before")
    @classmethod
    def _zone_pins(cls, raw: Any) -> tuple[str, ...]:
        allowed = "a list of zone IDs such as [use1-az1, use1-az2]"
        if not isinstance(raw, list) or not raw:
            raise _fail("", f"expected a non-empty list, got {_describe(raw)}; allowed: {allowed}")
        prefixes = set()
        for i, zone in enumerate(raw):
            if not isinstance(zone, str):
                raise _fail(str(i), f"expected str, got {_describe(zone)}")
            found = ZONE_ID.match(zone)
            if found is None:
                raise _fail(
                    str(i),
                    f"invalid value {shown(zone)}; allowed: a zone ID such as use1-az1 "
                    "(not a zone name such as us-east-1a)",
                )
            prefixes.add(found.group(1))
        if len(set(raw)) != len(raw):
            twice = next(z for z in raw if raw.count(z) > 1)
            raise _fail(
                "", f"invalid value {shown(raw)}: {shown(twice)} twice; allowed: distinct zone IDs"
            )
        if len(prefixes) > 1:
            raise _fail(
                "",
                f"invalid value {shown(raw)}: zones of regions {', '.join(sorted(prefixes))}; "
                "allowed: zone IDs of the profile's region",
            )
        return tuple(raw)

    @field_validator("adopt", mode="before")
    @classmethod
    def _adopt(cls, raw: Any) -> Any:
        from infra.adopt import AdoptError, parse_adopt

        try:
            return parse_adopt(raw)
        except AdoptError as exc:
            raise PydanticCustomError("config_line", "{line}", {"line": str(exc)}) from None

    @model_validator(mode="before")
    @classmethod
    def _pins_present(cls, data: Any) -> Any:
        if isinstance(data, dict) and "ami_ids" not in data:
            raise _fail(
                "ami_ids",
                f"required key is missing; allowed: a mapping of {', '.join(ARCHITECTURES)} "
                "to AMI ids (python -m infra ami --write pins them)",
            )
        if isinstance(data, dict) and "zone_ids" not in data:
            raise _fail(
                "zone_ids",
                "required key is missing; allowed: a list of az_count zone IDs "
                "(python -m infra zones --write pins them)",
            )
        return data

    @model_validator(mode="after")
    def _combination(self) -> EnvProfile:
        if self.alb_origin_domain is not None and self.certificate_arn is None:
            raise _fail(
                "alb_origin_domain",
                f"invalid value {shown(self.alb_origin_domain)} without certificate_arn; "
                "allowed: only with a certificate that covers it",
            )
        if self.domain is not None and (self.certificate_arn or self.alb_origin_domain):
            given = "certificate_arn" if self.certificate_arn else "alb_origin_domain"
            raise _fail(
                "domain",
                f"set together with {given}; allowed: one of domain (the stack makes and "
                "validates its certificates) or certificate_arn/alb_origin_domain (yours)",
            )
        if len(self.zone_ids) != self.az_count:
            raise _fail(
                "zone_ids",
                f"invalid value {shown(list(self.zone_ids))} ({len(self.zone_ids)} zones) with "
                f"az_count {self.az_count}; allowed: exactly {self.az_count} zone IDs "
                "(python -m infra zones lists those offering every instance type)",
            )
        if self.multi_az and self.az_count < 2:
            raise _fail(
                "az_count", f"invalid value {self.az_count} with multi_az: true; allowed: >= 2"
            )
        return self


# --- stage spec -------------------------------------------------------------------------


class _Sized(_Model):
    """A section whose sizes `python -m infra size` derives; `override:` names the keys
    set by hand and why (checked by `size --check`)."""

    SECTION: ClassVar[str]

    @field_validator("override", mode="before", check_fields=False)
    @classmethod
    def _override(cls, raw: Any, info: ValidationInfo) -> tuple[tuple[str, str], ...]:
        env = (info.context or {}).get("env")
        return _override(raw, cls.SECTION, env)


class SingleBoxSpec(_Sized):
    SECTION: ClassVar[str] = "single_box"

    instance_type: Ec2Type
    root_volume_gb: VolumeGb
    override: Override("single_box") = ()


class WebTierSpec(_Sized):
    """One autoscaling group behind the ALB."""

    SECTION: ClassVar[str] = "web"

    instance_type: Ec2Type
    min_size: Count
    max_size: Count
    desired_capacity: Count
    scale_target_rps: Count
    root_volume_gb: VolumeGb
    override: Override("web") = ()

    @property
    def scale_target_per_minute(self) -> int:
        # ALBRequestCountPerTarget is a per-minute count per target.
        return self.scale_target_rps * 60

    @model_validator(mode="after")
    def _sizes(self) -> WebTierSpec:
        low, high, want = self.min_size, self.max_size, self.desired_capacity
        if low > high:
            raise _fail("min_size", f"invalid value {low} > max_size {high}; allowed: <= max_size")
        if not low <= want <= high:
            raise _fail(
                "desired_capacity",
                f"invalid value {want}; allowed: {low}..{high} (min_size..max_size)",
            )
        return self


class SearchTierSpec(WebTierSpec):
    """The search ASG; the ALB routes `GET <path>?<query_key>=...` to it."""

    SECTION: ClassVar[str] = "search"

    path: Annotated[str, *matches(_URL_PATH, "a URL path such as /movies")]
    query_key: Annotated[str, *matches(_QUERY_KEY, "a query key such as q")]


class DatabaseSpec(_Sized):
    SECTION: ClassVar[str] = "database"

    engine_version: Annotated[str, *matches(_VERSION, "e.g. '16' or '16.4'")]
    instance_class: DbClass
    allocated_storage_gb: StorageGb
    max_allocated_storage_gb: StorageGb
    db_name: Annotated[str, *matches(_DB_NAME, "lower-case identifier")]
    read_replicas: Annotated[int, *between(0, 15)]
    replica_instance_class: DbClass | None = None
    override: Override("database") = ()

    @model_validator(mode="after")
    def _storage_and_replicas(self) -> DatabaseSpec:
        if self.max_allocated_storage_gb < self.allocated_storage_gb:
            raise _fail(
                "max_allocated_storage_gb",
                f"invalid value {self.max_allocated_storage_gb}; allowed: >= "
                f"allocated_storage_gb {self.allocated_storage_gb}",
            )
        if self.read_replicas > 0 and self.replica_instance_class is None:
            raise _fail(
                "replica_instance_class",
                f"required when read_replicas is {self.read_replicas}; "
                "allowed: an RDS class such as db.r7g.large",
            )
        return self


class CacheSpec(_Sized):
    SECTION: ClassVar[str] = "cache"

    engine_version: Annotated[str, *matches(_VERSION, "e.g. '7.1'")]
    node_type: Annotated[str, *matches(_CACHE_NODE, "a node type such as cache.r7g.large")]
    node_count: Annotated[int, *_rule(_cache_nodes, {"minimum": 1, "maximum": MAX_CACHE_NODES})]
    override: Override("cache") = ()


class StorageSpec(_Model):
    noncurrent_version_expiration_days: Count
    # S3 refuses a transition to STANDARD_IA before 30 days.
    infrequent_access_after_days: Annotated[int, *between(30, 3650)]


class EdgeSpec(_Model):
    price_class: Annotated[str, *one_of(PRICE_CLASSES)]


class StageSpec(_Model):
    """stacks/<stage>.yaml, with per-environment values resolved for one environment."""

    name: Literal[STAGES] = Field(alias="stage")  # type: ignore[valid-type]
    summary: Sentence  # what the stage adds
    bottleneck: Sentence  # why: the bottleneck the stage removes (the stage table)
    # The tier whose ceiling that is, the one the stage before runs out of first at its
    # ceiling (the lab bench checks it, lab/bench.py `targets`); none for the first stage.
    removes: Annotated[str, *one_of(TIERS)] | None = None
    single_box: SingleBoxSpec | None = None
    web: WebTierSpec | None = None
    search: SearchTierSpec | None = None
    database: DatabaseSpec | None = None
    cache: CacheSpec | None = None
    storage: StorageSpec | None = None
    edge: EdgeSpec | None = None

    @property
    def index(self) -> int:
        """1-based position in STAGES."""
        return STAGES.index(self.name) + 1

    @property
    def local_postgres(self) -> bool:
        """PostgreSQL runs on the single box itself (stage 1 only)."""
        return self.single_box is not None and self.database is None

    @model_validator(mode="after")
    def _shape(self) -> StageSpec:
        if (self.single_box is None) == (self.web is None):
            got = "both" if self.web else "neither"
            raise _fail(
                "web",
                f"a stage has exactly one of single_box or web, got {got}; "
                "allowed: single_box (stages 1-2) or web (ALB + ASG)",
            )
        requires = (
            ("search", self.search, "web", self.web),
            ("edge", self.edge, "storage", self.storage),
            ("edge", self.edge, "web", self.web),
            ("cache", self.cache, "web", self.web),
        )
        for key, present, needed_key, needed in requires:
            if present is not None and needed is None:
                raise _fail(
                    key,
                    f"present without {needed_key}; allowed only with a {needed_key} section",
                )
        return self


class StackConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    env: EnvProfile
    stage: StageSpec
    project: str = PROJECT
    app_port: int = APP_PORT
    db_port: int = DB_PORT
    redis_port: int = REDIS_PORT
    # The stack setting movies:edgeCutover (with_edge_cutover); None offline: the stage's
    # end state, an ALB closed to all but CloudFront.
    edge_cutover: Literal["open", "closed"] | None = None

    @property
    def name(self) -> str:
        return f"{self.env.name}/{self.stage.name}"

    @property
    def alb_from_internet(self) -> bool:
        """The ALB keeps its internet ingress: no edge in front of it, or a cut-over open."""
        return self.stage.edge is None or self.edge_cutover in EDGE_CUTOVER_ALB_OPEN

    @property
    def tags(self) -> dict[str, str]:
        return {
            "project": self.project,
            "stage": self.stage.name,
            "environment": self.env.name,
            "owner": self.env.owner,
        }

    @property
    def service_port(self) -> int:
        """The port the service listens on: 80 on the single box, which viewers reach
        directly (the unit's CAP_NET_BIND_SERVICE allows it), the app port behind an ALB."""
        return BOX_PORT if self.stage.single_box is not None else self.app_port


def replace(obj: Any, /, **changes: Any) -> Any:
    """`dataclasses.replace` for the config models too (a changed copy, not re-validated,
    as `dataclasses.replace` never validated): the sizing tools try variants of a spec."""
    if isinstance(obj, BaseModel):
        return obj.model_copy(update=changes)
    return dataclasses.replace(obj, **changes)


# --- reading ----------------------------------------------------------------------------

_TYPE_NAMES = {"int_type": "int", "string_type": "str", "bool_type": "bool", "float_type": "float"}


def _error_line(exc: ValidationError, model: type[BaseModel]) -> str:
    """The first problem as one line: `key: what is wrong; what is allowed`."""
    err = exc.errors(include_url=False)[0]
    loc = [shown(part)[1:-1] if isinstance(part, str) else str(part) for part in err["loc"]]
    kind = err["type"]
    if kind == "config_line":
        return str(err["ctx"]["line"])
    if kind == "config":
        extra = err["ctx"]["key"]
        key = ".".join([*loc, extra] if extra else loc)
        return f"{key}: {err['ctx']['detail']}"
    key = ".".join(loc)
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "extra_forbidden":
        allowed = ", ".join(sorted(_field_names(model, loc[:-1])))
        return f"{key}: unknown key {shown(loc[-1])}; allowed: {allowed}"
    if kind in _TYPE_NAMES:
        return f"{key}: expected {_TYPE_NAMES[kind]}, got {_describe(err['input'])}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{key}: expected a mapping, got {_describe(err['input'])}"
    if kind == "literal_error":
        return f"{key}: invalid value {shown(err['input'])}; allowed: {err['ctx']['expected']}"
    return f"{key}: {err['msg']}"


def _field_names(model: type[BaseModel], path: list[str]) -> list[str]:
    """The keys a section allows (by their YAML names)."""
    for part in path:
        field = model.model_fields[_by_alias(model).get(part, part)]
        inner = [a for a in getattr(field.annotation, "__args__", (field.annotation,))]
        model = next(a for a in inner if isinstance(a, type) and issubclass(a, BaseModel))
    return [f.alias or name for name, f in model.model_fields.items()]


def _by_alias(model: type[BaseModel]) -> dict[str, str]:
    return {f.alias: name for name, f in model.model_fields.items() if f.alias}


def _validated(model: type[BaseModel], data: Any, env: str | None = None) -> Any:
    try:
        return model.model_validate(data, context={"env": env})
    except ValidationError as exc:
        raise ConfigError(_error_line(exc, model)) from None


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return load_yaml(path, what)
    except YamlError as exc:
        raise ConfigError(str(exc)) from None


def _mapping(data: Any, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'document'}: expected a mapping, got {_describe(data)}")
    return data


def _per_env(value: Any, key: str, env: str) -> Any:
    """A mapping whose keys are environments is a per-environment value: pick `env`'s."""
    if not isinstance(value, dict):
        return value
    keys = set(value)
    if not keys & set(ENVIRONMENTS):
        return value
    if keys != set(ENVIRONMENTS):
        raise ConfigError(
            f"{key}: per-environment value must give exactly "
            f"{', '.join(ENVIRONMENTS)}; got keys {sorted(keys)}"
        )
    return value[env]


def resolve_environment(doc: Mapping[str, Any], env: str) -> dict[str, Any]:
    """A stage spec with every `{dev: x, prod: y}` (a key's value, or a section's key's
    value) replaced by `env`'s."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        value = _per_env(value, str(key), env)
        if isinstance(value, dict):
            value = {k: _per_env(v, f"{key}.{k}", env) for k, v in value.items()}
        out[key] = value
    return out


def choice_error(env: str, stages: Iterable[str] = ()) -> str | None:
    """The one-line error for a command's unknown --env or --stage, or None when both are
    known (the commands print it and exit 2)."""
    if env not in ENVIRONMENTS:
        return f"--env {shown(env)}; allowed: {', '.join(ENVIRONMENTS)}"
    for stage in stages:
        if stage not in STAGES:
            return f"--stage {shown(stage)}; allowed: {', '.join(STAGES)}"
    return None


def load_env_profile(env: str, root: Path = STACKS_DIR) -> EnvProfile:
    if env not in ENVIRONMENTS:
        raise ConfigError(f"environment: unknown {shown(env)}; allowed: {', '.join(ENVIRONMENTS)}")
    path = root / "env" / f"{env}.yaml"
    if not path.is_file():
        raise ConfigError(f"environment: profile {path} is missing")
    doc = _mapping(_read_yaml(path, "environment profile"), "")
    name = doc.get("environment")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"environment: expected str, got {_describe(name)}")
    if name != env and name is not None:
        raise ConfigError(f"environment: {path.name} says {shown(name)}; allowed: {shown(env)}")
    return _validated(EnvProfile, doc)


def load_stage_spec(stage: str, env: str, root: Path = STACKS_DIR) -> StageSpec:
    """The stage spec with per-environment values resolved for `env`."""
    if stage not in STAGES:
        raise ConfigError(f"stage: unknown {shown(stage)}; allowed: {', '.join(STAGES)}")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"environment: unknown {shown(env)}; allowed: {', '.join(ENVIRONMENTS)}")
    path = root / f"{stage}.yaml"
    if not path.is_file():
        raise ConfigError(f"stage: spec {path} is missing")
    doc = resolve_environment(_mapping(_read_yaml(path, "stage spec"), ""), env)
    name = doc.get("stage")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"stage: expected str, got {_describe(name)}")
    if name != stage and isinstance(name, str):
        raise ConfigError(f"stage: {path.name} says {shown(name)}; allowed: {shown(stage)}")
    return _validated(StageSpec, doc, env)


def _check_combination(env: EnvProfile, stage: StageSpec) -> None:
    needs_two_azs = [
        what
        for what, present in (
            ("an ALB", stage.web is not None),
            ("an RDS subnet group", stage.database is not None),
            ("an ElastiCache subnet group with failover", stage.cache and env.multi_az),
        )
        if present
    ]
    if needs_two_azs and env.az_count < 2:
        raise ConfigError(
            f"az_count: invalid value {env.az_count} for {env.name}/{stage.name}, which has "
            f"{' and '.join(needs_two_azs)}; allowed: >= 2"
        )
    if stage.edge is not None and env.certificate_arn and env.alb_origin_domain is None:
        raise ConfigError(
            f"alb_origin_domain: required with certificate_arn at {stage.name}; allowed: a "
            "DNS name the certificate covers, pointing at the ALB (CloudFront's HTTPS origin)"
        )
    db = stage.database
    if db is not None and db.read_replicas > 0 and env.backup_retention_days < 1:
        raise ConfigError(
            f"backup_retention_days: invalid value {env.backup_retention_days} with "
            f"database.read_replicas {db.read_replicas} in {stage.name}; allowed: >= 1 "
            "(RDS replicas need automated backups on the primary)"
        )
    cache = stage.cache
    if cache is not None and env.multi_az and cache.node_count < 2:
        raise ConfigError(
            f"cache.node_count: invalid value {cache.node_count} with multi_az: true in "
            f"{env.name}; allowed: >= 2 (automatic failover needs a replica)"
        )


def load_stack_config(env: str, stage: str, root: Path = STACKS_DIR) -> StackConfig:
    """Load and validate one (environment, stage) pair; raises ConfigError."""
    profile = load_env_profile(env, root)
    spec = load_stage_spec(stage, env, root)
    _check_combination(profile, spec)
    if profile.adopt is not None:
        from infra.adopt import check_adoption

        box = spec.single_box
        check_adoption(
            profile.adopt,
            stage=spec.name,
            instance_type=box.instance_type if box else None,
            root_volume_gb=box.root_volume_gb if box else None,
            holds_data=spec.local_postgres,
        )
    return StackConfig(env=profile, stage=spec)


def all_stack_configs(root: Path = STACKS_DIR) -> list[StackConfig]:
    """Every (environment, stage) pair, environments first, stages in order."""
    return [load_stack_config(env, stage, root) for env in ENVIRONMENTS for stage in STAGES]


# --- the edge cut-over: the stack setting movies:edgeCutover ---------------------------
#
# At a stage with an edge (CloudFront in front of the ALB) the ALB ends closed to all but
# CloudFront's prefix list. Moving a live stack there needs an order the engine cannot
# infer: the distribution serves and DNS moves to it before the ALB closes. So the closing
# is a setting of the stack, not a step of the engine: `open` keeps the ALB's internet
# rules beside CloudFront's, `dns` keeps them while the stack's own records (a profile
# `domain`) move to CloudFront, `closed` leaves CloudFront's only. Each step of the cut-
# over is then `pulumi config set` and a plain `pulumi up`, none names a URN. It has no
# default at those stages (only the operator knows where DNS points): a new stack sets
# `closed` and needs one `pulumi up`; a stack moving up from read-replicas sets `open`, so
# its first `up` cannot close the ALB. Below edge it is refused (a stale setting would
# otherwise lie in wait for the next move up). The offline tools build the end state
# (`closed`).

EDGE_CUTOVER_KEY = f"{PROJECT}:edgeCutover"
EDGE_CUTOVER: tuple[str, ...] = ("open", "dns", "closed")
# The values at which the ALB keeps its internet rules (DNS may still send clients there).
EDGE_CUTOVER_ALB_OPEN: tuple[str, ...] = ("open", "dns")
# The tag on the ALB's internet rules kept through a cut-over: how the policy pack
# (sg-no-world-ingress) tells them from an ALB left open by mistake.
EDGE_CUTOVER_TAG = "edge-cutover"
EDGE_CUTOVER_MEANING = (
    "open (the ALB keeps its internet ingress: DNS still points at it), "
    "dns (the ALB still open while the stack's own DNS records, with a profile domain, "
    "move to CloudFront; without a domain, as open), "
    "closed (CloudFront's prefix list only: DNS has moved, or the stack is new)"
)


class StackSettings(_Model):
    """The `movies:` settings of a Pulumi stack (Pulumi.<stack>.yaml, `pulumi config set`)."""

    # Checked by load_stack_config, whose messages name the stacks/ files.
    environment: Annotated[str, WithJsonSchema({"type": "string", "enum": list(ENVIRONMENTS)})]
    stage: Annotated[str, WithJsonSchema({"type": "string", "enum": list(STAGES)})]
    edge_cutover: Annotated[str, *one_of(EDGE_CUTOVER)] | None = Field(
        default=None, alias="edgeCutover"
    )


def with_edge_cutover(config: StackConfig, value: str | None) -> StackConfig:
    """`config` with the stack's movies:edgeCutover, checked against its stage: required
    at a stage with an edge, refused at one without. ConfigError, one line."""
    if config.stage.edge is None:
        if value is not None:
            raise ConfigError(
                f"{EDGE_CUTOVER_KEY}: invalid value {shown(value)} at {config.name}, which has "
                f"no edge; allowed: unset (`pulumi config rm {EDGE_CUTOVER_KEY}`)"
            )
        return config
    if value is None:
        raise ConfigError(
            f"{EDGE_CUTOVER_KEY}: required at {config.name}, which puts CloudFront in front "
            f"of the ALB; allowed: {EDGE_CUTOVER_MEANING}"
        )
    if value not in EDGE_CUTOVER:
        raise ConfigError(
            f"{EDGE_CUTOVER_KEY}: invalid value {shown(value)}; allowed: {EDGE_CUTOVER_MEANING}"
        )
    return config.model_copy(update={"edge_cutover": value})


def load_stack_settings(settings: Mapping[str, Any], root: Path = STACKS_DIR) -> StackConfig:
    """The StackConfig a Pulumi stack's `movies:` settings select (keys without the
    `movies:` prefix; absent ones left out). ConfigError, one line."""
    try:
        found = StackSettings.model_validate(dict(settings))
    except ValidationError as exc:
        raise ConfigError(f"{PROJECT}:{_error_line(exc, StackSettings)}") from None
    config = load_stack_config(found.environment, found.stage, root)
    return with_edge_cutover(config, found.edge_cutover)


def _pulumi_stack_file_schema() -> dict[str, Any]:
    """Pulumi.<stack>.yaml: the `movies:` keys of StackSettings; other namespaces (aws:)
    are the providers' business."""
    schema = StackSettings.model_json_schema()
    props = {f"{PROJECT}:{key}": value for key, value in schema["properties"].items()}
    return {
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": props,
                "required": [f"{PROJECT}:{key}" for key in schema["required"]],
                # a misspelt movies: key is an error, not an ignored line
                "propertyNames": {
                    "anyOf": [{"not": {"pattern": f"^{PROJECT}:"}}, {"enum": list(props)}]
                },
            }
        },
        "required": ["config"],
    }


# --- the published JSON Schema (stacks/schema.json) -------------------------------------

SCHEMA_FILE = STACKS_DIR / "schema.json"


def _per_env_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A value, or `{dev: value, prod: value}` (resolved by `resolve_environment`)."""
    per_env = {
        "type": "object",
        "properties": {env: schema for env in ENVIRONMENTS},
        "required": list(ENVIRONMENTS),
        "additionalProperties": False,
    }
    return {"anyOf": [schema, per_env]}


def stack_schema() -> dict[str, Any]:
    """The JSON Schema of a stage spec or an environment profile, from the models.

    A file with an `environment` key is a profile, one with `config` a Pulumi stack file
    (Pulumi.<stack>.yaml), any other a stage spec. In a stage
    spec every section, and every key of a section, may be given per environment.
    """
    defs: dict[str, Any] = {}
    for model in (EnvProfile, StageSpec):
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[model.__name__] = schema
    defs["PulumiStackFile"] = _pulumi_stack_file_schema()
    sections = {"SingleBoxSpec", "WebTierSpec", "SearchTierSpec", "DatabaseSpec"}
    sections |= {"CacheSpec", "StorageSpec", "EdgeSpec"}
    for name in sections:
        props = defs[name]["properties"]
        for key in props:
            props[key] = _per_env_schema(props[key])
    stage_props = defs["StageSpec"]["properties"]
    for key in list(stage_props):
        if key != "stage":
            stage_props[key] = _per_env_schema(stage_props[key])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "movies-scaling-blueprint stage spec, environment profile or Pulumi stack file",
        "description": "Generated from infra/config.py by `python -m infra schema`; do not edit.",
        "if": {"required": ["environment"]},
        "then": {"$ref": "#/$defs/EnvProfile"},
        "else": {
            "if": {"required": ["config"]},
            "then": {"$ref": "#/$defs/PulumiStackFile"},
            "else": {"$ref": "#/$defs/StageSpec"},
        },
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    import json

    return json.dumps(stack_schema(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    """`python -m infra schema [--check]`: write stacks/schema.json (or check it is current)."""
    import sys

    if argv not in ([], ["--check"]):
        print("usage: python -m infra schema [--check]", file=sys.stderr)
        return 2
    text = schema_text()
    if argv == ["--check"]:
        current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.is_file() else ""
        if current != text:
            print(f"{SCHEMA_FILE.name} differs from the models; run `python -m infra schema`")
            return 1
        print(f"{SCHEMA_FILE.name} matches the models")
        return 0
    SCHEMA_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
    return 0
