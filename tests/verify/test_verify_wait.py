"""`infra verify --wait`: it polls like botocore's waiters until the stage is really up, fails
at once on a terminal state, and at the deadline names what was still missing.

The stacks are built in moto (moto_stack.py). moto 5.2.5 registers a running instance's
target as healthy at once and has no DescribeInstanceRefreshes, so two stand-ins sit at the
boto3 client boundary and say so in their names: `TargetHealthStandIn` (moto's real targets,
reported "initial" for the first N polls, as AWS does while instances boot and pass their
first checks) and `RefreshStatesStandIn` (a scripted sequence of refresh records). Time is a
`FakeClock`: `sleep` advances it, so an 18-minute wait runs in microseconds."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra import upgrade, verify
from infra.config import StackConfig, load_stack_config
from infra.verify import Clients, WaitOutcome, WaitSettings

from .moto_stack import _client, deploy, one_kms_key_pair_per_spec

# No server, but long enough that xdist should start it early (tests/conftest.py).
pytestmark = pytest.mark.wall(3)  # seconds alone

REGION = "us-east-1"
NEVER = 10**9


def client(service: str) -> Any:
    # Making a client costs ~0.1-0.4 s (service model, endpoint rules); moto hooks botocore
    # globally, so one client per service serves every mock_aws() context: moto_stack's,
    # the one verify itself uses.
    return _client(service, REGION)


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(key, value)
    one_kms_key_pair_per_spec(monkeypatch)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


class TargetHealthStandIn:
    """moto's elbv2 client, except that DescribeTargetHealth reports every target "initial"
    for the first `initial_polls` calls per target group (moto has no health checks)."""

    def __init__(self, real: Any, initial_polls: int) -> None:
        self.real, self.initial_polls = real, initial_polls
        self.calls: dict[str, int] = {}

    def describe_target_health(self, **kwargs: Any) -> dict[str, Any]:
        answer = self.real.describe_target_health(**kwargs)
        arn = kwargs["TargetGroupArn"]
        self.calls[arn] = self.calls.get(arn, 0) + 1
        if self.calls[arn] <= self.initial_polls:
            for d in answer["TargetHealthDescriptions"]:
                d["TargetHealth"] = {"State": "initial", "Reason": "Elb.InitialHealthChecking"}
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class RefreshStatesStandIn:
    """moto's autoscaling client, except DescribeInstanceRefreshes (not in moto 5.2.5): each
    call answers the next record of `states` (the last one repeats); None: no refresh."""

    def __init__(self, real: Any, states: list[tuple[str, int] | None]) -> None:
        self.real, self.states = real, states
        self.calls = 0

    def describe_instance_refreshes(self, **kwargs: Any) -> dict[str, Any]:
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        if state is None:
            return {"InstanceRefreshes": []}
        status, percent = state
        record = {
            "InstanceRefreshId": "11111111-2222-3333-4444-555555555555",
            "AutoScalingGroupName": kwargs["AutoScalingGroupName"],
            "Status": status,
            "PercentageComplete": percent,
        }
        if status == "Failed":
            record["StatusReason"] = "Instance failed to pass ELB health checks"
        return {"InstanceRefreshes": [record]}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class StandInClients(Clients):
    """Clients whose elbv2 and autoscaling go through the stand-ins above."""

    def __init__(self, initial_polls: int, refreshes: list[tuple[str, int] | None]) -> None:
        super().__init__(REGION)
        self.elb = TargetHealthStandIn(client("elbv2"), initial_polls)
        self.asg = RefreshStatesStandIn(client("autoscaling"), refreshes)

    def __call__(self, service: str, region: str | None = None) -> Any:
        if service == "elbv2":
            return self.elb
        if service == "autoscaling":
            return self.asg
        return (
            client(service)
            if region in (None, REGION)
            else boto3.client(service, region_name=region)
        )


@dataclass
class FakeClock:
    now: float = 0.0
    slept: list[float] = field(default_factory=list)
    on_sleep: Callable[[int], None] | None = None  # called with the number of sleeps so far

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.slept))


@dataclass
class Stack:
    cfg: StackConfig
    outputs: dict[str, Any]
    clock: FakeClock = field(default_factory=FakeClock)
    lines: list[str] = field(default_factory=list)

    def wait(self, clients: Clients, deadline_s: float = 60, delay_s: float = 15) -> WaitOutcome:
        return verify.wait_until_ready(
            clients,
            self.outputs,
            WaitSettings(deadline_s, delay_s),
            self.lines.append,
            clock=self.clock,
            sleep=self.clock.sleep,
        )


@pytest.fixture
def load_balanced() -> Iterator[Stack]:
    with mock_aws():
        cfg = load_stack_config("prod", "load-balanced")
        yield Stack(cfg, deploy(cfg))


@pytest.fixture
def scale_5x() -> Iterator[Stack]:
    with mock_aws():
        cfg = load_stack_config("prod", "scale-5x")
        yield Stack(cfg, deploy(cfg))


DONE = [("Successful", 100)]


def test_waiter_models_match_botocore() -> None:
    """The delays, attempts and terminal states verify copies are botocore's own."""
    for model in verify.WAITERS:
        waiter = client(model.service).get_waiter(model.name)
        assert (waiter.config.delay, waiter.config.max_attempts) == (
            model.delay_s,
            model.max_attempts,
        )
        by_state: dict[str, set[str]] = {}
        for a in waiter.config.acceptors:
            by_state.setdefault(a.state, set()).add(a.expected)
        assert by_state.pop("success") == {model.success}
        assert by_state.pop("failure", set()) == set(model.failure)
        assert by_state.pop("retry", set()) == set(model.retry_errors)
        assert by_state == {}
    assert verify.POLL_DELAY_S == 15
    # 4 x READY_SECONDS (270 s) = 1,080 s.
    assert verify.DEFAULT_DEADLINE_S == 18 * 60


