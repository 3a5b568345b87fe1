"""One `pulumi.ComponentResource` per file, each with a typed `...Args` dataclass.

network, security, single_box, load_balancer, web_tier, release, database, cache, storage,
edge, observability; `instance` holds what the EC2 components share. `infra.program.composer`
wires them.
"""
