"""Final snapshot names that a second destroy cannot collide with.

RDS DeleteDBInstance and ElastiCache DeleteReplicationGroup refuse a final snapshot name
that exists already ("DBSnapshotAlreadyExists", "SnapshotAlreadyExistsFault"), so a fixed
``<id>-final`` makes the second destroy of a stack fail. The name takes a random suffix
created with the resource's stack, as terraform-aws-modules/terraform-aws-rds does
(``modules/db_instance/main.tf``: ``random_id.snapshot_identifier`` keyed by the
identifier): every new life of the stack gets a new name.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random

SUFFIX_BYTES = 4  # 8 hex characters


def final_snapshot_name(parent: pulumi.Resource, name: str, identifier: str) -> pulumi.Output[str]:
    """``<identifier>-final-<8 hex>``; the suffix changes only with the identifier."""
    suffix = random.RandomId(
        f"{name}-final-snapshot-suffix",
        byte_length=SUFFIX_BYTES,
        keepers={"identifier": identifier},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return suffix.hex.apply(lambda hex_: f"{identifier}-final-{hex_}")
