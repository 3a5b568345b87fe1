"""What every EC2 instance of the program shares: AMI lookup by architecture, IMDSv2-only
metadata options and the root device name."""

from __future__ import annotations

import re

ROOT_DEVICE = "/dev/xvda"  # Amazon Linux 2023
_GRAVITON = re.compile(r"^[a-z]+\d+[a-z]*g[a-z]*\.")


def architecture(instance_type: str) -> str:
    """`arm64` for Graviton families (t4g, c7g, m7gd, ...), else `x86_64`."""
    return "arm64" if _GRAVITON.match(instance_type) else "x86_64"


def ami_parameter(instance_type: str) -> str:
    """The public SSM parameter holding the latest Amazon Linux 2023 AMI for the type."""
    arch = architecture(instance_type)
    return f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"


def metadata_options() -> dict[str, object]:
    # IMDSv2 only; hop limit 1 so nothing forwarded off the instance can reach IMDS.
    return {
        "http_endpoint": "enabled",
        "http_tokens": "required",
        "http_put_response_hop_limit": 1,
        "instance_metadata_tags": "disabled",
    }
