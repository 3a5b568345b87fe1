"""One `pulumi.ComponentResource` per file, each with a typed `...Args` dataclass.

network, security, single_box, load_balancer, web_tier, release, database, cache, storage,
edge, observability; `instance` holds what the EC2 components share. `infra.program.composer`
wires them. A component with alarms declares them in its own file (`declare_alarms`), into the
stage's alarm sink passed as its args' `alarms` (observability.py says why the sink stays their
parent).
"""
