"""Zones pinned by ID in the profile: the program checks them and never moves a subnet;
`python -m infra zones` proposes and writes them (moto's copy of EC2, a stand-in)."""

from __future__ import annotations

import functools
import itertools
import shutil
from pathlib import Path

import pulumi
import pytest
import yaml
from moto.utilities.utils import load_resource

from infra.config import ENVIRONMENTS, STACKS_DIR, STAGES, load_stack_config, load_stage_spec
from infra.plans.mocks import run_program
from infra.program import zones
from infra.program.composer import declare_stage
from infra.program.zones import ZoneError, check_pinned, choose_pins, offerings_by_zone

SUBNET = "aws:ec2/subnet:Subnet"
OFFERED = {
    "use1-az1": {"t4g.small", "c7g.large"},
    "use1-az2": {"t4g.small", "c7g.large"},
    "use1-az3": {"t3.small"},  # like us-east-1's use1-az3: no Graviton type
    "use1-az4": {"t4g.small", "c7g.large", "t3.small"},
}
REGION_ZONES = sorted(OFFERED)


@pytest.fixture(autouse=True)
def _no_moto_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in reads zones and instance-type offerings only; moto's EC2 would load its
    bundled AMIs into every new backend (each `python -m infra zones` run here opens its own
    mock), ~0.4 s of CPU each, for images nothing here reads (tests/verify does the same)."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


_CLIENTS: dict[tuple[str, str | None], object] = {}


@pytest.fixture(autouse=True)
def _one_client_per_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader makes its EC2 client with boto3.client() at each read; inside mock_aws()
    that is a new default session each time, which parses EC2's service model again
    (~0.3 s of CPU). moto hooks botocore globally, so one client per region serves every
    mock here (as tests/verify/moto_stack.py does); the calls it makes are the reader's."""
    import boto3

    real = boto3.client

    def client(service: str, region_name: str | None = None, **kwargs):
        if kwargs:  # not the reader's call: made as asked
            return real(service, region_name=region_name, **kwargs)
        key = (service, region_name)
        if key not in _CLIENTS:
            _CLIENTS[key] = real(service, region_name=region_name)
        return _CLIENTS[key]

    monkeypatch.setattr(boto3, "client", client)


@functools.cache  # moto's bundled file, read once: the tests only read the sets
def _moto_offerings(region: str = "us-east-1") -> dict[str, set[str]]:
    rows = load_resource(
        f"ec2/resources/instance_type_offerings/availability-zone-id/{region}.json"
    )
    return offerings_by_zone([r["InstanceType"] for r in rows], [r["Location"] for r in rows])


def _profile(env: str) -> dict:
    return yaml.safe_load((STACKS_DIR / "env" / f"{env}.yaml").read_text())


# --- the rule ---------------------------------------------------------------------------


def test_pins_that_offer_every_type_are_kept_as_they_are() -> None:
    pinned = ["use1-az4", "use1-az1"]
    got = check_pinned(pinned, REGION_ZONES, OFFERED, ["c7g.large"], region="r", env="dev")
    assert got == pinned  # order kept: subnet i stays in zone i


def test_a_pinned_zone_lacking_a_type_is_one_line_naming_zone_and_type() -> None:
    with pytest.raises(ZoneError) as info:
        check_pinned(
            ["use1-az1", "use1-az3"],
            REGION_ZONES,
            OFFERED,
            ["t4g.small", "c7g.large"],
            region="us-east-1",
            env="prod",
        )
    assert str(info.value) == (
        "zone_ids: use1-az3 does not offer c7g.large, t4g.small in us-east-1; allowed: a "
        "zone offering every instance type of the stage (python -m infra zones --env prod); "
        "changing a pinned zone replaces its subnets"
    )


def test_a_pinned_zone_unknown_in_the_region_is_one_line() -> None:
    with pytest.raises(ZoneError) as info:
        check_pinned(["use1-az9"], REGION_ZONES, OFFERED, [], region="us-east-1", env="dev")
    message = str(info.value)
    assert message.startswith("zone_ids: use1-az9 is not a zone of us-east-1; allowed: use1-az1")
    assert "\n" not in message


