"""The release component's pure parts: template rendering, the build contract, the policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.program.components.release import (
    TEMPLATE_PATH,
    TEMPLATE_VARIABLES,
    ReleaseError,
    artifact_name,
    instance_policy,
    render_user_data,
    require_artifact,
)

FIXTURE = Path(__file__).parent / "fixtures" / "user-data.yaml.j2"


def variables(**override) -> dict:
    base = {name: "" for name in TEMPLATE_VARIABLES}
    base.update(
        stage="cached",
        environment="dev",
        region="us-east-1",
        app_port="8000",
        artifact_bucket="movies-dev-artifacts-123456789012",
        artifact_key="releases/movies-api-1.0.0.tar.gz",
        local_postgres=False,
        db_host="db.example.internal",
        db_port="5432",
        db_name="movies",
        redis_port="6379",
        log_group="/movies/dev/api",
    )
    base.update(override)
    return base


@pytest.mark.parametrize("template", [FIXTURE, TEMPLATE_PATH], ids=["fixture", "app_image"])
def test_renders_every_contract_variable(template: Path) -> None:
    text = render_user_data(template, variables(redis_host="master.redis.example"))
    assert text.startswith("#cloud-config")
    assert "db.example.internal" in text
    assert "releases/movies-api-1.0.0.tar.gz" in text
    assert "master.redis.example" in text


def test_missing_variable_is_one_line_error() -> None:
    partial = variables()
    del partial["db_host"]
    with pytest.raises(ReleaseError, match="variables missing: db_host"):
        render_user_data(FIXTURE, partial)


def test_undefined_name_in_template_fails(tmp_path: Path) -> None:
    template = tmp_path / "user-data.yaml.j2"
    template.write_text("#cloud-config\nx: {{ no_such_variable }}\n")
    with pytest.raises(ReleaseError, match="no_such_variable"):
        render_user_data(template, variables())


def test_template_must_be_cloud_config(tmp_path: Path) -> None:
    template = tmp_path / "user-data.yaml.j2"
    template.write_text("#!/bin/bash\necho {{ stage }}\n")
    with pytest.raises(ReleaseError, match="#cloud-config"):
        render_user_data(template, variables())


def test_user_data_size_limit(tmp_path: Path) -> None:
    template = tmp_path / "user-data.yaml.j2"
    template.write_text("#cloud-config\n# " + "x" * 17000 + "\n")
    with pytest.raises(ReleaseError, match="16384"):
        render_user_data(template, variables())


def test_artifact_name_comes_from_the_build_script(tmp_path: Path) -> None:
    script = tmp_path / "build.py"
    script.write_text("def artifact_name():\n    return 'movies-api-9.9.9.tar.gz'\n")
    assert artifact_name(script) == "movies-api-9.9.9.tar.gz"
    script.write_text("def artifact_name():\n    return 'movies-api.zip'  # changed\n")
    with pytest.raises(ReleaseError, match=re.escape(".tar.gz")):
        artifact_name(script)
    with pytest.raises(ReleaseError, match="missing"):
        artifact_name(tmp_path / "absent.py")


def test_real_build_script_names_a_tarball() -> None:
    assert artifact_name().startswith("movies-api-")


def test_require_artifact_names_the_build_command(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match=re.escape("app_image/build.py")):
        require_artifact(tmp_path)
    (tmp_path / artifact_name()).write_bytes(b"tarball")
    assert require_artifact(tmp_path) == artifact_name()


KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0000-artifacts"


def test_instance_policy_is_scoped_to_given_arns() -> None:
    policy = instance_policy(
        artifact_object_arn="arn:aws:s3:::b/releases/x.tar.gz",
        log_group_arn="arn:aws:logs:us-east-1:123456789012:log-group:/movies/dev/api",
        secret_arns=["", "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-abc123"],
        media_bucket_arn="",
        artifact_key_arn=KEY_ARN,
    )
    sids = [s["Sid"] for s in policy["Statement"]]
    assert sids == ["ReadRelease", "DecryptRelease", "WriteLogs", "ReadStageSecrets"]
    # Decrypt on the artifacts key only: not kms:* and not every key.
    assert policy["Statement"][1]["Action"] == ["kms:Decrypt"]
    assert policy["Statement"][1]["Resource"] == [KEY_ARN]
    secrets = policy["Statement"][3]["Resource"]
    assert secrets == ["arn:aws:secretsmanager:us-east-1:123456789012:secret:s-abc123"]
    with_media = instance_policy("a", "l", [], "arn:aws:s3:::media", KEY_ARN)
    assert with_media["Statement"][-1]["Resource"] == ["arn:aws:s3:::media/*"]


def test_log_permissions_use_the_group_arn_with_trailing_star() -> None:
    # CloudWatch Logs checks DescribeLogStreams/CreateLogStream against
    # `log-group:<name>:*`, which the bare group ARN does not match.
    group = "arn:aws:logs:us-east-1:123456789012:log-group:/movies/dev/api"
    for given in (group, f"{group}:*"):
        policy = instance_policy("arn:aws:s3:::b/k", given, [], "", KEY_ARN)
        logs = next(s for s in policy["Statement"] if s["Sid"] == "WriteLogs")
        assert logs["Resource"] == [f"{group}:*"]


def test_a_changed_template_at_the_same_path_renders_its_new_text(tmp_path: Path) -> None:
    """Compiled templates are kept for the process (release._CompiledTemplates): one
    rewritten in place is compiled again, never served from the old text."""
    template = tmp_path / "user-data.yaml.j2"
    template.write_text("#cloud-config\nfirst: {{ stage }}\n")
    assert "first: " in render_user_data(template, variables())
    template.write_text("#cloud-config\nsecond: {{ stage }}\n")
    text = render_user_data(template, variables())
    assert "second: " in text and "first" not in text
