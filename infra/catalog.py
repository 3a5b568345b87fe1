"""The one home of resource-type facts: class sizes (vCPUs, memory), the stateful types,
the inputs that replace them, and which resources prod must protect.

A resource is *stateful* when replacing it loses data (a database, a cache that is
someone's session store, a bucket, the single box that still runs PostgreSQL, a secret
whose value other things depend on). For each type this module names the inputs whose
change makes the provider destroy and recreate the resource: the Terraform AWS provider
marks them ``ForceNew: true`` in the resource schema, and pulumi-aws (a bridged provider)
inherits that as a replacement. Input paths are camelCase, as in the plan file; a dotted
path (``rootBlockDevice.encrypted``) names a nested input.

Sources (read 2026-11-22, hashicorp/terraform-provider-aws, ``internal/service/...``):

- ``rds/instance.go``: engine, kms_key_id, storage_encrypted, username, db_name,
  availability_zone, character_set_name, nchar_character_set_name, snapshot_identifier,
  restore_to_point_in_time, timezone, custom_iam_instance_profile are ForceNew.
  identifier and identifier_prefix are *not* any more (provider PR #32687: the update sends
  ModifyDBInstance NewDBInstanceIdentifier; read at commit
  00e4b23838859616dd0ebc9d1fd9364c0f6bff22 they were ForceNew; in a later stored version
  of the file, whose commit the index did not give, they are not, and
  resourceInstanceUpdate sets NewDBInstanceIdentifier; issue #32590 reports the in-place
  apply), nor are db_subnet_group_name (ModifyDBInstance moves an instance between
  subnet groups) and instance_class.
- ``rds/subnet_group.go``: name, name_prefix.
- ``rds/parameter_group.go``: name, name_prefix, family, description.
- ``elasticache/replication_group.go``: replication_group_id, at_rest_encryption_enabled,
  kms_key_id, subnet_group_name, port, network_type, data_tiering_enabled,
  snapshot_arns, snapshot_name, global_replication_group_id, security_group_names.
  engine and engine_version replace only on a downgrade (CustomizeDiff, read at commit
  001b6364c1a3b3045e152f655440a6d47eb44a70; the functions are in engine_version.go):
  ``customizeDiffEngineForceNewOnDowngrade`` forces a new group for every engine change
  except redis -> valkey, ``customizeDiffEngineVersionForceNewOnDowngrade`` for a lower
  engine_version: ``VALUE_TRIGGERS`` below, which need the old value.
- ``elasticache/subnet_group.go``: name.
- ``s3/bucket.go``: bucket, bucket_prefix (and object_lock_enabled in current versions).
- ``ec2/ec2_instance.go``: ami, availability_zone, subnet_id, private_ip, key_name,
  placement_group, tenancy, host_id, associate_public_ip_address, ebs_block_device,
  ephemeral_block_device, network_interface, root_block_device encrypted / kms_key_id,
  and user_data when user_data_replace_on_change is true (pulumi-aws docstring).
- ``secretsmanager/secret.go``: name, name_prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from infra import ASSUMPTIONS_DIR
from infra.tokens import ResourceType
from infra.yamlfile import YamlError, load_yaml, shown

TF = "https://github.com/hashicorp/terraform-provider-aws/blob/main/internal/service/"
CLASSES_FILE = ASSUMPTIONS_DIR / "instance_classes.yaml"
CLASS_FAMILIES = ("ec2", "rds", "elasticache")


# --- class sizes ----------------------------------------------------------------------


class CatalogError(ValueError):
    """A class the catalogue does not list, or a malformed entry; the message is one line."""


@dataclass(frozen=True)
class ClassSize:
    """One EC2 instance type, RDS class or ElastiCache node type."""

    vcpus: float
    memory_gib: float
    baseline: float = 1.0  # sustained share of each vCPU (below 1 for burstable T classes)

    @property
    def sustained_vcpus(self) -> float:
        return self.vcpus * self.baseline


def _size(family: str, name: str, entry: Any) -> ClassSize:
    where = f"{CLASSES_FILE.name}: {family}.{name}"
    if not isinstance(entry, Mapping):
        raise CatalogError(f"{where}: expected a mapping of vcpus, memory_gib")
    values: dict[str, float] = {}
    for key, low, high in (
        ("vcpus", 1.0, None),
        ("memory_gib", 0.1, None),
        ("burstable_baseline", 0.01, 1.0),
    ):
        if key not in entry:
            if key == "burstable_baseline":
                continue
            raise CatalogError(f"{where}.{key}: required key is missing")
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CatalogError(f"{where}.{key}: expected a number, got {shown(value)}")
        if value < low or (high is not None and value > high):
            allowed = f"{low}..{high}" if high is not None else f">= {low}"
            raise CatalogError(f"{where}.{key}: invalid value {shown(value)}; allowed: {allowed}")
        values[key] = value
    return ClassSize(values["vcpus"], values["memory_gib"], values.get("burstable_baseline", 1.0))


@cache
def class_sizes(path: Path = CLASSES_FILE) -> dict[str, ClassSize]:
    """Every class in assumptions/instance_classes.yaml, by name (db.r7g.large, ...)."""
    try:
        doc = load_yaml(path)
    except YamlError as exc:
        raise CatalogError(str(exc)) from None
    if not isinstance(doc, Mapping):
        raise CatalogError(f"{path.name}: expected a mapping at the top level")
    return {
        name: _size(family, name, entry)
        for family in CLASS_FAMILIES
        for name, entry in (doc.get(family) or {}).items()
    }


# RDS for PostgreSQL's default parameter group: max_connections =
# LEAST({DBInstanceClassMemory/9531392}, 5000) (RDS User Guide, "Quotas and constraints for
# Amazon RDS", maximum number of database connections). DBInstanceClassMemory is a little
# below the nominal memory (RDS keeps some for the OS); the class memory stands in for it.
PG_BYTES_PER_CONNECTION = 9_531_392
PG_MAX_CONNECTIONS = 5_000


def pg_default_max_connections(memory_gib: float) -> int:
    return min(int(memory_gib * 1024**3) // PG_BYTES_PER_CONNECTION, PG_MAX_CONNECTIONS)


def class_size(name: str) -> ClassSize:
    sizes = class_sizes()
    if name not in sizes:
        raise CatalogError(
            f"{name}: no entry in {CLASSES_FILE.name}; allowed: {', '.join(sorted(sizes))}"
        )
    return sizes[name]


@dataclass(frozen=True)
class StatefulType:
    """A stateful resource type: what it holds and which inputs replace it."""

    type: str
    holds: str
    triggers: tuple[str, ...]
    source: str
    name_input: str = ""  # the input naming the cloud resource; default: triggers[0]

    @property
    def name_key(self) -> str:
        return self.name_input or self.triggers[0]


_RDS_INSTANCE = StatefulType(
    type=ResourceType.RDS_INSTANCE,
    holds="PostgreSQL data",
    # identifier / identifierPrefix: renamed in place (ModifyDBInstance
    # NewDBInstanceIdentifier), see the module docstring; still the instance's name.
    triggers=(
        "engine",
        "kmsKeyId",
        "storageEncrypted",
        "username",
        "dbName",
        "availabilityZone",
        "characterSetName",
        "ncharCharacterSetName",
        "snapshotIdentifier",
        "restoreToPointInTime",
        "timezone",
        "customIamInstanceProfile",
    ),
    source=TF + "rds/instance.go",
    name_input="identifier",
)

_BUCKET_TRIGGERS = ("bucket", "bucketPrefix", "objectLockEnabled")

STATEFUL: dict[str, StatefulType] = {
    t.type: t
    for t in (
        _RDS_INSTANCE,
        StatefulType(
            ResourceType.RDS_SUBNET_GROUP,
            "the placement of the DB (an instance cannot outlive its group)",
            ("name", "namePrefix"),
            TF + "rds/subnet_group.go",
        ),
        StatefulType(
            ResourceType.RDS_PARAMETER_GROUP,
            "the DB's engine settings (replacing it detaches the DB)",
            ("name", "namePrefix", "family", "description"),
            TF + "rds/parameter_group.go",
        ),
        StatefulType(
            ResourceType.ELASTICACHE_REPLICATION_GROUP,
            "the Redis data set (warm cache, sessions)",
            (
                "replicationGroupId",
                "atRestEncryptionEnabled",
                "kmsKeyId",
                "subnetGroupName",
                "port",
                "networkType",
                "dataTieringEnabled",
                "snapshotArns",
                "snapshotName",
                "globalReplicationGroupId",
                "securityGroupNames",
            ),
            TF + "elasticache/replication_group.go",
        ),
        StatefulType(
            ResourceType.ELASTICACHE_SUBNET_GROUP,
            "the placement of the cache",
            ("name",),
            TF + "elasticache/subnet_group.go",
        ),
        # What a bucket holds depends on which one it is: holds() below.
        StatefulType(
            ResourceType.S3_BUCKET, "bucket objects", _BUCKET_TRIGGERS, TF + "s3/bucket.go"
        ),
        # pulumi-aws 7 keeps BucketV2 as a deprecated alias of the same TF resource.
        StatefulType(
            ResourceType.S3_BUCKET_V2,
            "bucket objects",
            _BUCKET_TRIGGERS,
            TF + "s3/bucket.go",
        ),
        StatefulType(
            ResourceType.EC2_INSTANCE,
            "the single box's PostgreSQL data on its root volume (stage single-box)",
            (
                "ami",
                "availabilityZone",
                "subnetId",
                "privateIp",
                "keyName",
                "placementGroup",
                "tenancy",
                "hostId",
                "associatePublicIpAddress",
                "ebsBlockDevices",
                "ephemeralBlockDevices",
                "networkInterfaces",
                "rootBlockDevice.encrypted",
                "rootBlockDevice.kmsKeyId",
            ),
            TF + "ec2/ec2_instance.go",
        ),
        StatefulType(
            ResourceType.SECRETSMANAGER_SECRET,
            "a secret other resources read by name or ARN",
            ("name", "namePrefix"),
            TF + "secretsmanager/secret.go",
        ),
    )
}

# Replace only when a flag input is set on the new resource: (type, input, flag).
CONDITIONAL_TRIGGERS: tuple[tuple[str, str, str], ...] = (
    (ResourceType.EC2_INSTANCE, "userData", "userDataReplaceOnChange"),
    (ResourceType.EC2_INSTANCE, "userDataBase64", "userDataReplaceOnChange"),
)


# Sizes AWS can grow in place but never shrink: a smaller value makes the update fail
# (EBS: "You can't decrease the size of an EBS volume", ModifyVolume; RDS: "you can't
# reduce the amount of storage for a DB instance after storage has been allocated").
NO_SHRINK: dict[str, tuple[str, ...]] = {
    ResourceType.EC2_INSTANCE: ("rootBlockDevice.volumeSize",),
    ResourceType.RDS_INSTANCE: ("allocatedStorage",),
}


# What a bucket holds, by the component that declares it (the parent type in its URN):
# the resource type alone cannot tell the media bucket from the release artifacts one.
BUCKET_CONTENTS: dict[str, str] = {
    ResourceType.MOVIES_MEDIA_STORAGE: "media objects (posters)",
    ResourceType.MOVIES_RELEASE: (
        "release artifacts (the service builds every launching instance fetches; "
        "their versions are the rollback path)"
    ),
}


def holds(resource: Mapping[str, Any]) -> str:
    """What deleting or replacing this stateful resource loses, in words.

    ``resource`` is a plan entry (``type`` and ``urn``); a bucket is told apart by the
    component that declares it, any other type by its type alone.
    """
    type_ = str(resource["type"])
    described = STATEFUL[type_].holds
    if type_ in BUCKETS:
        # urn:pulumi:<stack>::<project>::<parent types $-joined>$<type>::<name>
        chain = str(resource.get("urn") or "").split("::")
        parents = chain[2].split("$")[:-1] if len(chain) >= 4 else []
        if parents:
            return BUCKET_CONTENTS.get(parents[-1], described)
    return described


def is_stateful(type_: str) -> bool:
    return type_ in STATEFUL


def _version(value: Any) -> tuple[int, ...] | None:
    """``7.1`` -> (7, 1); None for a version it cannot order (``7.x``, empty)."""
    parts = str(value or "").split(".")
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _engine_replaces(old: Any, new: Any) -> bool:
    # customizeDiffEngineForceNewOnDowngrade: every change but redis -> valkey. Without
    # the old value (new inputs only) a changed engine may be a downgrade: flagged.
    return old is None or (old, new) != ("redis", "valkey")


def _version_downgrade(old: Any, new: Any) -> bool:
    # engineVersionIsDowngrade compares the parsed versions (``6.x``/``7.x`` against
    # engine_version_actual, which a plan does not have: not flagged).
    before, after = _version(old), _version(new)
    return before is not None and after is not None and after < before


# Replace only for some old -> new values: (type, input, replaces(old, new)).
VALUE_TRIGGERS: tuple[tuple[str, str, Callable[[Any, Any], bool]], ...] = (
    (ResourceType.ELASTICACHE_REPLICATION_GROUP, "engine", _engine_replaces),
    (ResourceType.ELASTICACHE_REPLICATION_GROUP, "engineVersion", _version_downgrade),
)


def triggers_for(
    type_: str, new_inputs: Mapping[str, Any], old_inputs: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """The replace-triggering input paths of ``type_``, given the new (and old) inputs.

    A value trigger counts when its input changes in a way that replaces; with no
    ``old_inputs`` the old value is unknown (``_engine_replaces`` then flags it)."""
    spec = STATEFUL.get(type_)
    if spec is None:
        return ()
    extra = tuple(
        path for t, path, flag in CONDITIONAL_TRIGGERS if t == type_ and bool(new_inputs.get(flag))
    )
    by_value = tuple(
        path
        for t, path, replaces in VALUE_TRIGGERS
        if t == type_
        and (old_inputs is None or old_inputs.get(path) != new_inputs.get(path))
        and replaces(None if old_inputs is None else old_inputs.get(path), new_inputs.get(path))
    )
    return spec.triggers + extra + by_value


def path_matches(path: str, trigger: str) -> bool:
    """True when a changed property path falls under a trigger path.

    Paths use ``.`` for keys and ``[i]`` for list items: ``rootBlockDevice.encrypted``
    and ``ebsBlockDevices[0].volumeSize`` both fall under their trigger.
    """
    if path == trigger:
        return True
    return path.startswith(trigger + ".") or path.startswith(trigger + "[")


# --- what prod must protect ----------------------------------------------------------
# A destroy of these loses data the service acknowledged, so in prod they carry
# protect=True (policies/rules.py, prod-protect-stateful). Narrower than STATEFUL above,
# which also lists what a *replacement* disturbs (subnet and parameter groups, secrets).
RDS_INSTANCE = ResourceType.RDS_INSTANCE
RDS_CLUSTER = ResourceType.RDS_CLUSTER
CACHE_GROUP = ResourceType.ELASTICACHE_REPLICATION_GROUP
CACHE_CLUSTER = ResourceType.ELASTICACHE_CLUSTER
BUCKETS = (ResourceType.S3_BUCKET, ResourceType.S3_BUCKET_V2)


def _truthy(value: Any) -> bool:
    # The provider's string booleans ("true") count as True, as in a real preview.
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def must_protect(resource_type: str, props: Mapping[str, Any]) -> bool:
    """Whether a resource of `resource_type` with these properties holds data to protect."""
    if resource_type == RDS_INSTANCE:
        return not props.get("replicateSourceDb")  # a replica is rebuilt from its source
    if resource_type == CACHE_CLUSTER:
        return not props.get("replicationGroupId")
    if resource_type in BUCKETS:
        # forceDestroy declares the contents disposable (the release artifact bucket is
        # refilled on every up); a bucket whose objects matter (media) keeps it False.
        return not _truthy(props.get("forceDestroy"))
    return resource_type in (RDS_CLUSTER, CACHE_GROUP)


def delete_needs_consent(resource: Mapping[str, Any]) -> bool:
    """Whether removing this stateful plan resource must be asked for, like a replacement.

    A resource the stack declared undeletable (``protect`` or RDS ``deletionProtection``,
    as every prod database instance, read replicas included, is) cannot be deleted by an
    ``up`` as planned: the engine refuses a protected delete and RDS refuses DeleteDBInstance
    while deletion protection is on. A move that drops one says so and needs
    ``--allow-replace``/``--allow-replace-urn``, then the protection lifted first.
    """
    if not is_stateful(str(resource.get("type"))):
        return False
    options = resource.get("options") or {}
    inputs = resource.get("inputs") or {}
    return _truthy(options.get("protect")) or _truthy(inputs.get("deletionProtection"))
