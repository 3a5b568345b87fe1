"""The one list of stateful resource types and the inputs that replace them.

A resource is *stateful* when replacing it loses data (a database, a cache that is
someone's session store, a bucket, the single box that still runs PostgreSQL, a secret
whose value other things depend on). For each type this module names the inputs whose
change makes the provider destroy and recreate the resource: the Terraform AWS provider
marks them ``ForceNew: true`` in the resource schema, and pulumi-aws (a bridged provider)
inherits that as a replacement. Input paths are camelCase, as in the plan file; a dotted
path (``rootBlockDevice.encrypted``) names a nested input.

Sources (read 2026-11-22, hashicorp/terraform-provider-aws, ``internal/service/...``):

- ``rds/instance.go``: identifier, identifier_prefix, engine, kms_key_id,
  storage_encrypted, username, db_name, availability_zone, character_set_name,
  nchar_character_set_name, snapshot_identifier, restore_to_point_in_time, timezone,
  custom_iam_instance_profile are ForceNew. db_subnet_group_name is *not* ForceNew
  (ModifyDBInstance moves an instance between subnet groups), nor is instance_class.
- ``rds/subnet_group.go``: name, name_prefix.
- ``rds/parameter_group.go``: name, name_prefix, family, description.
- ``elasticache/replication_group.go``: replication_group_id, at_rest_encryption_enabled,
  kms_key_id, subnet_group_name, port, network_type, data_tiering_enabled,
  snapshot_arns, snapshot_name, global_replication_group_id, security_group_names;
  engine / engine_version force a replacement only on a downgrade (CustomizeDiff), so a
  changed engine is flagged here too: the diff cannot tell an upgrade from a downgrade
  for every engine.
- ``elasticache/subnet_group.go``: name.
- ``s3/bucket.go``: bucket, bucket_prefix (and object_lock_enabled in current versions).
- ``ec2/ec2_instance.go``: ami, availability_zone, subnet_id, private_ip, key_name,
  placement_group, tenancy, host_id, associate_public_ip_address, ebs_block_device,
  ephemeral_block_device, network_interface, root_block_device encrypted / kms_key_id,
  and user_data when user_data_replace_on_change is true (pulumi-aws docstring).
- ``secretsmanager/secret.go``: name, name_prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

TF = "https://github.com/hashicorp/terraform-provider-aws/blob/main/internal/service/"


@dataclass(frozen=True)
class StatefulType:
    """A stateful resource type: what it holds and which inputs replace it."""

    type: str
    holds: str
    triggers: tuple[str, ...]
    source: str


_RDS_INSTANCE = StatefulType(
    type="aws:rds/instance:Instance",
    holds="PostgreSQL data",
    triggers=(
        "identifier",
        "identifierPrefix",
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
)

_BUCKET_TRIGGERS = ("bucket", "bucketPrefix", "objectLockEnabled")

STATEFUL: dict[str, StatefulType] = {
    t.type: t
    for t in (
        _RDS_INSTANCE,
        StatefulType(
            "aws:rds/subnetGroup:SubnetGroup",
            "the placement of the DB (an instance cannot outlive its group)",
            ("name", "namePrefix"),
            TF + "rds/subnet_group.go",
        ),
        StatefulType(
            "aws:rds/parameterGroup:ParameterGroup",
            "the DB's engine settings (replacing it detaches the DB)",
            ("name", "namePrefix", "family", "description"),
            TF + "rds/parameter_group.go",
        ),
        StatefulType(
            "aws:elasticache/replicationGroup:ReplicationGroup",
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
                "engine",
            ),
            TF + "elasticache/replication_group.go",
        ),
        StatefulType(
            "aws:elasticache/subnetGroup:SubnetGroup",
            "the placement of the cache",
            ("name",),
            TF + "elasticache/subnet_group.go",
        ),
        StatefulType(
            "aws:s3/bucket:Bucket", "media objects (posters)", _BUCKET_TRIGGERS, TF + "s3/bucket.go"
        ),
        # pulumi-aws 7 keeps BucketV2 as a deprecated alias of the same TF resource.
        StatefulType(
            "aws:s3/bucketV2:BucketV2",
            "media objects (posters)",
            _BUCKET_TRIGGERS,
            TF + "s3/bucket.go",
        ),
        StatefulType(
            "aws:ec2/instance:Instance",
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
            "aws:secretsmanager/secret:Secret",
            "a secret other resources read by name or ARN",
            ("name", "namePrefix"),
            TF + "secretsmanager/secret.go",
        ),
    )
}

# Replace only when a flag input is set on the new resource: (type, input, flag).
CONDITIONAL_TRIGGERS: tuple[tuple[str, str, str], ...] = (
    ("aws:ec2/instance:Instance", "userData", "userDataReplaceOnChange"),
    ("aws:ec2/instance:Instance", "userDataBase64", "userDataReplaceOnChange"),
)


# Sizes AWS can grow in place but never shrink: a smaller value makes the update fail
# (EBS: "You can't decrease the size of an EBS volume", ModifyVolume; RDS: "you can't
# reduce the amount of storage for a DB instance after storage has been allocated").
NO_SHRINK: dict[str, tuple[str, ...]] = {
    "aws:ec2/instance:Instance": ("rootBlockDevice.volumeSize",),
    "aws:rds/instance:Instance": ("allocatedStorage",),
}


def is_stateful(type_: str) -> bool:
    return type_ in STATEFUL


def triggers_for(type_: str, new_inputs: dict) -> tuple[str, ...]:
    """The replace-triggering input paths of ``type_``, given the new inputs."""
    spec = STATEFUL.get(type_)
    if spec is None:
        return ()
    extra = tuple(
        path for t, path, flag in CONDITIONAL_TRIGGERS if t == type_ and bool(new_inputs.get(flag))
    )
    return spec.triggers + extra


def path_matches(path: str, trigger: str) -> bool:
    """True when a changed property path falls under a trigger path.

    Paths use ``.`` for keys and ``[i]`` for list items: ``rootBlockDevice.encrypted``
    and ``ebsBlockDevices[0].volumeSize`` both fall under their trigger.
    """
    if path == trigger:
        return True
    return path.startswith(trigger + ".") or path.startswith(trigger + "[")
