"""The instance-refresh range every web tier uses, with no Pulumi import: the program
(components/web_tier.py) sets it on each ASG and the sizer (infra/capacity/size.py) keeps
`max_size` high enough for it.

Launch before terminate: a rollout never goes below the running count, and may go up to
twice it (StartInstanceRefresh; without these AWS's defaults are min 90% / max 100%, which
terminates first: "Understand the default values for an instance refresh", EC2 Auto
Scaling user guide). AWS counts the percentages against the desired capacity and never
launches past `max_size`, so a refresh can launch its whole batch first only when
`max_size >= ceil(desired x MAX_HEALTHY_PERCENTAGE / 100)` (`refresh_room`).
"""

from __future__ import annotations

import math

MIN_HEALTHY_PERCENTAGE = 100
MAX_HEALTHY_PERCENTAGE = 200


def refresh_room(desired: int) -> int:
    """The `max_size` a refresh of `desired` instances needs to launch before it terminates."""
    return math.ceil(desired * MAX_HEALTHY_PERCENTAGE / 100)
