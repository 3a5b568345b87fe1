"""What AWS does when a changed resource is applied: the diff's impact column.

The mocks echo inputs, so a plan says *what* changes, not what happens while it is
applied. This module maps a changed input to what AWS (through the Terraform AWS
provider that pulumi-aws bridges) does with it, from a sourced table like
``infra.catalog``: each rule names the AWS or provider page it comes from.

The impacts, most severe first:

- ``replace: data loss`` / ``replace``: the provider destroys and recreates the resource
  (``ForceNew``); data loss when the resource holds data (``infra.catalog``).
- ``failover`` / ``reboot``: an RDS class or engine change applied now (Multi-AZ: the
  standby is changed first, then RDS fails over; single-AZ: the instance restarts), a
  static parameter, an instance stop/start, an ElastiCache node-type change (online
  scaling, the endpoint moves to new nodes).
- ``rolling refresh``: an Auto Scaling group whose launch template changed; with its
  min/max healthy percentages and an estimated duration (warm-up x batches).
- ``deferred to the maintenance window``: a modification RDS or ElastiCache queues because
  ``applyImmediately`` is false; every preview shows it again until then (the provider
  reads the live value back).
- ``in place, no interruption``.
- ``ignored (ignore_changes)``: the engine keeps the live value.

``classify(type, old_inputs, new_inputs, ignore_changes=..., profile=...)`` works on any
two input maps (an offline plan, a ``pulumi preview --json`` step, a stack export), so the
same table serves every source of a diff.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from infra import catalog as stateful
from infra.tokens import ResourceType

# ------------------------------------------------------------------------- the impacts

REPLACE_DATA_LOSS = "replace: data loss"
REPLACE = "replace"
FAILOVER = "failover"
REBOOT = "reboot"
ROLLING = "rolling refresh"
DEFERRED = "deferred to the maintenance window"
IN_PLACE = "in place, no interruption"
IGNORED = "ignored (ignore_changes)"
CREATE = "create"
DELETE = "delete"
DELETE_DATA_LOSS = "delete: data loss"

# Lower is more severe; a resource's impact is the most severe of its changes.
SEVERITY = {
    REPLACE_DATA_LOSS: 0,
    DELETE_DATA_LOSS: 0,
    REPLACE: 1,
    FAILOVER: 2,
    REBOOT: 2,
    ROLLING: 3,
    DEFERRED: 4,
    DELETE: 5,
    CREATE: 5,
    IN_PLACE: 6,
    IGNORED: 7,
}

# -------------------------------------------------------------------------- the sources

TF = "https://github.com/hashicorp/terraform-provider-aws/blob/main/"
RDS_GUIDE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/"
ASG_GUIDE = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/"
EC_GUIDE = "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/"

SRC_RDS_SETTINGS = RDS_GUIDE + "USER_ModifyInstance.Settings.html"
SRC_RDS_FAILOVER = RDS_GUIDE + "Concepts.MultiAZ.Failover.html"
SRC_RDS_MULTI_AZ_MAINTENANCE = RDS_GUIDE + "USER_UpgradeDBInstance.Maintenance.html"
SRC_RDS_PARAMS = RDS_GUIDE + "USER_WorkingWithParamGroups.Modifying.html"
SRC_ASG_REFRESH = TF + "website/docs/r/autoscaling_group.html.markdown#instance_refresh"
SRC_ASG_DEFAULTS = ASG_GUIDE + "understand-instance-refresh-default-values.html"
SRC_ASG_CAPACITY = ASG_GUIDE + "asg-capacity-limits.html"
SRC_EC_SCALING = EC_GUIDE + "redis-cluster-vertical-scaling.html"
SRC_EC_REPLICAS = EC_GUIDE + "Scaling.RedisReplGrps.html"
SRC_EC_APPLY = TF + "website/docs/r/elasticache_replication_group.html.markdown"
# Read at hashicorp/terraform-provider-aws commit 0015dfcd06d5d78e5e1c3cabe8cea837d379d1c7:
# resourceInstanceUpdate calls modifyInstanceAttributeWithStopStart once for each of
# instance_type, user_data, user_data_base64 that changed ("For each argument change, we
# start and stop the instance"); wait.go: instanceStopTimeout = instanceStartTimeout =
# 10 min, the provider's waits for each stop and each start.
SRC_EC2_USER_DATA = TF + "internal/service/ec2/ec2_instance.go"
SRC_EC2_WAITS = TF + "internal/service/ec2/wait.go"
EC2_STOP_START_TIMEOUT_S = (600, 600)
# ModifyDBInstance NewDBInstanceIdentifier: "When you change the DB instance identifier,
# an instance reboot occurs immediately if you enable ApplyImmediately, or will occur
# during the next maintenance window"; the provider sends it on an identifier change
# (rds/instance.go resourceInstanceUpdate, provider PR #32687).
SRC_RDS_RENAME = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html"
)
# "You can't make further storage modifications for either six (6) hours or until
# storage optimization has completed on the instance, whichever is longer."
SRC_RDS_STORAGE = RDS_GUIDE + "USER_PIOPS.ModifyingExisting.ScalingUp.html"
# Read at commit 001b6364c1a3b3045e152f655440a6d47eb44a70: Timeouts Update 40 min; the
# update waits for the group to be available again before it returns.
SRC_EC_TIMEOUTS = TF + "internal/service/elasticache/replication_group.go"
EC_UPDATE_TIMEOUT_S = 40 * 60
# RDS parameter_group.go: a parameter's apply_method defaults to "immediate", which RDS
# refuses for a static parameter.
SRC_RDS_PARAM_DEFAULT = TF + "internal/service/rds/parameter_group.go"
SRC_EBS_MODIFY = "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modify-volume.html"
SRC_LT = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/launch-templates.html"
SRC_IGNORE = "https://www.pulumi.com/docs/iac/concepts/options/ignorechanges/"
SRC_PROVIDER_UPDATE = TF + "internal/service/"
SRC_PULUMI_UPDATE = "https://www.pulumi.com/docs/iac/concepts/how-pulumi-works/"
SRC_CLOUDFRONT = (
    "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/"
    "HowCloudFrontWorks.html#CloudFrontPropagation"
)

# Typical interruptions, in the words of their sources.
RDS_FAILOVER_S = (60, 120)  # "Failover times are typically 60-120 seconds" (SRC_RDS_FAILOVER)


# ---------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Rule:
    """What AWS does when one of ``paths`` of ``type`` changes.

    ``effect``: ``replace`` (ForceNew), ``refresh`` (instance refresh of the group),
    ``outage`` (the engine restarts: failover with Multi-AZ, else a reboot), ``online``
    (new nodes take over behind the same endpoint), ``restart`` (the instance reboots, not
    a failover even with Multi-AZ), ``reboot`` (needs a restart to take effect), ``none``.
    ``timing``: ``now``, or ``apply`` when the service follows the resource's
    ``applyImmediately`` (else the change waits for the maintenance window).
    """

    type: str
    paths: tuple[str, ...]
    effect: str
    timing: str
    note: str
    source: str


_RDS = ResourceType.RDS_INSTANCE
_RDS_PARAMS = ResourceType.RDS_PARAMETER_GROUP
_SUBNET = ResourceType.EC2_SUBNET
_EC = ResourceType.ELASTICACHE_REPLICATION_GROUP
_ASG = ResourceType.AUTOSCALING_GROUP
_LT = ResourceType.EC2_LAUNCH_TEMPLATE
_EC2 = ResourceType.EC2_INSTANCE
STOP_START_INPUTS = ("instanceType", "userData", "userDataBase64")
_RDS_STORAGE = ("allocatedStorage", "storageType", "iops", "storageThroughput")

RULES: tuple[Rule, ...] = (
    # RDS ("Settings for DB instances": when each change applies and whether it costs
    # downtime). Multi-AZ: RDS changes the standby, fails over, then changes the old
    # primary (USER_UpgradeDBInstance.Maintenance, "Multi-AZ deployments").
    Rule(
        _RDS,
        ("instanceClass",),
        "outage",
        "apply",
        "the instance restarts on the new class",
        SRC_RDS_SETTINGS,
    ),
    Rule(
        _RDS,
        ("engineVersion",),
        "outage",
        "apply",
        "an engine upgrade restarts the instance",
        SRC_RDS_SETTINGS,
    ),
    # A rename: in place since provider PR #32687, but RDS reboots the instance (not a
    # failover, also with Multi-AZ) and the endpoint's host name follows the new name.
    Rule(
        _RDS,
        ("identifier", "identifierPrefix"),
        "restart",
        "apply",
        "renamed in place (ModifyDBInstance NewDBInstanceIdentifier): the instance reboots "
        "and its endpoint changes; clients still using the old endpoint fail until they "
        "pick up the new one",
        SRC_RDS_RENAME,
    ),
    Rule(
        _RDS,
        ("parameterGroupName",),
        "reboot",
        "now",
        "a new parameter group is attached at once and takes effect at the next reboot "
        "(status pending-reboot); RDS does not reboot by itself",
        SRC_RDS_PARAMS,
    ),
    Rule(
        _RDS,
        _RDS_STORAGE,
        "none",
        "apply",
        "storage is modified online (performance may dip during the optimisation); no "
        "further storage change for six hours or until the optimisation ends",
        SRC_RDS_STORAGE,
    ),
    Rule(
        _RDS,
        ("multiAz",),
        "none",
        "apply",
        "RDS creates the standby from a snapshot without downtime",
        SRC_RDS_SETTINGS,
    ),
    Rule(
        _RDS,
        (
            "maxAllocatedStorage",
            "backupWindow",
            "maintenanceWindow",
            "vpcSecurityGroupIds",
            "deletionProtection",
            "copyTagsToSnapshot",
            "performanceInsightsEnabled",
            "performanceInsightsRetentionPeriod",
            "enabledCloudwatchLogsExports",
            "autoMinorVersionUpgrade",
            "backupRetentionPeriod",
        ),
        "none",
        "now",
        "applied at once without downtime",
        SRC_RDS_SETTINGS,
    ),
    Rule(
        _RDS,
        ("applyImmediately", "skipFinalSnapshot", "finalSnapshotIdentifier", "tags"),
        "none",
        "now",
        "provider-side settings or tags: nothing restarts",
        TF + "internal/service/rds/instance.go",
    ),
    # ElastiCache: a node-type change is online vertical scaling (new nodes are synced,
    # the endpoint's DNS moves, connections to the old nodes drop for seconds); adding
    # or removing replicas happens without cluster downtime.
    Rule(
        _EC,
        ("nodeType",),
        "online",
        "apply",
        "online scaling: new nodes sync, the endpoint moves, clients reconnect; pulumi up "
        f"waits until the group is available again (provider update timeout "
        f"{EC_UPDATE_TIMEOUT_S // 60} min)",
        SRC_EC_SCALING,
    ),
    Rule(
        _EC,
        ("engineVersion",),
        "online",
        "apply",
        "engine upgrade node by node, the primary fails over; pulumi up waits until the "
        f"group is available again (provider update timeout {EC_UPDATE_TIMEOUT_S // 60} min)",
        SRC_EC_APPLY,
    ),
    Rule(
        _EC,
        ("numCacheClusters",),
        "none",
        "now",
        "replicas are added or removed without cluster downtime",
        SRC_EC_REPLICAS,
    ),
    Rule(
        _EC,
        (
            "snapshotRetentionLimit",
            "snapshotWindow",
            "maintenanceWindow",
            "autoMinorVersionUpgrade",
            "automaticFailoverEnabled",
            "multiAzEnabled",
            "securityGroupIds",
            "parameterGroupName",
            "applyImmediately",
            "finalSnapshotIdentifier",
            "description",
            "tags",
        ),
        "none",
        "now",
        "applied without downtime",
        SRC_EC_APPLY,
    ),
    # Auto Scaling: a changed launch template (or launch configuration, or mixed
    # instances policy) starts an instance refresh; other settings apply in place.
    Rule(
        _ASG,
        ("launchTemplate", "launchConfiguration", "mixedInstancesPolicy"),
        "refresh",
        "now",
        "the provider starts an instance refresh",
        SRC_ASG_REFRESH,
    ),
    Rule(
        _ASG,
        ("minSize", "maxSize"),
        "none",
        "now",
        "new limits; AWS raises the running count only to a new minimum above it",
        SRC_ASG_CAPACITY,
    ),
    # A new launch template version: nothing runs it until the group refreshes.
    Rule(
        _LT,
        ("*",),
        "none",
        "now",
        "a new template version (the group that uses it refreshes)",
        SRC_LT,
    ),
    # EC2 instance: the provider stops the instance to change its type or user data and
    # starts it again, once per changed attribute (ec2_instance.go, resourceInstanceUpdate;
    # classify counts them: Impact.restarts); a volume grows online.
    Rule(
        _EC2,
        STOP_START_INPUTS,
        "reboot",
        "now",
        "the provider stops the instance, changes it and starts it again, once per changed "
        "attribute",
        SRC_EC2_USER_DATA,
    ),
    Rule(
        _EC2,
        ("rootBlockDevice.volumeSize", "rootBlockDevice.volumeType", "rootBlockDevice.iops"),
        "none",
        "now",
        "the EBS volume is modified online",
        SRC_EBS_MODIFY,
    ),
    Rule(
        ResourceType.CLOUDFRONT_DISTRIBUTION,
        ("*",),
        "none",
        "now",
        "the new configuration propagates to the edge over minutes; the old one serves meanwhile",
        SRC_CLOUDFRONT,
    ),
)

# Replace-triggering (ForceNew) inputs of types that hold no data; stateful types take
# theirs from ``infra.catalog``.
REPLACE_TRIGGERS: dict[str, tuple[tuple[str, ...], str]] = {
    ResourceType.LB_LOAD_BALANCER: (
        ("name", "namePrefix", "internal", "loadBalancerType"),
        TF + "internal/service/elbv2/load_balancer.go",
    ),
    ResourceType.LB_TARGET_GROUP: (
        ("name", "namePrefix", "port", "protocol", "targetType", "vpcId"),
        TF + "internal/service/elbv2/target_group.go",
    ),
    ResourceType.EC2_SUBNET: (
        ("vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId"),
        TF + "internal/service/ec2/vpc_subnet.go",
    ),
    ResourceType.EC2_VPC: (("cidrBlock",), TF + "internal/service/ec2/vpc_.go"),
    ResourceType.EC2_SECURITY_GROUP: (
        ("name", "namePrefix", "description", "vpcId"),
        TF + "internal/service/ec2/vpc_security_group.go",
    ),
    ResourceType.EC2_NAT_GATEWAY: (
        ("subnetId", "allocationId", "connectivityType"),
        TF + "internal/service/ec2/vpc_nat_gateway.go",
    ),
    ResourceType.ROUTE53_RECORD: (
        ("name", "type", "zoneId", "setIdentifier"),
        TF + "internal/service/route53/record.go",
    ),
    ResourceType.CLOUDWATCH_LOG_GROUP: (
        ("name", "namePrefix"),
        TF + "internal/service/logs/group.go",
    ),
    ResourceType.EC2_LAUNCH_TEMPLATE: (
        ("name", "namePrefix"),
        TF + "internal/service/ec2/ec2_launch_template.go",
    ),
    ResourceType.AUTOSCALING_GROUP: (
        ("name", "namePrefix"),
        TF + "internal/service/autoscaling/group.go",
    ),
}


# ------------------------------------------------------------------------ the profile


@dataclass(frozen=True)
class ApplyProfile:
    """What the environment says about applying changes, when the inputs do not say it.

    ``apply_immediately``: RDS/ElastiCache modifications now (with the interruption they
    cost) or in the maintenance window. ``multi_az``: an RDS outage is a failover.
    ``None`` means: take it from the resource's own inputs only.
    """

    apply_immediately: bool | None = None
    multi_az: bool | None = None


# ------------------------------------------------------------------------ the results


@dataclass(frozen=True)
class PathImpact:
    """One changed input path and what applying it does."""

    path: str
    impact: str
    note: str
    source: str


@dataclass(frozen=True)
class Refresh:
    """An estimated instance refresh: launch before terminate when min healthy is 100%."""

    instances: int
    min_healthy: int
    max_healthy: int
    warmup_s: int
    batches: int

    @property
    def duration_s(self) -> int:
        return self.warmup_s * self.batches

    @property
    def full_capacity(self) -> bool:
        return self.min_healthy >= 100

    def describe(self) -> str:
        capacity = (
            "full capacity (launch before terminate)"
            if self.full_capacity
            else f"capacity down to {math.ceil(self.instances * self.min_healthy / 100)} "
            f"of {self.instances} (terminate before launch)"
        )
        return (
            f"replaces {self.instances} instance(s), min {self.min_healthy}% / max "
            f"{self.max_healthy}% healthy, {self.batches} batch(es) x {self.warmup_s} s "
            f"warm-up ≈ {_minutes(self.duration_s)}, {capacity}"
        )


@dataclass(frozen=True)
class Impact:
    """A resource's impact: the most severe of its findings, with a one-line reason."""

    impact: str
    reason: str
    source: str
    findings: tuple[PathImpact, ...] = ()
    refresh: Refresh | None = None
    interruption_s: tuple[int, int] | None = None
    # EC2: how many stop/start cycles the update runs (one per changed STOP_START_INPUTS).
    restarts: int = 0
    # How long `pulumi up` may wait on this update (the provider's update timeout).
    waits_s: int | None = None
    # What the reviewer must know beside the impact (a new endpoint, a call that may fail).
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"impact": self.impact, "reason": self.reason, "source": self.source}
        if self.refresh is not None:
            out["refresh"] = {
                "instances": self.refresh.instances,
                "minHealthyPercentage": self.refresh.min_healthy,
                "maxHealthyPercentage": self.refresh.max_healthy,
                "warmupSeconds": self.refresh.warmup_s,
                "batches": self.refresh.batches,
                "estimatedSeconds": self.refresh.duration_s,
            }
        if self.interruption_s is not None:
            out["interruptionSeconds"] = list(self.interruption_s)
        if self.restarts:
            out["restarts"] = self.restarts
        if self.waits_s is not None:
            out["waitsUpToSeconds"] = self.waits_s
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


