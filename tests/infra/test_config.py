"""Stage specs and environment profiles: the shipped files load, and bad ones fail in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from infra.config import (
    ENVIRONMENTS,
    STACKS_DIR,
    STAGES,
    ConfigError,
    all_stack_configs,
    load_stack_config,
)


def test_every_pair_loads_and_is_frozen() -> None:
    configs = all_stack_configs()
    assert [c.name for c in configs] == [f"{e}/{s}" for e in ENVIRONMENTS for s in STAGES]
    cfg = configs[0]
    # pydantic's frozen models refuse assignment (ValidationError "Instance is frozen")
    with pytest.raises(ValidationError, match="frozen"):
        cfg.env.region = "eu-west-1"  # type: ignore[misc]
    # hashable: usable as a cache key by the lab and the capacity model
    assert len({hash(c) for c in configs}) == len(configs)


def test_per_environment_values_resolve() -> None:
    dev = load_stack_config("dev", "scale-5x")
    prod = load_stack_config("prod", "scale-5x")
    assert dev.stage.web is not None and prod.stage.web is not None
    assert dev.stage.web.instance_type != prod.stage.web.instance_type
    assert prod.stage.search is not None and prod.stage.search.query_key == "q"
    assert prod.stage.web.scale_target_per_minute == prod.stage.web.scale_target_rps * 60


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    root = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR, root)
    return root


def edit(root: Path, rel: str, change) -> None:
    path = root / rel
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc))


def fails(root: Path, env: str, stage: str, *needles: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_stack_config(env, stage, root)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    return message


def test_unknown_stage(stacks: Path) -> None:
    fails(stacks, "dev", "huge", "stage", "'huge'", "single-box", "scale-5x")


def test_unknown_environment(stacks: Path) -> None:
    fails(stacks, "qa", "cached", "environment", "'qa'", "dev, prod")


def test_unknown_top_level_key(stacks: Path) -> None:
    edit(stacks, "cached.yaml", lambda d: d.update(cdn={"x": 1}))
    fails(stacks, "dev", "cached", "cdn", "unknown key", "allowed")


def test_unknown_nested_key(stacks: Path) -> None:
    edit(stacks, "cached.yaml", lambda d: d["cache"].update(nodes=3))
    fails(stacks, "dev", "cached", "cache.nodes", "unknown key")


def test_unknown_env_profile_key(stacks: Path) -> None:
    edit(stacks, "env/prod.yaml", lambda d: d.update(multiaz=True))
    fails(stacks, "prod", "cached", "multiaz", "unknown key")


def test_bad_per_environment_keys(stacks: Path) -> None:
    edit(stacks, "cached.yaml", lambda d: d["web"].update(min_size={"dev": 1, "prd": 2}))
    fails(stacks, "dev", "cached", "web.min_size", "dev, prod")


def test_asg_min_greater_than_max(stacks: Path) -> None:
    edit(
        stacks, "cached.yaml", lambda d: d["web"].update(min_size=5, max_size=3, desired_capacity=4)
    )
    fails(stacks, "dev", "cached", "web.min_size", "5", "max_size 3")


def test_desired_outside_min_max(stacks: Path) -> None:
    web = load_stack_config("prod", "cached", stacks).stage.web
    edit(stacks, "cached.yaml", lambda d: d["web"].update(desired_capacity=web.max_size + 7))
    bounds = f"{web.min_size}..{web.max_size}"
    fails(stacks, "prod", "cached", "web.desired_capacity", str(web.max_size + 7), bounds)


def test_search_tier_is_validated_too(stacks: Path) -> None:
    edit(stacks, "scale-5x.yaml", lambda d: d["search"].update(min_size=0))
    fails(stacks, "dev", "scale-5x", "search.min_size", "0", "positive")


def test_replicas_with_backups_off(stacks: Path) -> None:
    edit(stacks, "env/dev.yaml", lambda d: d.update(backup_retention_days=0))
    fails(stacks, "dev", "read-replicas", "backup_retention_days", "0", "read_replicas", ">= 1")
    # Without replicas, no backups is allowed (dev may choose it).
    assert load_stack_config("dev", "cached", stacks).env.backup_retention_days == 0


def test_failover_cache_with_one_node(stacks: Path) -> None:
    edit(stacks, "cached.yaml", lambda d: d["cache"].update(node_count={"dev": 1, "prod": 1}))
    fails(stacks, "prod", "cached", "cache.node_count", "1", "multi_az", ">= 2")
    assert load_stack_config("dev", "cached", stacks).stage.cache.node_count == 1


def test_unknown_nat_strategy(stacks: Path) -> None:
    edit(stacks, "env/dev.yaml", lambda d: d.update(nat="gateway"))
    fails(stacks, "dev", "single-box", "nat", "'gateway'", "none, single, per-az")


def test_one_az_with_alb_or_rds(stacks: Path) -> None:
    edit(stacks, "env/dev.yaml", lambda d: d.update(az_count=1, zone_ids=["use1-az1"]))
    assert load_stack_config("dev", "single-box", stacks).env.az_count == 1
    fails(stacks, "dev", "split-db", "az_count", "1", "RDS subnet group", ">= 2")
    fails(stacks, "dev", "load-balanced", "az_count", "ALB")


@pytest.mark.parametrize(
    ("section", "key", "value", "needle"),
    [
        ("web", "max_size", 0, "positive"),
        ("web", "scale_target_rps", -5, "positive"),
        ("database", "allocated_storage_gb", 0, "20..65536"),
        ("cache", "node_count", 0, "1..5"),
        ("database", "read_replicas", -1, "0..15"),
    ],
)
def test_zero_or_negative_sizes(stacks: Path, section, key, value, needle) -> None:
    edit(stacks, "cached.yaml", lambda d: d[section].update({key: value}))
    fails(stacks, "dev", "cached", f"{section}.{key}", str(value), needle)


@pytest.mark.parametrize(
    ("section", "key", "value", "needle"),
    [
        ("web", "min_size", "2", "expected int"),
        ("web", "min_size", True, "expected int"),
        ("web", "instance_type", 42, "expected str"),
        ("cache", "node_type", "r7g.large", "cache.r7g.large"),
        ("database", "instance_class", "r7g.large", "db.r7g.large"),
    ],
)
def test_wrong_types(stacks: Path, section, key, value, needle) -> None:
    edit(stacks, "cached.yaml", lambda d: d[section].update({key: value}))
    fails(stacks, "dev", "cached", f"{section}.{key}", needle)


def test_wrong_type_in_profile(stacks: Path) -> None:
    edit(stacks, "env/prod.yaml", lambda d: d.update(protect="yes"))
    fails(stacks, "prod", "edge", "protect", "expected bool", "'yes'")


def test_missing_required_key(stacks: Path) -> None:
    edit(stacks, "cached.yaml", lambda d: d["database"].pop("instance_class"))
    fails(stacks, "dev", "cached", "database.instance_class", "missing")


def test_replicas_need_a_replica_class(stacks: Path) -> None:
    edit(stacks, "read-replicas.yaml", lambda d: d["database"].update(replica_instance_class=None))
    fails(stacks, "dev", "read-replicas", "database.replica_instance_class", "read_replicas")


def test_single_box_and_web_are_exclusive(stacks: Path) -> None:
    edit(
        stacks,
        "cached.yaml",
        lambda d: d.update(single_box={"instance_type": "t4g.small", "root_volume_gb": 20}),
    )
    fails(stacks, "dev", "cached", "single_box or web", "both")


def test_edge_needs_storage(stacks: Path) -> None:
    edit(stacks, "edge.yaml", lambda d: d.pop("storage"))
    fails(stacks, "dev", "edge", "edge", "storage")


def test_stage_file_names_its_stage(stacks: Path) -> None:
    edit(stacks, "edge.yaml", lambda d: d.update(stage="cached"))
    fails(stacks, "dev", "edge", "edge.yaml", "'cached'")


def test_invalid_yaml(stacks: Path) -> None:
    (stacks / "cached.yaml").write_text("stage: cached\nweb: [unclosed\n")
    fails(stacks, "dev", "cached", "cached.yaml", "not valid YAML")


def test_bad_cidr_and_certificate(stacks: Path) -> None:
    edit(stacks, "env/dev.yaml", lambda d: d.update(vpc_cidr="10.0.0.0/8"))
    fails(stacks, "dev", "cached", "vpc_cidr", "/16 to /20")
    edit(
        stacks,
        "env/dev.yaml",
        lambda d: d.update(vpc_cidr="10.40.0.0/16", certificate_arn="arn:nope"),
    )
    fails(stacks, "dev", "cached", "certificate_arn", "ACM")


def test_every_stage_says_which_bottleneck_it_removes() -> None:
    from infra.review import report

    for stage in STAGES:
        spec = load_stack_config("prod", stage).stage
        assert spec.bottleneck.strip() and spec.bottleneck != spec.summary
        # The report's "why" column is the spec's key, not a comment it parses.
        assert report.stage_text(stage) == (spec.summary, spec.bottleneck)


def test_bottleneck_is_required_and_one_line(stacks: Path) -> None:
    edit(stacks, "edge.yaml", lambda d: d.pop("bottleneck"))
    fails(stacks, "dev", "edge", "bottleneck", "missing")
    edit(stacks, "edge.yaml", lambda d: d.update(bottleneck="  "))
    fails(stacks, "dev", "edge", "bottleneck", "one line")


def test_report_refuses_a_spec_without_bottleneck(
    stacks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.review.report import model as report

    monkeypatch.setattr(report, "STACKS_DIR", stacks)
    edit(stacks, "edge.yaml", lambda d: d.pop("bottleneck"))
    # No falling back to the header comment: the key is the one source of the "why".
    with pytest.raises(ConfigError, match="bottleneck: required key is missing"):
        report.stage_text("edge")
    assert report.stage_text("cached")[1] == load_stack_config("prod", "cached").stage.bottleneck


CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


def test_certificate_at_the_edge_needs_an_origin_name(stacks: Path) -> None:
    edit(stacks, "env/prod.yaml", lambda d: d.update(certificate_arn=CERT))
    assert load_stack_config("prod", "read-replicas", stacks).env.alb_origin_domain is None
    fails(stacks, "prod", "edge", "alb_origin_domain", "required with certificate_arn", "edge")
    edit(stacks, "env/prod.yaml", lambda d: d.update(alb_origin_domain="Not A Name"))
    fails(stacks, "prod", "edge", "alb_origin_domain", "'Not A Name'", "DNS name")
    edit(stacks, "env/prod.yaml", lambda d: d.update(alb_origin_domain="origin.example.com"))
    assert load_stack_config("prod", "edge", stacks).env.alb_origin_domain == "origin.example.com"


def test_origin_name_without_certificate_is_refused(stacks: Path) -> None:
    edit(stacks, "env/dev.yaml", lambda d: d.update(alb_origin_domain="origin.example.com"))
    fails(stacks, "dev", "cached", "alb_origin_domain", "without certificate_arn")


def test_cache_nodes_are_capped_by_the_hit_rate_alarm(stacks: Path) -> None:
    """6 nodes would pass ElastiCache but fail in Observability mid-program: say so up front."""
    from infra.config import MAX_CACHE_NODES

    # The alarm's side (the cache alarms take MAX_CACHE_NODES nodes and refuse one more):
    # tests/program/components/test_observability.py.
    edit(stacks, "cached.yaml", lambda d: d["cache"].update(node_count=MAX_CACHE_NODES))
    assert load_stack_config("prod", "cached", stacks).stage.cache.node_count == 5
    edit(stacks, "cached.yaml", lambda d: d["cache"].update(node_count=6))
    fails(stacks, "prod", "cached", "cache.node_count", "6", "1..5", "2 metrics per node", "10")


def test_apply_time_settings_are_checked(stacks: Path) -> None:
    profile = load_stack_config("prod", "edge", stacks).env
    assert profile.http_keepalive_s == profile.alb_idle_timeout_s + 15
    assert profile.apply_immediately is (profile.apply_changes == "immediately")
    edit(stacks, "env/dev.yaml", lambda d: d.update(alb_idle_timeout_s=0))
    fails(stacks, "dev", "edge", "alb_idle_timeout_s", "0", "1..4000")
    edit(stacks, "env/dev.yaml", lambda d: d.update(alb_idle_timeout_s=60, apply_changes="now"))
    fails(stacks, "dev", "edge", "apply_changes", "'now'", "immediately, maintenance-window")


def test_ami_pins_are_required_and_checked(stacks: Path) -> None:
    edit(stacks, "env/prod.yaml", lambda d: d["ami_ids"].update(arm64="ami-nothex"))
    fails(stacks, "prod", "edge", "ami_ids.arm64", "'ami-nothex'", "an AMI id")
    edit(stacks, "env/prod.yaml", lambda d: d.pop("ami_ids"))
    fails(stacks, "prod", "edge", "ami_ids", "required", "python -m infra ami --write")


def test_zone_pins_are_required_and_checked(stacks: Path) -> None:
    assert load_stack_config("prod", "edge", stacks).env.zone_ids == (
        "use1-az1",
        "use1-az2",
        "use1-az4",
    )
    edit(stacks, "env/prod.yaml", lambda d: d.update(zone_ids=["use1-az1", "use1-az2"]))
    fails(stacks, "prod", "edge", "zone_ids", "(2 zones) with az_count 3", "exactly 3 zone IDs")
    edit(stacks, "env/prod.yaml", lambda d: d.update(zone_ids=["use1-az1", "us-east-1b", "x"]))
    fails(stacks, "prod", "edge", "zone_ids.1", "'us-east-1b'", "a zone ID such as use1-az1")
    edit(stacks, "env/prod.yaml", lambda d: d.update(zone_ids=["use1-az1", "use1-az2", "use1-az1"]))
    fails(stacks, "prod", "edge", "zone_ids", "'use1-az1' twice", "distinct zone IDs")
    edit(stacks, "env/prod.yaml", lambda d: d.update(zone_ids=["use1-az1", "usw2-az2", "use1-az4"]))
    fails(stacks, "prod", "edge", "zone_ids", "regions use1, usw2", "the profile's region")
    edit(stacks, "env/prod.yaml", lambda d: d.update(zone_ids="use1-az1"))
    fails(stacks, "prod", "edge", "zone_ids", "expected a non-empty list", "'use1-az1'")
    edit(stacks, "env/prod.yaml", lambda d: d.update(zone_ids=["use1-az1", 2, "use1-az4"]))
    fails(stacks, "prod", "edge", "zone_ids.1", "expected str, got 2 (int)")
    edit(stacks, "env/prod.yaml", lambda d: d.pop("zone_ids"))
    fails(stacks, "prod", "edge", "zone_ids", "required", "python -m infra zones --write")
