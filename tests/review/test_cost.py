"""infra.review.cost on a small crafted stack, with the arithmetic written out by hand."""

from __future__ import annotations

import pytest

from infra.config import STACKS_DIR, STAGES
from infra.review import cost
from tests.plans.fake import plan, res, write

HOURS = 730
DAYS = 30.4167


def small_stack() -> dict:
    box = res(
        "aws:ec2/instance:Instance",
        "box",
        {"instanceType": "t4g.small", "rootBlockDevice": {"volumeSize": 20, "volumeType": "gp3"}},
        id_="i-0123",
    )
    return plan(
        "single-box",
        [
            box,
            res("aws:ec2/eip:Eip", "box-ip", {"instance": "i-0123", "domain": "vpc"}),
            res(
                "aws:cloudwatch/metricAlarm:MetricAlarm",
                "cpu-high",
                {"metricName": "CPUUtilization"},
            ),
            res("aws:secretsmanager/secret:Secret", "db-secret", {"name": "movies-dev-db"}),
            res("aws:ec2/securityGroup:SecurityGroup", "box-sg", {"ingress": []}),
            res("movies:infra:Compute", "compute"),
        ],
    )


def test_small_stack_total_matches_hand_arithmetic() -> None:
    table, a = cost.load_prices(), cost.load_assumptions()
    today, _ = a.scenarios("dev")
    sc = cost.price_plan(small_stack(), today, table, a, "dev/single-box")

    hits = 50_000 * DAYS  # dev_hits_per_day x days per month = 1,520,835
    # bytes per hit: 25% posters of 150,000 B, 15% searches of 12,000 B, 60% movies of
    # 2,000 B, each response + 400 B overhead: 0.25*150,400 + 0.15*12,400 + 0.60*2,400
    per_hit = 0.25 * 150_400 + 0.15 * 12_400 + 0.60 * 2_400
    assert per_hit == 40_900
    egress_gb = hits * per_hit / 1e9  # 62.20 GB, all from the box (no CDN, no ALB)
    expected = {
        "ec2.t4g.small": HOURS * 0.0168,  # 12.264
        "ebs.gp3.gb": 20 * 0.08,  # 1.60
        "ipv4.public.hour": HOURS * 0.005,  # 3.65
        "dto.internet.gb": egress_gb * 0.09,  # 5.598
        "cw.alarm.metric": 1 * 0.10,
        "sm.secret": 1 * 0.40,
        "sm.api": 1 * 24 * DAYS * 0.000005,  # one instance reads it hourly
    }
    got = {line.row: line.monthly for line in sc.lines}
    assert got == pytest.approx(expected)
    assert sc.total == pytest.approx(23.6158, abs=1e-3)
    assert sc.per_million == pytest.approx(sc.total / (hits / 1e6))
    assert ("box-sg", "aws:ec2/securityGroup:SecurityGroup") in sc.free


def test_tiered_transfer_crosses_tiers() -> None:
    table = cost.load_prices()
    usd, how = table.charge("dto.internet.gb", 12_000, "test")
    assert usd == pytest.approx(10_240 * 0.09 + 1_760 * 0.085)
    assert "10,240 GB x $0.09 + 1,760 GB x $0.085" in how


def test_unpriced_type_is_an_error_naming_the_type() -> None:
    doc = small_stack()
    doc["resources"].append(res("aws:dynamodb/table:Table", "sessions", {"name": "s"}))
    table, a = cost.load_prices(), cost.load_assumptions()
    with pytest.raises(cost.CostError, match=r"aws:dynamodb/table:Table"):
        cost.price_plan(doc, a.scenarios("dev")[0], table, a)


def test_unknown_size_is_an_error_naming_the_price_row() -> None:
    doc = plan("single-box", [res("aws:ec2/instance:Instance", "box", {"instanceType": "x9.huge"})])
    table, a = cost.load_prices(), cost.load_assumptions()
    with pytest.raises(
        cost.CostError, match=r"no price row 'ec2.x9.huge'.*aws:ec2/instance:Instance box"
    ):
        cost.price_plan(doc, a.scenarios("dev")[0], table, a)


def test_every_price_row_has_a_source_and_date() -> None:
    table = cost.load_prices()
    for row_id, row in table.rows.items():
        assert row["source"].startswith("https://aws.amazon.com/"), row_id
        assert str(row["date"]).startswith("20"), row_id