# ---------------------------------------------------------------------- classification

DEFAULT_NOTE = "no rule names this input: the provider updates it in place"


def classify(
    type_: str,
    old_inputs: Mapping[str, Any],
    new_inputs: Mapping[str, Any],
    *,
    changed_paths: Iterable[str] | None = None,
    ignore_changes: Sequence[str] = (),
    profile: ApplyProfile | None = None,
    holds_data: bool | None = None,
    old_outputs: Mapping[str, Any] | None = None,
    new_outputs: Mapping[str, Any] | None = None,
) -> Impact:
    """The impact of updating a ``type_`` resource from ``old_inputs`` to ``new_inputs``.

    ``changed_paths`` are the differing input paths (``infra.diff.compare_values``); when
    omitted, the top-level keys that differ. ``holds_data`` overrides the
    ``infra.catalog`` answer (an RDS read replica holds no data of its own; the single
    box does only while PostgreSQL lives on it). ``old_outputs``/``new_outputs``, when
    known, let a subnet that now names its zone by ID instead of by name (or back) be
    recognised as the same zone.
    """
    paths = list(changed_paths) if changed_paths is not None else _top_level(old_inputs, new_inputs)
    if not paths:
        return Impact(IN_PLACE, "no input changes", SRC_PROVIDER_UPDATE)
    if holds_data is None:
        holds_data = stateful.is_stateful(type_) and not new_inputs.get("replicateSourceDb")
    apply_now = _apply_immediately(new_inputs, profile)
    multi_az = _multi_az(type_, new_inputs, profile)
    if type_ == _SUBNET and _same_zone(old_inputs, new_inputs, old_outputs, new_outputs):
        paths = [p for p in paths if p not in ("availabilityZone", "availabilityZoneId")]
        if not paths:
            return Impact(
                IN_PLACE,
                "availabilityZone, availabilityZoneId: the same zone, now named by its ID "
                "(the provider computes both; nothing changes)",
                TF + "internal/service/ec2/vpc_subnet.go",
            )
    findings = [
        _special(type_, path, old_inputs, new_inputs, multi_az)
        or _finding(
            type_, path, old_inputs, new_inputs, ignore_changes, holds_data, apply_now, multi_az
        )
        for path in paths
    ]
    return _combine(type_, findings, multi_az)