def test_targets_healthy_after_three_polls_pass(load_balanced: Stack) -> None:
    web = load_balanced.cfg.stage.web
    n = web.desired_capacity
    outcome = load_balanced.wait(StandInClients(initial_polls=3, refreshes=DONE))
    assert outcome.ready and outcome.polls == 4
    assert load_balanced.clock.slept == [15, 15, 15]
    assert len(load_balanced.lines) == 3
    tg = load_balanced.outputs["target_group_arns"][0].rsplit(":", 1)[-1]
    assert load_balanced.lines[1] == (
        f"waiting 0:15 of 1:00: 1 not ready: alb {tg}: 0 healthy of {n} desired; {n} initial"
    )
    assert verify.wait_summary(outcome) == "ready after 0:45 (4 polls)"


def test_targets_never_healthy_fail_at_the_deadline_naming_them(load_balanced: Stack) -> None:
    n = load_balanced.cfg.stage.web.desired_capacity
    outcome = load_balanced.wait(StandInClients(initial_polls=NEVER, refreshes=DONE))
    assert not outcome.ready
    assert outcome.polls == 5 and outcome.elapsed_s == 60  # at 0, 15, 30, 45 and 60 s
    tg = load_balanced.outputs["target_group_arns"][0].rsplit(":", 1)[-1]
    assert [(f.area, f.resource, f.ok, f.detail) for f in outcome.findings()] == [
        ("wait", tg, False, f"alb: 0 healthy of {n} desired; {n} initial (at the deadline 1:00)")
    ]
    assert verify.wait_summary(outcome) == (
        f"not ready at the deadline 1:00, after 1:00 (5 polls): "
        f"alb {tg}: 0 healthy of {n} desired; {n} initial"
    )


def test_refresh_left_in_progress_fails_at_the_deadline(load_balanced: Stack) -> None:
    clients = StandInClients(initial_polls=0, refreshes=[("InProgress", 40)])
    outcome = load_balanced.wait(clients)
    assert not outcome.ready and outcome.elapsed_s == 60
    asg = load_balanced.outputs["asg_names"][0]
    assert [(f.resource, f.detail) for f in outcome.findings()] == [
        (asg, "asg: instance refresh InProgress, 40% done (at the deadline 1:00)")
    ]
    assert "1 not ready: asg " + asg in load_balanced.lines[0]


def test_refresh_that_finishes_passes(load_balanced: Stack) -> None:
    states = [("Pending", 0), ("InProgress", 50), ("Baking", 100), ("Successful", 100)]
    outcome = load_balanced.wait(StandInClients(initial_polls=0, refreshes=states))
    assert outcome.ready and outcome.polls == 4
    asg = load_balanced.outputs["asg_names"][0]
    assert [line.split("1 not ready: ")[1] for line in load_balanced.lines] == [
        f"asg {asg}: instance refresh Pending, 0% done",
        f"asg {asg}: instance refresh InProgress, 50% done",
        f"asg {asg}: instance refresh Baking, 100% done",
    ]


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "RollbackSuccessful", "Cancelling"])
def test_failed_refresh_fails_at_once(load_balanced: Stack, status: str) -> None:
    clients = StandInClients(initial_polls=NEVER, refreshes=[(status, 30)])
    outcome = load_balanced.wait(clients)
    assert not outcome.ready and outcome.polls == 1 and load_balanced.clock.slept == []
    failed = [c for c in outcome.conditions if c.state == verify.FAILED]
    assert [c.detail.split(":")[0] for c in failed] == [f"instance refresh {status}"]
    # the targets still booting are named too, without the deadline (it was not reached)
    n = load_balanced.cfg.stage.web.desired_capacity
    assert (
        f"alb: 0 healthy of {n} desired; {n} initial (still waiting when the wait stopped at 0:00)"
        in {f.detail for f in outcome.findings()}
    )


def test_no_refresh_at_all_is_ready(load_balanced: Stack) -> None:
    outcome = load_balanced.wait(StandInClients(initial_polls=0, refreshes=[None]))
    assert outcome.ready and outcome.polls == 1


def test_last_sleep_stops_at_the_deadline(load_balanced: Stack) -> None:
    outcome = load_balanced.wait(StandInClients(NEVER, DONE), deadline_s=20, delay_s=15)
    assert load_balanced.clock.slept == [15, 5] and outcome.elapsed_s == 20


