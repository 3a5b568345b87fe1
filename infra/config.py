"""Stage specs and environment profiles: loaded, validated and frozen before any resource.

`load_stack_config(env, stage)` reads `stacks/<stage>.yaml` and `stacks/env/<env>.yaml`,
resolves per-environment values (`{dev: x, prod: y}`), checks every key, type, size and
combination, and returns a frozen `StackConfig`. Anything wrong raises `ConfigError` with
one line naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from infra import REPO_ROOT

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
STACKS_DIR = REPO_ROOT / "stacks"
# The Redis hit-rate alarm sums CacheHits and CacheMisses of every node in one metric-math
# expression; CloudWatch allows 10 metrics per alarm (observability.MAX_METRICS_PER_ALARM).
ALARM_METRICS_LIMIT = 10
MAX_CACHE_NODES = ALARM_METRICS_LIMIT // 2

_EC2_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_DB_CLASS = re.compile(r"^db\.[a-z][a-z0-9-]*\.[a-z0-9]+$")
_CACHE_NODE = re.compile(r"^cache\.[a-z][a-z0-9-]*\.[a-z0-9]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ACM_ARN = re.compile(r"^arn:aws:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")
_HOSTNAME = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DB_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_URL_PATH = re.compile(r"^/[A-Za-z0-9/_-]*$")
_QUERY_KEY = re.compile(r"^[A-Za-z0-9_]+$")


class ConfigError(ValueError):
    """A stage spec or environment profile is invalid; the message is one line."""


# --- the frozen model -------------------------------------------------------------------


@dataclass(frozen=True)
class EnvProfile:
    name: str
    region: str
    az_count: int
    vpc_cidr: str
    nat: str
    multi_az: bool
    backup_retention_days: int
    deletion_protection: bool
    protect: bool
    skip_final_snapshot: bool
    owner: str
    log_retention_days: int
    certificate_arn: str | None
    # A DNS name the certificate covers that points at the ALB: CloudFront's origin name,
    # so it can reach the ALB over HTTPS (the ALB's own *.elb.amazonaws.com name is not
    # on any certificate you can hold).
    alb_origin_domain: str | None
    alarm_email: str | None
    # The ALB's connection idle timeout. The service's HTTP keep-alive is derived from it
    # (http_keepalive_s), so one setting decides both: a target that closes an idle
    # connection first makes the ALB answer 502 ("Edit load balancer attributes",
    # connection idle timeout, in the ELB user guide).
    alb_idle_timeout_s: int
    # When RDS and ElastiCache apply a modification (a class change, an engine upgrade):
    # "immediately", with the failover or reboot it costs, or "maintenance-window".
    apply_changes: str
    # (architecture, pinned Amazon Linux 2023 AMI) pairs, a tuple so the profile stays
    # hashable; bumped on purpose with `python -m infra ami --write` (a new id refreshes
    # every fleet).
    ami_ids: tuple[tuple[str, str], ...]

    # What was read off the hand-made box that single-box imports (infra/adopt.py).
    adopt: Any = None

    def ami_for(self, arch: str) -> str:
        return dict(self.ami_ids)[arch]

    @property
    def http_keepalive_s(self) -> int:
        return self.alb_idle_timeout_s + KEEPALIVE_MARGIN_S

    @property
    def apply_immediately(self) -> bool:
        return self.apply_changes == "immediately"


@dataclass(frozen=True)
class SingleBoxSpec:
    instance_type: str
    root_volume_gb: int
    # `override:` in the spec: key -> the one-line reason this size differs from what
    # `python -m infra size` derives (checked by `size --check`).
    override: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WebTierSpec:
    """One autoscaling group behind the ALB."""

    instance_type: str
    min_size: int
    max_size: int
    desired_capacity: int
    scale_target_rps: int
    root_volume_gb: int
    # `override:` in the spec: key -> the one-line reason this size differs from what
    # `python -m infra size` derives (checked by `size --check`).
    override: tuple[tuple[str, str], ...] = ()

    @property
    def scale_target_per_minute(self) -> int:
        # ALBRequestCountPerTarget is a per-minute count per target.
        return self.scale_target_rps * 60


@dataclass(frozen=True)
class SearchTierSpec(WebTierSpec):
    """The search ASG; the ALB routes `GET <path>?<query_key>=...` to it."""

    path: str = "/movies"
    query_key: str = "q"


@dataclass(frozen=True)
class DatabaseSpec:
    engine_version: str
    instance_class: str
    allocated_storage_gb: int
    max_allocated_storage_gb: int
    db_name: str
    read_replicas: int
    replica_instance_class: str | None
    # `override:` in the spec: key -> the one-line reason this size differs from what
    # `python -m infra size` derives (checked by `size --check`).
    override: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CacheSpec:
    engine_version: str
    node_type: str
    node_count: int
    # `override:` in the spec: key -> the one-line reason this size differs from what
    # `python -m infra size` derives (checked by `size --check`).
    override: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StorageSpec:
    noncurrent_version_expiration_days: int
    infrequent_access_after_days: int


@dataclass(frozen=True)
class EdgeSpec:
    price_class: str


@dataclass(frozen=True)
class StageSpec:
    name: str
    index: int  # 1-based position in STAGES
    summary: str  # what the stage adds
    bottleneck: str  # why: the bottleneck the stage removes (DESIGN.md's stage table)
    single_box: SingleBoxSpec | None
    web: WebTierSpec | None
    search: SearchTierSpec | None
    database: DatabaseSpec | None
    cache: CacheSpec | None
    storage: StorageSpec | None
    edge: EdgeSpec | None

    @property
    def local_postgres(self) -> bool:
        """PostgreSQL runs on the single box itself (stage 1 only)."""
        return self.single_box is not None and self.database is None

    @property
    def components(self) -> tuple[str, ...]:
        """The components this stage declares, in declaration order."""
        names = ["network", "security"]
        names += [
            name
            for name, present in (
                ("storage", self.storage is not None),
                ("database", self.database is not None),
                ("cache", self.cache is not None),
                ("compute", True),
                ("edge", self.edge is not None),
            )
            if present
        ]
        return (*names, "release", "observability")


@dataclass(frozen=True)
class StackConfig:
    env: EnvProfile
    stage: StageSpec
    project: str = PROJECT
    app_port: int = APP_PORT
    db_port: int = DB_PORT
    redis_port: int = REDIS_PORT

    @property
    def name(self) -> str:
        return f"{self.env.name}/{self.stage.name}"

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

    def physical_name(self, suffix: str) -> str:
        """Physical name of a stateful resource: project + environment, never the stage."""
        return f"{self.project}-{self.env.name}-{suffix}"


# --- reading helpers --------------------------------------------------------------------

T = TypeVar("T")


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


class _Section:
    """A YAML mapping being consumed key by key, so leftovers are reported as unknown."""

    def __init__(self, data: Any, path: str, env: str | None) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping, got {_describe(data)}")
        self.data = dict(data)
        self.path = path
        self.env = env
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def raw(self, name: str, *, optional: bool = False) -> Any:
        self.seen.add(name)
        if name not in self.data:
            if optional:
                return None
            raise ConfigError(f"{self.key(name)}: required key is missing")
        return self._per_env(name, self.data[name])

    def _per_env(self, name: str, value: Any) -> Any:
        # A mapping whose keys are environments is a per-environment scalar.
        if self.env is None or not isinstance(value, dict):
            return value
        keys = set(value)
        if not keys & set(ENVIRONMENTS):
            return value
        if keys != set(ENVIRONMENTS):
            raise ConfigError(
                f"{self.key(name)}: per-environment value must give exactly "
                f"{', '.join(ENVIRONMENTS)}; got keys {sorted(keys)}"
            )
        return value[self.env]

    def section(self, name: str) -> _Section | None:
        value = self.raw(name, optional=True)
        if value is None:
            return None
        return _Section(value, self.key(name), self.env)

    def get(self, name: str, kind: type[T], check: Callable[[T], str | None] | None = None) -> T:
        value = self.raw(name)
        return _typed(self.key(name), value, kind, check)

    def optional(
        self, name: str, kind: type[T], check: Callable[[T], str | None] | None = None
    ) -> T | None:
        value = self.raw(name, optional=True)
        if value is None:
            return None
        return _typed(self.key(name), value, kind, check)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            allowed = ", ".join(sorted(self.seen))
            raise ConfigError(
                f"{self.key(unknown[0])}: unknown key {unknown[0]!r}; allowed: {allowed}"
            )


def _typed(key: str, value: Any, kind: type[T], check: Callable[[T], str | None] | None) -> T:
    # bool is an int subclass in Python; a YAML `true` is never a size.
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{key}: expected {kind.__name__}, got {_describe(value)}")
    if check is not None:
        problem = check(value)
        if problem:
            raise ConfigError(f"{key}: invalid value {value!r}; {problem}")
    return value


def _positive(value: int) -> str | None:
    return None if value > 0 else "must be a positive integer"


def _non_negative(value: int) -> str | None:
    return None if value >= 0 else "must be >= 0"


def _between(low: int, high: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if low <= value <= high else f"allowed: {low}..{high}"

    return check


def _matches(pattern: re.Pattern[str], what: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if pattern.match(value) else f"allowed: {what}"

    return check


def _sentence(value: str) -> str | None:
    return None if value.strip() and "\n" not in value.strip() else "allowed: one line of text"


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"allowed: {', '.join(choices)}"

    return check


def _cidr(value: str) -> str | None:
    try:
        net = ipaddress.ip_network(value)
    except ValueError:
        return "allowed: an IPv4 CIDR such as 10.40.0.0/16"
    if net.version != 4 or not 16 <= net.prefixlen <= 20:
        return "allowed: an IPv4 CIDR with a prefix length of /16 to /20"
    return None


def _read_yaml(path: Path, what: str) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where}: {what} is not valid YAML") from exc


# --- environment profile ----------------------------------------------------------------


def load_env_profile(env: str, root: Path = STACKS_DIR) -> EnvProfile:
    if env not in ENVIRONMENTS:
        raise ConfigError(f"environment: unknown {env!r}; allowed: {', '.join(ENVIRONMENTS)}")
    path = root / "env" / f"{env}.yaml"
    if not path.is_file():
        raise ConfigError(f"environment: profile {path} is missing")
    doc = _Section(_read_yaml(path, "environment profile"), "", None)
    name = doc.get("environment", str)
    if name != env:
        raise ConfigError(f"environment: {path.name} says {name!r}; allowed: {env!r}")
    profile = EnvProfile(
        name=name,
        region=doc.get("region", str, _matches(_REGION, "an AWS region such as us-east-1")),
        az_count=doc.get("az_count", int, _between(1, 4)),
        vpc_cidr=doc.get("vpc_cidr", str, _cidr),
        nat=doc.get("nat", str, _one_of(NAT_STRATEGIES)),
        multi_az=doc.get("multi_az", bool),
        backup_retention_days=doc.get("backup_retention_days", int, _between(0, 35)),
        deletion_protection=doc.get("deletion_protection", bool),
        protect=doc.get("protect", bool),
        skip_final_snapshot=doc.get("skip_final_snapshot", bool),
        owner=doc.get("owner", str, _matches(re.compile(r"^[\w.@-]{1,64}$"), "1-64 of [\\w.@-]")),
        log_retention_days=doc.get(
            "log_retention_days",
            int,
            _one_of_int((1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731)),
        ),
        certificate_arn=doc.optional(
            "certificate_arn", str, _matches(_ACM_ARN, "an ACM certificate ARN")
        ),
        alb_origin_domain=doc.optional(
            "alb_origin_domain", str, _matches(_HOSTNAME, "a lower-case DNS name")
        ),
        alarm_email=doc.optional("alarm_email", str, _matches(_EMAIL, "an e-mail address")),
        # 1-4000 s: the range the ALB attribute idle_timeout.timeout_seconds accepts.
        alb_idle_timeout_s=doc.get("alb_idle_timeout_s", int, _between(1, 4000)),
        apply_changes=doc.get("apply_changes", str, _one_of(APPLY_CHANGES)),
        ami_ids=_ami_ids(doc),
        adopt=_adopt(doc.raw("adopt", optional=True)),
    )
    doc.finish()
    if profile.alb_origin_domain is not None and profile.certificate_arn is None:
        raise ConfigError(
            f"alb_origin_domain: invalid value {profile.alb_origin_domain!r} without "
            "certificate_arn; allowed: only with a certificate that covers it"
        )
    if profile.multi_az and profile.az_count < 2:
        raise ConfigError(
            f"az_count: invalid value {profile.az_count} with multi_az: true; allowed: >= 2"
        )
    return profile


def _adopt(raw: Any) -> Any:
    from infra.adopt import parse_adopt

    return parse_adopt(raw)


def _ami_ids(doc: _Section) -> tuple[tuple[str, str], ...]:
    section = doc.section("ami_ids")
    if section is None:
        raise ConfigError(
            f"{doc.key('ami_ids')}: required key is missing; allowed: a mapping of "
            f"{', '.join(ARCHITECTURES)} to AMI ids (python -m infra ami --write pins them)"
        )
    ami = _matches(_AMI_ID, "an AMI id such as ami-0123456789abcdef0")
    pins = tuple((arch, section.get(arch, str, ami)) for arch in ARCHITECTURES)
    section.finish()
    return pins


def _one_of_int(choices: tuple[int, ...]) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if value in choices else f"allowed: {', '.join(map(str, choices))}"

    return check


# --- stage spec -------------------------------------------------------------------------

# The keys `python -m infra size` derives per section, which `override:` may name.
SIZED_KEYS: dict[str, tuple[str, ...]] = {
    "single_box": ("instance_type",),
    "web": ("instance_type", "min_size", "max_size", "desired_capacity", "scale_target_rps"),
    "search": ("instance_type", "min_size", "max_size", "desired_capacity", "scale_target_rps"),
    "database": ("instance_class", "read_replicas", "replica_instance_class"),
    "cache": ("node_type", "node_count"),
}


def _override(sec: _Section, section: str) -> tuple[tuple[str, str], ...]:
    """`override: {key: reason}`; a reason is one line, or `{dev: ..., prod: ...}` with
    the environments it applies to."""
    raw = sec.raw("override", optional=True)
    if raw is None:
        return ()
    where = sec.key("override")
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: expected a mapping of key -> reason, got {_describe(raw)}")
    allowed = SIZED_KEYS[section]
    found = []
    for key, reason in raw.items():
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")
        if isinstance(reason, dict):
            extra = set(reason) - set(ENVIRONMENTS)
            if extra:
                raise ConfigError(
                    f"{where}.{key}: unknown environment {sorted(extra)[0]!r}; allowed: "
                    f"{', '.join(ENVIRONMENTS)}"
                )
            reason = reason.get(sec.env) if sec.env else None
            if reason is None:
                continue
        if not isinstance(reason, str) or _sentence(reason):
            raise ConfigError(
                f"{where}.{key}: invalid reason {reason!r}; allowed: one line of text"
            )
        found.append((key, reason.strip()))
    return tuple(found)


def _single_box(sec: _Section) -> SingleBoxSpec:
    spec = SingleBoxSpec(
        instance_type=sec.get("instance_type", str, _matches(_EC2_TYPE, "an EC2 type")),
        root_volume_gb=sec.get("root_volume_gb", int, _between(8, 16384)),
        override=_override(sec, "single_box"),
    )
    sec.finish()
    return spec


def _tier_fields(sec: _Section) -> dict[str, Any]:
    fields = {
        "instance_type": sec.get("instance_type", str, _matches(_EC2_TYPE, "an EC2 type")),
        "min_size": sec.get("min_size", int, _positive),
        "max_size": sec.get("max_size", int, _positive),
        "desired_capacity": sec.get("desired_capacity", int, _positive),
        "scale_target_rps": sec.get("scale_target_rps", int, _positive),
        "root_volume_gb": sec.get("root_volume_gb", int, _between(8, 16384)),
    }
    low, high, want = fields["min_size"], fields["max_size"], fields["desired_capacity"]
    if low > high:
        raise ConfigError(
            f"{sec.key('min_size')}: invalid value {low} > max_size {high}; allowed: <= max_size"
        )
    if not low <= want <= high:
        raise ConfigError(
            f"{sec.key('desired_capacity')}: invalid value {want}; allowed: {low}..{high}"
            " (min_size..max_size)"
        )
    return fields


def _web(sec: _Section) -> WebTierSpec:
    spec = WebTierSpec(**_tier_fields(sec), override=_override(sec, "web"))
    sec.finish()
    return spec


def _search(sec: _Section) -> SearchTierSpec:
    spec = SearchTierSpec(
        **_tier_fields(sec),
        path=sec.get("path", str, _matches(_URL_PATH, "a URL path such as /movies")),
        query_key=sec.get("query_key", str, _matches(_QUERY_KEY, "a query key such as q")),
        override=_override(sec, "search"),
    )
    sec.finish()
    return spec


def _database(sec: _Section) -> DatabaseSpec:
    db_class = _matches(_DB_CLASS, "an RDS class such as db.r7g.large")
    spec = DatabaseSpec(
        engine_version=sec.get("engine_version", str, _matches(_VERSION, "e.g. '16' or '16.4'")),
        instance_class=sec.get("instance_class", str, db_class),
        allocated_storage_gb=sec.get("allocated_storage_gb", int, _between(20, 65536)),
        max_allocated_storage_gb=sec.get("max_allocated_storage_gb", int, _between(20, 65536)),
        db_name=sec.get("db_name", str, _matches(_DB_NAME, "lower-case identifier")),
        read_replicas=sec.get("read_replicas", int, _between(0, 15)),
        replica_instance_class=sec.optional("replica_instance_class", str, db_class),
        override=_override(sec, "database"),
    )
    sec.finish()
    if spec.max_allocated_storage_gb < spec.allocated_storage_gb:
        raise ConfigError(
            f"{sec.key('max_allocated_storage_gb')}: invalid value "
            f"{spec.max_allocated_storage_gb}; allowed: >= allocated_storage_gb "
            f"{spec.allocated_storage_gb}"
        )
    if spec.read_replicas > 0 and spec.replica_instance_class is None:
        raise ConfigError(
            f"{sec.key('replica_instance_class')}: required when read_replicas is "
            f"{spec.read_replicas}; allowed: an RDS class such as db.r7g.large"
        )
    return spec


def _cache_nodes(value: int) -> str | None:
    if 1 <= value <= MAX_CACHE_NODES:
        return None
    return (
        f"allowed: 1..{MAX_CACHE_NODES} (the Redis hit-rate alarm reads 2 metrics per node "
        f"and CloudWatch allows {ALARM_METRICS_LIMIT} per alarm)"
    )


def _cache(sec: _Section) -> CacheSpec:
    spec = CacheSpec(
        engine_version=sec.get("engine_version", str, _matches(_VERSION, "e.g. '7.1'")),
        node_type=sec.get(
            "node_type", str, _matches(_CACHE_NODE, "a node type such as cache.r7g.large")
        ),
        node_count=sec.get("node_count", int, _cache_nodes),
        override=_override(sec, "cache"),
    )
    sec.finish()
    return spec


def _storage(sec: _Section) -> StorageSpec:
    spec = StorageSpec(
        noncurrent_version_expiration_days=sec.get(
            "noncurrent_version_expiration_days", int, _positive
        ),
        # S3 refuses a transition to STANDARD_IA before 30 days.
        infrequent_access_after_days=sec.get(
            "infrequent_access_after_days", int, _between(30, 3650)
        ),
    )
    sec.finish()
    return spec


def _edge(sec: _Section) -> EdgeSpec:
    spec = EdgeSpec(price_class=sec.get("price_class", str, _one_of(PRICE_CLASSES)))
    sec.finish()
    return spec


def load_stage_spec(stage: str, env: str, root: Path = STACKS_DIR) -> StageSpec:
    """The stage spec with per-environment values resolved for `env`."""
    if stage not in STAGES:
        raise ConfigError(f"stage: unknown {stage!r}; allowed: {', '.join(STAGES)}")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"environment: unknown {env!r}; allowed: {', '.join(ENVIRONMENTS)}")
    path = root / f"{stage}.yaml"
    if not path.is_file():
        raise ConfigError(f"stage: spec {path} is missing")
    doc = _Section(_read_yaml(path, "stage spec"), "", env)
    name = doc.get("stage", str)
    if name != stage:
        raise ConfigError(f"stage: {path.name} says {name!r}; allowed: {stage!r}")

    def build(key: str, reader: Callable[[_Section], T]) -> T | None:
        sec = doc.section(key)
        return None if sec is None else reader(sec)

    spec = StageSpec(
        name=name,
        index=STAGES.index(name) + 1,
        summary=doc.get("summary", str, _sentence),
        bottleneck=doc.get("bottleneck", str, _sentence),
        single_box=build("single_box", _single_box),
        web=build("web", _web),
        search=build("search", _search),
        database=build("database", _database),
        cache=build("cache", _cache),
        storage=build("storage", _storage),
        edge=build("edge", _edge),
    )
    doc.finish()
    _check_stage_shape(spec)
    return spec


def _check_stage_shape(spec: StageSpec) -> None:
    if (spec.single_box is None) == (spec.web is None):
        got = "both" if spec.web else "neither"
        raise ConfigError(
            f"web: a stage has exactly one of single_box or web, got {got}; "
            "allowed: single_box (stages 1-2) or web (ALB + ASG)"
        )
    requires = (
        ("search", spec.search, "web", spec.web),
        ("edge", spec.edge, "storage", spec.storage),
        ("edge", spec.edge, "web", spec.web),
        ("cache", spec.cache, "web", spec.web),
    )
    for key, present, needed_key, needed in requires:
        if present is not None and needed is None:
            raise ConfigError(
                f"{key}: present without {needed_key}; allowed only with a {needed_key} section"
            )


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
