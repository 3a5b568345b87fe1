"""`python -m infra verify`: bad input gets one line and exit 2; AWS_ENDPOINT_URL is honoured."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from infra import verify
from infra.config import load_stack_config

GOOD = {"stage": "edge", "environment": "prod", "alarm_names": ["a"]}


def write(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def one_line_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        code = verify.main(argv)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_missing_file(capsys, tmp_path: Path) -> None:
    err = one_line_error(capsys, ["prod", "--outputs", str(tmp_path / "nope.json")])
    assert "nope.json" in err and "cannot read" in err


def test_not_json(capsys, tmp_path: Path) -> None:
    err = one_line_error(capsys, ["prod", "--outputs", write(tmp_path, "{stage: edge")])
    assert "not valid JSON" in err


def test_not_an_object(capsys, tmp_path: Path) -> None:
    err = one_line_error(capsys, ["prod", "--outputs", write(tmp_path, ["edge"])])
    assert "expected a JSON object" in err


def test_unknown_stage_in_outputs(capsys, tmp_path: Path) -> None:
    path = write(tmp_path, {**GOOD, "stage": "mega"})
    err = one_line_error(capsys, ["prod", "--outputs", path])
    assert "outputs.stage: 'mega'; allowed: single-box, split-db" in err


def test_missing_environment_in_outputs(capsys, tmp_path: Path) -> None:
    path = write(tmp_path, {"stage": "edge"})
    err = one_line_error(capsys, ["prod", "--outputs", path])
    assert "outputs.environment: None; allowed: dev, prod" in err


@pytest.mark.parametrize(
    ("stack", "words"),
    [("dev", "outputs are for environment 'prod'"), ("prod/cached", "outputs are for prod/edge")],
)
def test_stack_argument_must_agree_with_outputs(capsys, tmp_path: Path, stack, words) -> None:
    err = one_line_error(capsys, [stack, "--outputs", write(tmp_path, GOOD)])
    assert words in err


def test_outputs_source_is_required(capsys) -> None:
    err = one_line_error(capsys, ["prod"])
    assert "--outputs" in err and "--from-pulumi" in err


def test_bad_lag_threshold(capsys, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    err = one_line_error(capsys, ["prod", "--outputs", path, "--max-replica-lag", "-3"])
    assert "--max-replica-lag" in err and "seconds > 0" in err


def test_from_pulumi_without_the_cli(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    err = one_line_error(capsys, ["prod", "--from-pulumi"])
    assert "pulumi CLI is not on PATH" in err


def test_from_pulumi_reads_the_cli_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in `pulumi` on PATH prints what `pulumi stack output --json` would.
    fake = tmp_path / "pulumi"
    fake.write_text(
        "#!/bin/sh\n"
        '[ "$1 $2 $3 $4 $5" = "stack output --json --stack prod" ] || exit 3\n'
        f"echo '{json.dumps(GOOD)}'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert verify.pulumi_outputs("prod") == GOOD


def test_from_pulumi_failure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "pulumi"
    fake.write_text("#!/bin/sh\necho 'error: no stack named prod found' >&2\nexit 255\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(verify.InputError, match=r"failed: error: no stack named prod found$"):
        verify.pulumi_outputs("prod")


@pytest.mark.servers
def test_aws_endpoint_url_points_verify_at_a_moto_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(key, "testing")
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        cw = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=url)
        cw.put_metric_alarm(
            AlarmName="movies-prod-box-cpu", MetricName="CPUUtilization", Namespace="AWS/EC2",
            Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=80.0,
            ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=url)
        instance = ec2.run_instances(
            ImageId="ami-0123456789abcdef0",
            InstanceType=load_stack_config("prod", "single-box").stage.single_box.instance_type,
            MinCount=1,
            MaxCount=1,
        )["Instances"][0]["InstanceId"]
        outputs = {
            "stage": "single-box",
            "environment": "prod",
            "instance_id": instance,
            "alarm_names": ["movies-prod-box-cpu"],
        }
        path = write(tmp_path, outputs)
        assert verify.main(["prod", "--outputs", path]) == 0, capsys.readouterr().out
        cw.set_alarm_state(AlarmName="movies-prod-box-cpu", StateValue="ALARM", StateReason="t")
        assert verify.main(["prod", "--outputs", path]) == 1
        assert "state ALARM" in capsys.readouterr().out
    finally:
        server.stop()
