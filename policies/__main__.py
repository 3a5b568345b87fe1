"""Builds the policy pack. Run by the Pulumi CLI only: the constructor serves gRPC and blocks.

The enforcement level defaults to mandatory (a stack run without a config file gets the
strict pack); ``policy-config.dev.json`` lowers it to advisory for dev stacks.
"""

import sys
from pathlib import Path

# The CLI runs this file from inside policies/, so the repo root is not on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policies.accepted import pack_policies
from policies.rules import ALL_POLICIES, DEFAULT_ENFORCEMENT, PACK_NAME

PolicyPack(
    name=PACK_NAME,
    # Findings accepted in every environment (policies/accepted.yaml) are not reported.
    policies=pack_policies(ALL_POLICIES),
    enforcement_level=DEFAULT_ENFORCEMENT,
)
