"""The ``adopt:`` section of an environment profile: take over the hand-made box.

The blueprint's premise is an API already running on one EC2 box made by hand. With
``adopt:`` set, stage single-box imports that box (Pulumi's ``import_`` resource option)
instead of launching a new one: the instance (and with it its root volume, which Pulumi
manages as the instance's ``rootBlockDevice``), its Elastic IP and its security group.

An import is clean only when the inputs the program declares match the live resource
(https://www.pulumi.com/docs/iac/concepts/resources/options/import/); since pulumi#16397 a
mismatch no longer fails the import but becomes an update right after it, and a mismatch
in an input that forces replacement becomes a replacement: the box, and the PostgreSQL
data on its root volume, would be destroyed by the very update that adopts it. So the
profile records what was read off the live box, and before any resource is declared
``check_adoption`` compares it with what the stage would declare; every mismatch is
reported in one line, and nothing is imported.

Inputs that decide where the box lives, and cannot change without replacing it, are taken
from the record instead of from the blueprint: the subnet, the security group's VPC,
name and description (``ec2_instance.go``: ``subnet_id`` ForceNew; ``security_group.go``:
``name``, ``description``, ``vpc_id`` ForceNew, hashicorp/terraform-provider-aws
``internal/service/ec2``). ``associate_public_ip_address`` (ForceNew) is left undeclared,
so the live setting stays; the Elastic IP is the box's public address either way. The
box's user data is ignored: it ran at the box's first boot, and changing it would stop
and start the box for nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.errors import ConfigError

_ID = r"^{}-[0-9a-f]{{8,17}}$"


def _id(prefix: str) -> Any:
    return Annotated[str, Field(pattern=_ID.format(prefix))]


class _StrictAdoptModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RootVolume(_StrictAdoptModel):
    volume_id: _id("vol")  # type: ignore[valid-type]
    size_gb: Annotated[int, Field(gt=0, le=16384)]
    type: Literal["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"]
    encrypted: bool
    delete_on_termination: bool


class ElasticIp(_StrictAdoptModel):
    allocation_id: _id("eipalloc")  # type: ignore[valid-type]


class SecurityGroup(_StrictAdoptModel):
    id: _id("sg")  # type: ignore[valid-type]
    name: Annotated[str, Field(min_length=1, max_length=255)]
    description: Annotated[str, Field(min_length=1, max_length=255)]


class Adopt(_StrictAdoptModel):
    """What was read off the live box (docs/infra.md, "Adopting the existing box")."""

    instance_id: _id("i")  # type: ignore[valid-type]
    instance_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")]
    subnet_id: _id("subnet")  # type: ignore[valid-type]
    vpc_id: _id("vpc")  # type: ignore[valid-type]
    root_volume: RootVolume
    elastic_ip: ElasticIp
    security_group: SecurityGroup


class AdoptError(ConfigError):
    """The adopt section is malformed, or does not match the stage; one line."""


def parse_adopt(raw: Any, where: str = "adopt") -> Adopt | None:
    """The profile's ``adopt:`` mapping (None when absent), or AdoptError naming the key."""
    if raw is None:
        return None
    try:
        return Adopt.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join([where, *(str(p) for p in err["loc"])])
        if err["type"] == "missing":
            raise AdoptError(f"{key}: required key is missing") from None
        if err["type"] == "extra_forbidden":
            model: Any = Adopt
            for part in err["loc"][:-1]:
                model = model.model_fields[str(part)].annotation
            allowed = ", ".join(model.model_fields)
            raise AdoptError(f"{key}: unknown key; allowed: {allowed}") from None
        value = err.get("input")
        raise AdoptError(f"{key}: invalid value {value!r:.80}; {err['msg']}") from None


def check_adoption(
    adopt: Adopt,
    *,
    stage: str,
    instance_type: str | None,
    root_volume_gb: int | None,
    holds_data: bool,
) -> None:
    """Every input the stage declares on the adopted resources must equal the live value."""
    if stage != "single-box" or instance_type is None or root_volume_gb is None:
        # The adopted box stays in the VPC it was made in; from split-db on the tiers the
        # blueprint adds live in its own VPC and could not reach it.
        raise AdoptError(
            f"adopt: set at stage {stage}; allowed: only at single-box (the move on removes "
            "adopt: once the data is out of the box: docs/infra.md, 'From an adopted box to "
            "split-db')"
        )
    wanted = {
        "instance_type": (adopt.instance_type, instance_type),
        "root_volume.size_gb": (adopt.root_volume.size_gb, root_volume_gb),
        "root_volume.type": (adopt.root_volume.type, "gp3"),
        "root_volume.encrypted": (adopt.root_volume.encrypted, True),
        "root_volume.delete_on_termination": (
            adopt.root_volume.delete_on_termination,
            not holds_data,
        ),
    }
    mismatched = [
        f"{key}: live {live!r}, the stage declares {declared!r}"
        for key, (live, declared) in wanted.items()
        if live != declared
    ]
    if mismatched:
        raise AdoptError(
            f"adopt: {len(mismatched)} input(s) would not match the live box, so nothing is "
            f"imported: {'; '.join(mismatched)} (align the box or the stage spec first: "
            "docs/infra.md, 'Adopting the existing box')"
        )