def test_choose_keeps_qualifying_pins_in_place_and_replaces_only_the_lacking_one() -> None:
    fit = ["use1-az1", "use1-az2", "use1-az4"]
    assert choose_pins(["use1-az4", "use1-az3"], fit, 2, env="dev") == ["use1-az4", "use1-az1"]
    assert choose_pins(["use1-az2"], fit, 3, env="dev") == ["use1-az2", "use1-az1", "use1-az4"]
    assert choose_pins(["use1-az4", "use1-az2", "use1-az1"], fit, 2, env="d") == [
        "use1-az4",
        "use1-az2",
    ]
    # Fresh pins: lowest zone IDs (the same in every account), numerically.
    assert choose_pins([], ["use1-az10", "use1-az9", "use1-az2"], 2, env="dev") == [
        "use1-az2",
        "use1-az9",
    ]


def test_choose_with_too_few_qualifying_zones_is_one_line() -> None:
    with pytest.raises(ZoneError, match=r"^az_count: 3 zones needed but only 2 offer .*<= 2"):
        choose_pins([], ["use1-az1", "use1-az2"], 3, env="prod")


def test_offerings_are_grouped_by_zone() -> None:
    assert offerings_by_zone(["a", "b", "a"], ["z1", "z1", "z2"]) == {
        "z1": {"a", "b"},
        "z2": {"a"},
    }


# --- the program ------------------------------------------------------------------------


def _subnet_zones(plan: dict) -> dict[str, str]:
    return {
        r["name"]: r["inputs"]["availabilityZoneId"]
        for r in plan["resources"]
        if r["type"] == SUBNET
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_stage_move_changes_a_stacks_zones(plans, env) -> None:
    pins = _profile(env)["zone_ids"]
    for before, after in itertools.pairwise(STAGES):
        old, new = _subnet_zones(plans[(env, before)]), _subnet_zones(plans[(env, after)])
        assert old == new, f"{env}: {before} -> {after}"
    for name, zone in _subnet_zones(plans[(env, STAGES[0])]).items():
        assert zone == pins[int(name.rsplit("-", 1)[1])], name  # subnet i in zone_ids[i]


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    root = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR, root)
    return root


def _edit(path: Path, change) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc))


