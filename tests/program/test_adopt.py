"""Adopting the hand-made box: the `adopt:` profile section, under mocks."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from infra.adopt import AdoptError
from infra.config import STACKS_DIR, ConfigError, load_stack_config
from infra.plans.mocks import run_program
from infra.program.composer import declare_stage

LIVE = {
    "instance_id": "i-0a1b2c3d4e5f60718",
    "instance_type": "t4g.medium",  # dev single-box's class: stacks/single-box.yaml
    "subnet_id": "subnet-0f1e2d3c4b5a69788",
    "vpc_id": "vpc-0c1d2e3f4a5b6c7d8",
    "root_volume": {
        "volume_id": "vol-0123456789abcdef0",
        "size_gb": 30,
        "type": "gp3",
        "encrypted": True,
        "delete_on_termination": False,  # PostgreSQL lives on it
    },
    "elastic_ip": {"allocation_id": "eipalloc-0a1b2c3d4e5f60718"},
    "security_group": {
        "id": "sg-0a1b2c3d4e5f60718",
        "name": "movies-box",
        "description": "movies API box (made by hand)",
    },
}


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    root = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR, root)
    return root


def _adopt(root: Path, adopt: dict, env: str = "dev") -> None:
    path = root / "env" / f"{env}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["adopt"] = adopt
    path.write_text(yaml.safe_dump(doc))


def _plan(root: Path, env: str, stage: str) -> dict:
    config = load_stack_config(env, stage, root)
    run = run_program(
        lambda: declare_stage(config), project="movies", stack=env, region=config.env.region
    )
    return {r.name: r for r in run.resources}


def test_the_plan_imports_the_box_its_address_and_its_group(stacks: Path) -> None:
    _adopt(stacks, LIVE)
    plan = _plan(stacks, "dev", "single-box")
    box, eip, group = plan["box-instance"], plan["box-eip"], plan["security-app"]
    assert box.options["import"] == LIVE["instance_id"] and box.id == LIVE["instance_id"]
    assert eip.options["import"] == LIVE["elastic_ip"]["allocation_id"]
    assert group.options["import"] == LIVE["security_group"]["id"]
    # where the box lives is the live record, not the blueprint's new VPC
    assert box.inputs["subnetId"] == LIVE["subnet_id"]
    assert "associatePublicIpAddress" not in box.inputs  # ForceNew: the live setting stays
    assert group.inputs["vpcId"] == LIVE["vpc_id"]
    assert group.inputs["name"] == "movies-box"
    assert group.inputs["description"] == "movies API box (made by hand)"
    # the inputs the stage declares equal the live record, so the import is clean
    root = box.inputs["rootBlockDevice"]
    assert (root["volumeSize"], root["volumeType"], root["encrypted"]) == (30, "gp3", True)
    assert root["deleteOnTermination"] is False
    assert box.inputs["instanceType"] == LIVE["instance_type"]
    assert sorted(box.options["ignoreChanges"]) == ["ami", "userData"]
    # the EIP still points at the (adopted) instance
    assert eip.inputs["instance"] == LIVE["instance_id"]
    # nothing else is imported
    assert sorted(n for n, r in plan.items() if "import" in r.options) == [
        "box-eip",
        "box-instance",
        "security-app",
    ]


def test_without_adopt_nothing_is_imported(stacks: Path) -> None:
    plan = _plan(stacks, "dev", "single-box")
    assert not [n for n, r in plan.items() if "import" in r.options]
    assert plan["box-instance"].inputs["associatePublicIpAddress"] is False


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("instance_type", "t3.large"),
            "instance_type: live 't3.large', the stage declares 't4g.medium'",
        ),
        (("root_volume.size_gb", 8), "root_volume.size_gb: live 8, the stage declares 30"),
        (
            ("root_volume.encrypted", False),
            "root_volume.encrypted: live False, the stage declares True",
        ),
        (("root_volume.type", "gp2"), "root_volume.type: live 'gp2', the stage declares 'gp3'"),
        (
            ("root_volume.delete_on_termination", True),
            "delete_on_termination: live True, the stage declares False",
        ),
    ],
)
def test_a_mismatched_input_is_reported_before_any_resource(
    stacks: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, object], expected: str
) -> None:
    adopt = copy.deepcopy(LIVE)
    key, value = change
    target = adopt
    *parents, leaf = key.split(".")
    for part in parents:
        target = target[part]
    target[leaf] = value
    _adopt(stacks, adopt)
    declared: list[str] = []
    import pulumi

    original = pulumi.CustomResource.__init__

    def recording(self, t, name, *args, **kwargs):  # nothing may be declared at all
        declared.append(name)
        return original(self, t, name, *args, **kwargs)

    monkeypatch.setattr(pulumi.CustomResource, "__init__", recording)
    with pytest.raises(AdoptError) as err:
        _plan(stacks, "dev", "single-box")
    message = str(err.value)
    assert "\n" not in message and expected in message
    assert "nothing is imported" in message
    assert declared == []


@pytest.mark.parametrize("stage", ["split-db", "load-balanced", "scale-5x"])
def test_adopt_is_refused_after_single_box(stacks: Path, stage: str) -> None:
    _adopt(stacks, LIVE)
    with pytest.raises(
        ConfigError, match=f"adopt: set at stage {stage}; allowed: only at single-box"
    ):
        load_stack_config("dev", stage, stacks)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda a: a.update(instance_id="i-xyz"), "adopt.instance_id: invalid value 'i-xyz'"),
        (lambda a: a.pop("elastic_ip"), "adopt.elastic_ip: required key is missing"),
        (
            lambda a: a["root_volume"].update(iops=3000),
            "adopt.root_volume.iops: unknown key; allowed: volume_id, size_gb",
        ),
        (
            lambda a: a["root_volume"].update(size_gb="30"),
            "adopt.root_volume.size_gb: invalid value '30'",
        ),
    ],
)
def test_a_malformed_adopt_section_is_one_line(stacks: Path, mutate, expected: str) -> None:
    adopt = copy.deepcopy(LIVE)
    mutate(adopt)
    _adopt(stacks, adopt)
    with pytest.raises(ConfigError) as err:
        load_stack_config("dev", "single-box", stacks)
    assert expected in str(err.value) and "\n" not in str(err.value)