def _same_zone(
    old_inputs: Mapping[str, Any],
    new_inputs: Mapping[str, Any],
    old_outputs: Mapping[str, Any] | None,
    new_outputs: Mapping[str, Any] | None,
) -> bool:
    """Both sides name the same zone, one by name and one by ID, as their outputs show."""
    before = {**(old_outputs or {}), **{k: v for k, v in old_inputs.items() if v is not None}}
    after = {**(new_outputs or {}), **{k: v for k, v in new_inputs.items() if v is not None}}
    for key in ("availabilityZoneId", "availabilityZone"):
        if before.get(key) and after.get(key):
            return bool(before[key] == after[key])
    return False


def _top_level(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _apply_immediately(new_inputs: Mapping[str, Any], profile: ApplyProfile | None) -> bool:
    # AWS's default for ApplyImmediately is false (ModifyDBInstance, ModifyReplicationGroup).
    if isinstance(new_inputs.get("applyImmediately"), bool):
        return bool(new_inputs["applyImmediately"])
    if profile is not None and profile.apply_immediately is not None:
        return profile.apply_immediately
    return False


def _multi_az(type_: str, new_inputs: Mapping[str, Any], profile: ApplyProfile | None) -> bool:
    key = {ResourceType.RDS_INSTANCE: "multiAz", _EC: "automaticFailoverEnabled"}.get(type_)
    if key and isinstance(new_inputs.get(key), bool):
        return bool(new_inputs[key])
    if type_ == _RDS and new_inputs.get("replicateSourceDb"):
        return False  # a read replica is a single instance unless it says otherwise
    return bool(profile and profile.multi_az)


def _ignored(path: str, ignore_changes: Sequence[str]) -> bool:
    return any(stateful.path_matches(path, ignored) for ignored in ignore_changes)


def _replace_trigger(
    type_: str, path: str, new_inputs: Mapping[str, Any], old_inputs: Mapping[str, Any]
) -> str | None:
    """The source that makes ``path`` replace ``type_``, or None."""
    if stateful.is_stateful(type_):
        triggers = stateful.triggers_for(type_, new_inputs, old_inputs)
        if any(stateful.path_matches(path, t) for t in triggers):
            return stateful.STATEFUL[type_].source
    spec = REPLACE_TRIGGERS.get(type_)
    if spec and any(stateful.path_matches(path, t) for t in spec[0]):
        return spec[1]
    return None


def rule_for(type_: str, path: str) -> Rule | None:
    for rule in RULES:
        if rule.type == type_ and (
            rule.paths == ("*",) or any(stateful.path_matches(path, p) for p in rule.paths)
        ):
            return rule
    return None


def _special(
    type_: str,
    path: str,
    old_inputs: Mapping[str, Any],
    new_inputs: Mapping[str, Any],
    multi_az: bool,
) -> PathImpact | None:
    """Changes whose impact depends on the values, not only on the input's name."""
    if type_ == _RDS and path == "backupRetentionPeriod":
        # "An outage occurs if you change the backup retention period from 0 to a nonzero
        # value or from a nonzero value to 0" (Settings for DB instances).
        before, after = old_inputs.get(path) or 0, new_inputs.get(path) or 0
        if (before == 0) != (after == 0):
            kind = FAILOVER if multi_az else REBOOT
            return PathImpact(
                path,
                kind,
                "turning automated backups on or off restarts the instance",
                SRC_RDS_SETTINGS,
            )
    if type_ == _RDS_PARAMS and (path == "parameters" or path.startswith("parameters[")):
        # Dynamic parameters apply at once; static ones (applyMethod pending-reboot) wait
        # for the next reboot of every instance that uses the group.
        old_p = {p.get("name"): p for p in old_inputs.get("parameters") or []}
        changed = [p for p in new_inputs.get("parameters") or [] if old_p.get(p.get("name")) != p]
        if any(p.get("applyMethod") == "pending-reboot" for p in changed):
            return PathImpact(
                path,
                REBOOT,
                "a static parameter takes effect at the next reboot of each instance using "
                "the group (pending-reboot); RDS does not reboot by itself",
                SRC_RDS_PARAMS,
            )
        unsaid = sorted(str(p.get("name")) for p in changed if not p.get("applyMethod"))
        if unsaid:
            # The provider fills in "immediate" (SRC_RDS_PARAM_DEFAULT); RDS applies a
            # dynamic parameter at once and refuses "immediate" for a static one.
            return PathImpact(
                path,
                IN_PLACE,
                f"{', '.join(unsaid)}: no applyMethod, so the provider sends immediate: applied "
                "at once if dynamic, the update fails if static",
                SRC_RDS_PARAM_DEFAULT,
            )
        return PathImpact(path, IN_PLACE, "dynamic parameters apply at once", SRC_RDS_PARAMS)
    return None


def _finding(
    type_: str,
    path: str,
    old_inputs: Mapping[str, Any],
    new_inputs: Mapping[str, Any],
    ignore_changes: Sequence[str],
    holds_data: bool,
    apply_now: bool,
    multi_az: bool,
) -> PathImpact:
    if path.startswith("options."):
        return PathImpact(path, IN_PLACE, "a Pulumi resource option: nothing in AWS changes", "")
    if _ignored(path, ignore_changes):
        return PathImpact(path, IGNORED, "the engine keeps the live value", SRC_IGNORE)
    source = _replace_trigger(type_, path, new_inputs, old_inputs)
    if source is not None:
        if holds_data:
            return PathImpact(path, REPLACE_DATA_LOSS, "forces replacement: data is lost", source)
        return PathImpact(path, REPLACE, "forces replacement (delete and create)", source)
    rule = rule_for(type_, path)
    if rule is None:
        return PathImpact(path, IN_PLACE, DEFAULT_NOTE, SRC_PROVIDER_UPDATE)
    if rule.effect == "refresh":
        return PathImpact(path, ROLLING, rule.note, rule.source)
    if rule.timing == "apply" and not apply_now:
        then = {
            "outage": "failover" if multi_az else "reboot",
            "restart": "reboot",
            "online": "online scaling",
        }.get(rule.effect, "no downtime")
        return PathImpact(
            path,
            DEFERRED,
            f"applyImmediately is false: queued for the maintenance window ({then} then); "
            "until then every preview shows it again",
            rule.source,
        )
    if rule.effect == "outage":
        if multi_az:
            return PathImpact(
                path,
                FAILOVER,
                f"{rule.note}: Multi-AZ changes the standby, then fails over "
                f"(typically {RDS_FAILOVER_S[0]}-{RDS_FAILOVER_S[1]} s)",
                SRC_RDS_FAILOVER,
            )
        return PathImpact(
            path, REBOOT, f"{rule.note}: single-AZ, an outage of minutes", rule.source
        )
    if rule.effect == "online":
        return PathImpact(path, FAILOVER, rule.note, rule.source)
    if rule.effect in ("reboot", "restart"):
        return PathImpact(path, REBOOT, rule.note, rule.source)
    return PathImpact(path, IN_PLACE, rule.note, rule.source)


def _combine(type_: str, findings: list[PathImpact], multi_az: bool) -> Impact:
    worst = min(findings, key=lambda f: SEVERITY[f.impact])
    hits = [f for f in findings if f.impact == worst.impact]
    names = ", ".join(f.path for f in hits[:4]) + (f" (+{len(hits) - 4})" if len(hits) > 4 else "")
    reason = f"{names}: {worst.note}"
    interruption = None
    if worst.impact == FAILOVER and type_ == _RDS:
        interruption = RDS_FAILOVER_S
    restarts = _restarts(type_, findings)
    if restarts and worst.impact == REBOOT:
        reason += (
            f": {restarts} stop/start cycle(s), each down until the box has booted again "
            f"(the provider waits up to {EC2_STOP_START_TIMEOUT_S[0] // 60} min for the stop "
            f"and {EC2_STOP_START_TIMEOUT_S[1] // 60} min for the start, {SRC_EC2_WAITS})"
        )
    waits = (
        EC_UPDATE_TIMEOUT_S
        if type_ == _EC and any(f.impact == FAILOVER for f in findings)
        else None
    )
    return Impact(
        worst.impact,
        reason,
        worst.source,
        tuple(findings),
        None,
        interruption,
        restarts,
        waits,
        _warnings(type_, findings),
    )


def _restarts(type_: str, findings: Sequence[PathImpact]) -> int:
    """EC2: one stop/start per changed attribute that needs one (SRC_EC2_USER_DATA)."""
    if type_ != _EC2:
        return 0
    return sum(1 for f in findings if f.impact == REBOOT and f.path in STOP_START_INPUTS)


def _warnings(type_: str, findings: Sequence[PathImpact]) -> tuple[str, ...]:
    if type_ != _RDS:
        return ()
    applied = {f.path for f in findings if f.impact != IGNORED}
    out: list[str] = []
    renamed = sorted(applied & {"identifier", "identifierPrefix"})
    if renamed:
        out.append(
            f"{', '.join(renamed)}: the DB's endpoint changes with its name; clients still "
            "using the old endpoint fail until they pick up the new one"
        )
    storage = sorted(applied & set(_RDS_STORAGE))
    if "instanceClass" in applied and storage:
        # The provider sends every changed argument in one ModifyDBInstance call
        # (rds/instance.go resourceInstanceUpdate), so AWS takes or refuses them together.
        out.append(
            f"instanceClass and {', '.join(storage)} change in one modification: if this "
            "instance's storage was modified in the last six hours (or its storage "
            "optimisation still runs), AWS refuses the storage change and the class change "
            f"fails with it ({SRC_RDS_STORAGE})"
        )
    return tuple(out)


# ------------------------------------------------------------------ instance refresh


def refresh_estimate(asg_inputs: Mapping[str, Any], desired: int) -> Refresh:
    """Min/max healthy, warm-up and batches of the group's instance refresh.

    Defaults are AWS's when no instance maintenance policy is set: min 90%, max 100%;
    warm-up = the group's default instance warm-up, else its health check grace period
    (SRC_ASG_DEFAULTS). Per batch AWS may go ``max - 100`` % above desired and
    ``100 - min`` % below it; at least one instance moves per batch (an estimate: the
    rounding of small groups is AWS's).
    """
    refresh = asg_inputs.get("instanceRefresh") or {}
    prefs = refresh.get("preferences") or {}
    policy = asg_inputs.get("instanceMaintenancePolicy") or {}
    min_h = _int(prefs.get("minHealthyPercentage"), _int(policy.get("minHealthyPercentage"), 90))
    max_h = _int(prefs.get("maxHealthyPercentage"), _int(policy.get("maxHealthyPercentage"), 100))
    warmup = _int(
        prefs.get("instanceWarmup"),
        _int(
            asg_inputs.get("defaultInstanceWarmup"),
            _int(asg_inputs.get("healthCheckGracePeriod"), 300),
        ),
    )
    desired = max(desired, 1)
    per_batch = max(1, desired * (max_h - 100) // 100 + desired * (100 - min_h) // 100)
    return Refresh(desired, min_h, max_h, warmup, math.ceil(desired / per_batch))


def running_count(
    old_inputs: Mapping[str, Any] | None,
    new_inputs: Mapping[str, Any],
    ignore_changes: Sequence[str],
) -> int:
    """How many instances the group runs after the update.

    With ``desiredCapacity`` ignored, AWS keeps the live count and raises it only to a new
    minimum (SRC_ASG_CAPACITY); the live count is estimated by the old declared one.
    """
    new_desired = _int(new_inputs.get("desiredCapacity"), _int(new_inputs.get("minSize"), 1))
    if old_inputs is None or not _ignored("desiredCapacity", ignore_changes):
        return new_desired
    live = _int(old_inputs.get("desiredCapacity"), _int(old_inputs.get("minSize"), 1))
    return max(live, _int(new_inputs.get("minSize"), 0))


def refresh_impact(
    asg_inputs: Mapping[str, Any],
    desired: int,
    cause: str,
    *,
    source: str = SRC_ASG_REFRESH,
) -> Impact:
    """A rolling refresh of a group, caused by ``cause`` (e.g. its launch template)."""
    estimate = refresh_estimate(asg_inputs, desired)
    return Impact(
        ROLLING,
        f"{cause}: {estimate.describe()}",
        source,
        (PathImpact("launchTemplate", ROLLING, cause, source),),
        estimate,
    )


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds / 60:.1f} min"


# ------------------------------------------------------------------------- summary


@dataclass
class MoveSummary:
    """What one stack move does, counted by impact."""

    refreshes: list[Refresh] = field(default_factory=list)
    failovers: dict[str, int] = field(default_factory=dict)  # noun -> count
    reboots: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)  # noun -> stop/start cycles
    waits_s: int = 0  # the longest provider update timeout `pulumi up` may wait on
    deferred: int = 0
    replaced: int = 0
    deleted: int = 0
    data_loss: int = 0

    def line(self) -> str:
        parts: list[str] = []
        if self.refreshes:
            longest = max(r.duration_s for r in self.refreshes)
            full = all(r.full_capacity for r in self.refreshes)
            parts.append(
                f"refreshes {len(self.refreshes)} fleet(s) (~{_minutes(longest)}, "
                f"{'full capacity' if full else 'capacity drops'})"
            )
        for noun, count in sorted(self.failovers.items()):
            what = (
                f"~{RDS_FAILOVER_S[0] // 60}-{RDS_FAILOVER_S[1] // 60} min each"
                if noun.startswith("DB")
                else f"online; pulumi up waits until available, up to {self.waits_s // 60} min"
            )
            parts.append(f"fails over {count} {noun} ({what})")
        for noun, count in sorted(self.reboots.items()):
            cycles = self.restarts.get(noun, 0)
            if cycles:
                parts.append(
                    f"restarts {count} {noun} {cycles} time(s) (a stop and start each, down "
                    "until it has booted again)"
                )
            else:
                parts.append(f"reboots {count} {noun}")
        if self.deferred:
            parts.append(f"defers {self.deferred} change(s) to the window")
        if self.replaced:
            parts.append(f"replaces {self.replaced} resource(s)")
        if self.deleted:
            parts.append(f"deletes {self.deleted} resource(s)")
        parts.append(
            "loses no data" if not self.data_loss else f"LOSES DATA in {self.data_loss} resource(s)"
        )
        if len(parts) == 1:
            return "interrupts nothing, " + parts[0]
        return ", ".join(parts)