def _declared_during(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The types of resources constructed from now on (synchronously, in order)."""
    seen: list[str] = []
    original = pulumi.Resource.__init__

    def record(self, t, *args, **kwargs):
        seen.append(t)
        original(self, t, *args, **kwargs)

    monkeypatch.setattr(pulumi.Resource, "__init__", record)
    return seen


def test_a_stage_bringing_a_type_a_pinned_zone_lacks_fails_before_any_resource(
    stacks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # c8gb.large is offered in use1-az2 and use1-az4 but not in use1-az1 (moto's copy):
    # the live lookup moved prod's first subnets to another zone; pinning refuses.
    offered = _moto_offerings()
    assert "c8gb.large" not in offered["use1-az1"] and "c8gb.large" in offered["use1-az5"]
    _edit(stacks / "scale-5x.yaml", lambda d: d["search"].update(instance_type="c8gb.large"))
    config = load_stack_config("prod", "scale-5x", stacks)
    declared = _declared_during(monkeypatch)
    with pytest.raises(ZoneError) as info:
        run_program(
            lambda: declare_stage(config), project="movies", stack="prod", region="us-east-1"
        )
    message = str(info.value)
    assert message.startswith("zone_ids: use1-az1 does not offer c8gb.large in us-east-1;")
    assert "\n" not in message
    assert [t for t in declared if t != "pulumi:pulumi:Stack"] == []


def test_pins_are_the_subnets_zones_whatever_the_accounts_zone_names(
    stacks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _edit(stacks / "env" / "dev.yaml", lambda d: d.update(zone_ids=["use1-az6", "use1-az4"]))
    config = load_stack_config("dev", "cached", stacks)
    declared = _declared_during(monkeypatch)
    run = run_program(
        lambda: declare_stage(config), project="movies", stack="dev", region="us-east-1"
    )
    got = {r.name: r.inputs["availabilityZoneId"] for r in run.resources if r.type == SUBNET}
    assert got["network-public-0"] == got["network-data-0"] == "use1-az6"
    assert got["network-private-1"] == got["network-data-1"] == "use1-az4"
    assert declared.count(SUBNET) == 6  # the recorder the failure test relies on sees them


# --- python -m infra zones --------------------------------------------------------------


@pytest.fixture
def env_dir(stacks: Path) -> Path:
    return stacks / "env"


def _run(env_dir: Path, *args: str) -> int:
    return zones.main(["--source", "moto-stand-in", *args], env_dir=env_dir, root=env_dir.parent)


def test_shipped_pins_offer_every_type_of_every_stage() -> None:
    """The command's check, and independently moto's catalogue: no stage needs a move."""
    assert zones.main(["--source", "moto-stand-in", "--check"]) == 0
    offered = _moto_offerings()
    for env in ENVIRONMENTS:
        for stage in STAGES:
            types = set(zones.stage_instance_types(load_stage_spec(stage, env)))
            assert types
            for zone in _profile(env)["zone_ids"]:
                assert types <= offered[zone], (env, stage, zone, types - offered[zone])


def test_the_proposal_covers_every_stages_types(env_dir: Path) -> None:
    with zones.reader_for("moto-stand-in") as read:
        for env in ENVIRONMENTS:
            r = zones.review(env, read, env_dir, env_dir.parent)
            assert len(r.proposed) == r.profile.az_count
            every = {t for s in STAGES for t in zones.stage_instance_types(load_stage_spec(s, env))}
            assert set(r.types) == every
            offered = _moto_offerings()
            for zone in r.proposed:
                assert every <= offered[zone], (env, zone)
            assert "use1-az3" not in r.qualifying  # offers no Graviton type


def test_check_fails_on_a_lacking_pin_and_write_moves_only_that_one(
    env_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env_dir / "prod.yaml"
    zones.write_pins(path, ["use1-az1", "use1-az3", "use1-az4"])
    lines = path.read_text().splitlines()

    assert _run(env_dir, "--env", "prod", "--check") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: prod: use1-az3 does not offer c7g.large") and "\n" not in err

    assert _run(env_dir, "--env", "prod", "--write") == 0
    out = capsys.readouterr().out
    assert "REPLACED" in out and "subnets 1" in out
    new_lines = path.read_text().splitlines()
    changed = [(a, b) for a, b in zip(lines, new_lines, strict=True) if a != b]
    assert changed == [
        ("zone_ids: [use1-az1, use1-az3, use1-az4]", "zone_ids: [use1-az1, use1-az2, use1-az4]")
    ]
    assert _run(env_dir, "--env", "prod", "--check") == 0
    assert load_stack_config("prod", "edge", env_dir.parent).env.zone_ids == (
        "use1-az1",
        "use1-az2",
        "use1-az4",
    )


def test_write_pins_an_unpinned_profile_after_az_count(env_dir: Path) -> None:
    path = env_dir / "dev.yaml"
    path.write_text(
        "".join(
            line
            for line in path.read_text().splitlines(keepends=True)
            if not line.startswith("zone_ids:")
        )
    )
    assert _run(env_dir, "--env", "dev", "--check") == 1
    assert _run(env_dir, "--env", "dev", "--write") == 0
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("az_count:"))
    assert lines[at + 1] == "zone_ids: [use1-az1, use1-az2]"
    assert load_stack_config("dev", "cached", env_dir.parent).env.zone_ids == (
        "use1-az1",
        "use1-az2",
    )


def test_bad_profiles_and_sources_are_one_line_errors(
    env_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env_dir / "dev.yaml").write_text("just: text\n")
    assert _run(env_dir, "--env", "dev") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no 'region'" in err and "\n" not in err
    with pytest.raises(ZoneError, match=r"'us-east-1a' is not a zone ID"):
        zones.write_pins(env_dir / "prod.yaml", ["us-east-1a"])
    assert zones.main(["--source", "nowhere"]) == 2


def test_auto_source_uses_aws_only_with_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert zones.resolve_source("auto") == "moto-stand-in"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    assert zones.resolve_source("auto") == "aws"
    assert zones.resolve_source("moto-stand-in") == "moto-stand-in"


def _plan(root: Path, env: str, stage: str) -> dict:
    config = load_stack_config(env, stage, root)
    run = run_program(
        lambda: declare_stage(config), project="movies", stack=env, region=config.env.region
    )
    resources = sorted((r.to_plan() for r in run.resources), key=lambda r: r["urn"])
    return {"env": env, "stage": stage, "resources": resources}


def test_changing_a_pinned_zone_replaces_that_zones_subnets_and_only_those(stacks: Path) -> None:
    """What docs/infra.md calls a migration: the diff shows it as replacements."""
    from infra.review import diff, impacts

    old = _plan(stacks, "prod", "cached")
    _edit(
        stacks / "env" / "prod.yaml",
        lambda d: d.update(zone_ids=["use1-az1", "use1-az2", "use1-az5"]),
    )
    changes = diff.diff_plans(old, _plan(stacks, "prod", "cached"))
    replaced = sorted(
        e.name for e in changes.entries if e.impact and e.impact.impact == impacts.REPLACE
    )
    assert replaced == ["network-data-2", "network-private-2", "network-public-2"]
    assert changes.move_summary().replaced == 3
