"""One `pulumi.ComponentResource` per concern, each with a typed `...Args` dataclass.

network, security, compute (single box, load balancer, web tier), release (mine);
database, cache, storage, edge, observability (data tier). `infra.composer` wires them.
"""