def test_asg_fleet_follows_target_tracking_and_profile() -> None:
    lt = res(
        "aws:ec2/launchTemplate:LaunchTemplate", "web-lt", {"instanceType": "c7g.large"}, id_="lt-1"
    )
    asg = res(
        "aws:autoscaling/group:Group",
        "web",
        {
            "minSize": 2,
            "maxSize": 6,
            "desiredCapacity": 2,
            "launchTemplate": {"id": "lt-1"},
            "name": "web-asg",
        },
    )
    pol = res(
        "aws:autoscaling/policy:Policy",
        "web-scale",
        {
            "autoscalingGroupName": "web-asg",
            "policyType": "TargetTrackingScaling",
            "targetTrackingConfiguration": {
                "targetValue": 9000,  # requests per target per minute = 150 req/s
                "predefinedMetricSpecification": {
                    "predefinedMetricType": "ALBRequestCountPerTarget"
                },
            },
        },
    )
    alb = res("aws:lb/loadBalancer:LoadBalancer", "alb", {"internal": False, "subnets": ["a", "b"]})
    doc = plan("load-balanced", [lt, asg, pol, alb], env="prod")
    table, a = cost.load_prices(), cost.load_assumptions()
    today, target = a.scenarios("prod")

    def fleet(sc: cost.Scenario) -> float:
        priced = cost.price_plan(doc, sc, table, a)
        [line] = [ln for ln in priced.lines if ln.row == "ec2.c7g.large"]
        return line.quantity / HOURS

    # today: 15M/day = 173.6 req/s average, peak x3 = 521 req/s -> 4 instances at the peak,
    # 2 (min size) in the trough; at 5x the evening peak needs 18 but the group stops at 6,
    # while the night trough (30% of 868 req/s = 260 req/s) still fits in the minimum 2.
    assert 2 < fleet(today) < 3
    assert 3.5 < fleet(target) < 5
    profile = a.hourly_profile()
    assert sum(profile) / 24 == pytest.approx(1)
    assert max(profile) == pytest.approx(3.0, rel=1e-3) and min(profile) == pytest.approx(0.3)


def test_cli_errors_and_output(tmp_path, capsys) -> None:
    ref = write(tmp_path, "dev-single-box", small_stack())
    assert cost.main([ref, "--format", "markdown", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "`ec2.t4g.small`" in out and "730 instance-hour x $0.0168" in out
    assert cost.main([str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot load plan")


def test_against_compares_base_and_head_plans(tmp_path, capsys) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    head.mkdir()
    write(base, "dev-single-box", small_stack())
    bigger = small_stack()
    [box] = [r for r in bigger["resources"] if r["name"] == "box"]
    box["inputs"]["instanceType"] = "t4g.medium"
    ref = write(head, "dev-single-box", bigger)

    assert cost.main([ref, "--against", str(base)]) == 0
    out = capsys.readouterr().out
    # t4g.small -> t4g.medium: 730 h x (0.0336 - 0.0168) = +12.26 $/month
    assert "| `dev/single-box` | 24 | 36 | +12 |" in out


def _sizes(node: object, key: str) -> set[str]:
    """Every value of `key` in a stage spec, per-environment maps flattened."""
    found: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and v is not None:
                found |= set(v.values()) if isinstance(v, dict) else {v}
            else:
                found |= _sizes(v, key)
    return found


def test_price_table_covers_every_size_the_stage_specs_name() -> None:
    import yaml

    table = cost.load_prices()
    specs = [yaml.safe_load((STACKS_DIR / f"{s}.yaml").read_text()) for s in STAGES]
    ec2 = set().union(*(_sizes(s, "instance_type") for s in specs))
    rds = set().union(
        *(_sizes(s, "instance_class") for s in specs),
        *(_sizes(s, "replica_instance_class") for s in specs),
    )
    redis = set().union(*(_sizes(s, "node_type") for s in specs))
    assert ec2 and rds and redis
    missing = [f"ec2.{t}" for t in ec2 if f"ec2.{t}" not in table.rows]
    missing += [
        f"rds.pg.{c}.{az}"
        for c in rds
        for az in ("single", "multi")
        if f"rds.pg.{c}.{az}" not in table.rows
    ]
    missing += [f"ec.redis.{n}" for n in redis if f"ec.redis.{n}" not in table.rows]
    assert missing == []
