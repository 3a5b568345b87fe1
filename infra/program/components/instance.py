"""What every EC2 instance of the program shares: the architecture of a type (which pinned
AMI it runs), IMDSv2-only metadata options, the root device name and the boot time."""

from __future__ import annotations

import re

ROOT_DEVICE = "/dev/xvda"  # Amazon Linux 2023
# Stated first-boot time, from launch to the service answering /healthz: EC2 pending to
# running and cloud-init start (~60 s), dnf installs python3.11 and the CloudWatch agent
# (~60 s), the release from S3 into a venv with pip --no-index (~60 s), secrets check,
# migrations and the unit (~30 s), plus margin. An estimate, not a measurement: the
# wheels are aarch64 and no EC2 instance was started here. Raise it when
# /var/log/movies-api-bootstrap.log ("bootstrap start" .. "bootstrap done") says more.
BOOT_SECONDS = 240
# Then the ALB needs healthy_threshold (2) passing checks at interval (15 s) of the target
# group's health check (load_balancer.py) before it sends traffic.
HEALTHY_AFTER_SECONDS = 2 * 15
# The health check grace period and the instance refresh warm-up: an instance is not
# judged (nor counted as ready) before it could have booted. AWS: instance warm-up is the
# time from InService to ready; its default is the grace period ("Set the health check
# grace period", "Understand the default values for an instance refresh", EC2 Auto
# Scaling user guide).
READY_SECONDS = BOOT_SECONDS + HEALTHY_AFTER_SECONDS
_GRAVITON = re.compile(r"^[a-z]+\d+[a-z]*g[a-z]*\.")


def architecture(instance_type: str) -> str:
    """`arm64` for Graviton families (t4g, c7g, m7gd, ...), else `x86_64`."""
    return "arm64" if _GRAVITON.match(instance_type) else "x86_64"


def metadata_options() -> dict[str, object]:
    # IMDSv2 only; hop limit 1 so nothing forwarded off the instance can reach IMDS.
    return {
        "http_endpoint": "enabled",
        "http_tokens": "required",
        "http_put_response_hop_limit": 1,
        "instance_metadata_tags": "disabled",
    }
