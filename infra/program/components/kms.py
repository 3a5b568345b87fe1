"""What every customer-managed key of the stack grants its account: the one list of key
administration actions (the alarm topics' keys and the artifacts bucket's key share it).

Without `kms:*` on purpose: parliament flags `kms:*` on a key policy (RESOURCE_MISMATCH),
and the account needs to administer the key, not to use it; use is granted by IAM
policies, which the key policy's account statement allows (AWS KMS developer guide,
"Default key policy")."""

from __future__ import annotations

KEY_ADMIN_ACTIONS = [
    f"kms:{action}"
    for action in (
        "CancelKeyDeletion",
        "DescribeKey",
        "DisableKey",
        "DisableKeyRotation",
        "EnableKey",
        "EnableKeyRotation",
        "GetKeyPolicy",
        "GetKeyRotationStatus",
        "ListGrants",
        "ListKeyPolicies",
        "ListResourceTags",
        "PutKeyPolicy",
        "RevokeGrant",
        "ScheduleKeyDeletion",
        "TagResource",
        "UntagResource",
        "UpdateKeyDescription",
    )
]