def test_every_target_group_waits_for_its_own_fleet(scale_5x: Stack) -> None:
    """scale-5x: web and search groups, each needing its own ASG's desired count; RDS
    primary, replicas and the Redis group are read and available."""
    outcome = scale_5x.wait(StandInClients(initial_polls=1, refreshes=DONE))
    assert outcome.ready and outcome.polls == 2
    stage = scale_5x.cfg.stage
    wanted = [stage.web.desired_capacity, stage.search.desired_capacity]
    alb = [c for c in outcome.conditions if c.area == "alb"]
    assert [c.detail for c in alb] == [f"{n} healthy of {n} desired" for n in wanted]
    db_ids = [
        scale_5x.outputs["db_primary_identifier"],
        *scale_5x.outputs["db_replica_identifiers"],
    ]
    assert [c.resource for c in outcome.conditions if c.area == "rds"] == db_ids
    assert any(c.area == "redis" and c.state == verify.READY for c in outcome.conditions)
    assert len(scale_5x.lines) == 1 and "2 not ready" in scale_5x.lines[0]


def test_database_not_available_is_waited_for(scale_5x: Stack) -> None:
    # "stopped" is no acceptor of db_instance_available: the waiter retries, and so does verify.
    rds = client("rds")
    primary = scale_5x.outputs["db_primary_identifier"]
    rds.stop_db_instance(DBInstanceIdentifier=primary)

    def start_after_two(sleeps: int) -> None:
        if sleeps == 2:
            rds.start_db_instance(DBInstanceIdentifier=primary)

    scale_5x.clock.on_sleep = start_after_two
    outcome = scale_5x.wait(StandInClients(initial_polls=0, refreshes=DONE))
    assert outcome.ready and outcome.polls == 3
    assert f"rds {primary}: status stopped, waiting for available" in scale_5x.lines[0]


def test_deleted_replica_fails_at_once(scale_5x: Stack) -> None:
    replica = scale_5x.outputs["db_replica_identifiers"][-1]
    client("rds").delete_db_instance(DBInstanceIdentifier=replica, SkipFinalSnapshot=True)
    outcome = scale_5x.wait(StandInClients(initial_polls=0, refreshes=DONE))
    assert not outcome.ready and outcome.polls == 1
    assert [(f.resource, f.detail) for f in outcome.findings()] == [(replica, "rds: not found")]


def test_rds_status_mapping_follows_the_waiter() -> None:
    model = verify.DB_INSTANCE_AVAILABLE
    states = {s: verify.status_condition("rds", "db", s, model).state for s in (
        "available", "creating", "modifying", "backing-up", "deleting", "failed",
        "incompatible-parameters",
    )}  # fmt: skip
    assert states == {
        "available": "ready", "creating": "waiting", "modifying": "waiting",
        "backing-up": "waiting", "deleting": "failed", "failed": "failed",
        "incompatible-parameters": "failed",
    }  # fmt: skip


def test_missing_redis_group_fails_at_once(scale_5x: Stack) -> None:
    scale_5x.outputs["redis_replication_group_id"] = "movies-prod-gone"
    outcome = scale_5x.wait(StandInClients(initial_polls=0, refreshes=DONE))
    assert not outcome.ready and outcome.polls == 1
    assert [(f.resource, f.detail) for f in outcome.findings()] == [
        ("movies-prod-gone", "redis: not found")
    ]


def test_cli_wait_prints_progress_then_checks(
    load_balanced: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(verify, "Clients", lambda region: StandInClients(2, DONE))
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(load_balanced.outputs))
    assert verify.main(["prod", "--outputs", str(path), "--wait", "30", "--poll", "0.01"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("verify: ")]
    assert lines[0].startswith("verify: prod/load-balanced: waiting up to 0:30")
    assert sum("1 not ready: alb" in line for line in lines) == 2
    assert lines[-1].startswith("verify: ready after 0:00 (3 polls)")
    assert "all passed" in out  # then the single-shot checks ran


def test_cli_wait_failure_is_exit_1_with_json_on_stdout(
    load_balanced: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(verify, "Clients", lambda region: StandInClients(0, [("Failed", 10)]))
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(load_balanced.outputs))
    assert verify.main(["prod", "--outputs", str(path), "--wait", "--json"]) == 1
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["wait"]["ready"] is False and doc["wait"]["polls"] == 1
    assert doc["wait"]["deadline_s"] == verify.DEFAULT_DEADLINE_S
    assert [f["detail"] for f in doc["findings"]] == [
        "asg: instance refresh Failed: Instance failed to pass ELB health checks"
    ]
    assert "verify: failed after 0:00 (1 polls)" in captured.err


def test_bad_wait_value_is_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        verify.main(["prod", "--outputs", "x.json", "--wait", "-5"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--wait" in err and "seconds > 0" in err


def test_upgrade_calls_verify_in_waiting_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(verify, "main", lambda argv: seen.append(argv) or 0)
    assert upgrade.run_verify("prod", Path("build/upgrade/prod-edge.outputs.json")) == 0
    assert seen == [["prod", "--outputs", "build/upgrade/prod-edge.outputs.json", "--wait"]]