NOUNS = {
    _RDS: "DB instance(s)",
    _EC: "Redis group(s)",
    _EC2: "EC2 instance(s)",
}


def summarize(items: Iterable[tuple[str, Impact]]) -> MoveSummary:
    """Count ``(type, impact)`` pairs of one diff into a ``MoveSummary``."""
    out = MoveSummary()
    for type_, impact in items:
        noun = NOUNS.get(type_, "resource(s)")
        if impact.impact == ROLLING and impact.refresh is not None:
            out.refreshes.append(impact.refresh)
        elif impact.impact == FAILOVER:
            out.failovers[noun] = out.failovers.get(noun, 0) + 1
        elif impact.impact == REBOOT:
            out.reboots[noun] = out.reboots.get(noun, 0) + 1
            if impact.restarts:
                out.restarts[noun] = out.restarts.get(noun, 0) + impact.restarts
        elif impact.impact == REPLACE:
            out.replaced += 1
        elif impact.impact == DELETE:
            out.deleted += 1
        elif impact.impact in (REPLACE_DATA_LOSS, DELETE_DATA_LOSS):
            out.data_loss += 1
        if impact.waits_s is not None and impact.impact == FAILOVER:
            out.waits_s = max(out.waits_s, impact.waits_s)
        # Queued changes count wherever they are, also beside a more severe one.
        out.deferred += sum(1 for f in impact.findings if f.impact == DEFERRED)
    return out
