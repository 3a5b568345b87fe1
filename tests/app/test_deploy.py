"""The image recipe: the cloud-init template for each stage's endpoints, its boot script,
the systemd unit, and the artifact build."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import jinja2
import pytest
import yaml
from movies_api import __version__
from movies_api.settings import load_settings

from infra.guard.cloud_init_cli import cloud_init

DEPLOY = Path(__file__).resolve().parents[2] / "app_image" / "deploy"
BUILD_PY = DEPLOY.parent / "build.py"

SINGLE_BOX = {
    "stage": "single-box", "environment": "dev", "region": "us-east-1", "app_port": 8000,
    "artifact_bucket": "movies-dev-artifacts", "artifact_key": "releases/movies-api-0.1.0.tar.gz",
    "local_postgres": True, "db_host": "127.0.0.1", "db_port": 5432, "db_name": "movies",
    "db_reader_host": "", "db_secret_arn": "", "redis_host": "", "redis_port": 6379,
    "redis_auth_secret_arn": "", "media_bucket": "", "cdn_base_url": "",
    "metrics_allow_cidrs": "10.0.0.0/16", "log_group": "/movies/dev/app",
    "http_keepalive_s": 75,
}  # fmt: skip
SPLIT_DB = {
    **SINGLE_BOX, "stage": "split-db", "local_postgres": False,
    "db_host": "movies-dev.c1.us-east-1.rds.amazonaws.com",
    "db_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCd",
}  # fmt: skip
CACHED = {
    **SPLIT_DB, "stage": "cached", "redis_host": "master.movies-dev.x1.use1.cache.amazonaws.com",
    "redis_auth_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-Xy",
}  # fmt: skip
EDGE = {
    **CACHED, "stage": "edge", "environment": "prod", "region": "eu-west-1",
    "db_reader_host": "movies-prod-replica-1.c1.eu-west-1.rds.amazonaws.com",
    "media_bucket": "movies-prod-media", "cdn_base_url": "https://d1234.cloudfront.net",
}  # fmt: skip
STAGES = {"single-box": SINGLE_BOX, "split-db": SPLIT_DB, "cached": CACHED, "edge": EDGE}


def render(variables: dict[str, object]) -> str:
    # The same jinja settings as infra's release component: every variable must be given.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(DEPLOY)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, autoescape=False,
    )  # fmt: skip
    return env.get_template("user-data.yaml.j2").render(**variables)


def written(text: str, path: str) -> str:
    doc = yaml.safe_load(text)
    [entry] = [w for w in doc["write_files"] if w["path"] == path]
    return entry["content"]


def env_file(text: str) -> dict[str, str]:
    lines = written(text, "/etc/movies-api/env").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip())


@pytest.mark.parametrize("stage", list(STAGES))
def test_rendered_user_data_passes_cloud_init_schema(stage: str, tmp_path: Path) -> None:
    text = render(STAGES[stage])
    assert text.startswith("#cloud-config\n")
    assert len(text.encode()) < 16384  # the EC2 user-data limit
    path = tmp_path / "user-data.yaml"
    path.write_text(text)
    # The installed CLI's verdict, from one process of its interpreter
    # (infra/guard/cloud_init_cli.py; tests/guard/test_cloud_init_cli.py holds it to the CLI).
    result = cloud_init("schema", "-c", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid schema" in result.stdout or "Valid cloud-config" in result.stdout


def test_cloud_init_schema_check_rejects_a_broken_document(tmp_path: Path) -> None:
    # The control for the test above: the checker does fail on a bad key type.
    path = tmp_path / "bad.yaml"
    path.write_text(render(SINGLE_BOX).replace("runcmd:", "runcmd: 5\nx_runcmd:", 1))
    result = cloud_init("schema", "-c", str(path))
    assert result.returncode != 0
    assert "runcmd: 5 is not of type 'array'" in result.stderr


def test_missing_variable_fails_with_strict_undefined() -> None:
    variables = dict(SINGLE_BOX)
    del variables["redis_host"]
    with pytest.raises(jinja2.UndefinedError, match="redis_host"):
        render(variables)


def test_settings_file_per_stage_is_valid_for_the_service() -> None:
    single = env_file(render(SINGLE_BOX))
    assert "MOVIES_DATABASE_URL" not in single  # the boot script adds it with the local pw
    assert single["MOVIES_CACHE_ENABLED"] == "false" and single["MOVIES_PORT"] == "8000"

    split = env_file(render(SPLIT_DB))
    assert split["MOVIES_DATABASE_URL"] == (
        "postgresql://movies-dev.c1.us-east-1.rds.amazonaws.com:5432/movies?sslmode=require"
    )
    assert split["MOVIES_DB_SECRET_ARN"] == SPLIT_DB["db_secret_arn"]
    assert "MOVIES_REDIS_URL" not in split

    edge = env_file(render(EDGE))
    assert edge["MOVIES_REDIS_URL"].startswith("rediss://master.movies-dev")  # TLS
    assert edge["MOVIES_DATABASE_READER_URLS"].startswith("postgresql://movies-prod-replica-1")
    assert edge["MOVIES_CDN_BASE_URL"] == "https://d1234.cloudfront.net"
    assert edge["AWS_REGION"] == "eu-west-1"
    for values in (split, edge):
        settings = load_settings(values)  # the service accepts what the template writes
        assert settings.stage in ("split-db", "edge")
    assert load_settings(edge).cache_active and load_settings(edge).reader_urls

    two = env_file(render({**EDGE, "db_reader_host": "r1.rds.amazonaws.com, r2.rds.amazonaws.com"}))
    assert load_settings(two).reader_urls == (
        "postgresql://r1.rds.amazonaws.com:5432/movies?sslmode=require",
        "postgresql://r2.rds.amazonaws.com:5432/movies?sslmode=require",
    )


@pytest.mark.parametrize("stage", list(STAGES))
def test_no_secret_values_in_user_data(stage: str) -> None:
    text = render(STAGES[stage])
    for line in written(text, "/etc/movies-api/env").splitlines():
        key, value = line.split("=", 1)
        # only ARNs of secrets; no URL carries user:password@host (filled in at run time)
        assert not re.search(r"PASSWORD|TOKEN|SECRET(?!_ARN)", key), line
        assert "@" not in value, line
    # the single-box DB password is generated on the instance, never templated
    assert not re.search(r"(?i)password(\s*=\s*|:\s+)['\"]?[A-Za-z0-9]", text)
    if stage == "single-box":
        assert "openssl rand -hex 24" in text


def test_env_file_is_root_only_and_unit_reads_it() -> None:
    doc = yaml.safe_load(render(CACHED))
    by_path = {w["path"]: w for w in doc["write_files"]}
    assert by_path["/etc/movies-api/env"]["permissions"] == "0600"
    assert by_path["/usr/local/sbin/movies-api-bootstrap"]["permissions"] == "0700"
    unit = by_path["/etc/systemd/system/movies-api.service"]["content"]
    assert "EnvironmentFile=/etc/movies-api/env" in unit and "User=movies" in unit
    assert doc["runcmd"][-1] == ["/usr/local/sbin/movies-api-bootstrap"]
    packages = doc["packages"]
    assert "python3.11" in packages and "postgresql15-server" not in packages
    assert "postgresql15-server" in yaml.safe_load(render(SINGLE_BOX))["packages"]


@pytest.mark.parametrize("stage", list(STAGES))
def test_boot_script_is_valid_bash(stage: str, tmp_path: Path) -> None:
    script = written(render(STAGES[stage]), "/usr/local/sbin/movies-api-bootstrap")
    assert script.startswith("#!/bin/bash\n")
    path = tmp_path / "bootstrap.sh"
    path.write_text(script)
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "s3://movies-dev-artifacts/releases/movies-api-0.1.0.tar.gz" in script
    assert ("postgresql-setup --initdb" in script) == (stage == "single-box")
    assert script.index('movies-api" migrate') < script.index("enable --now movies-api")


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    unit = (DEPLOY / "movies-api.service").read_text()
    # verify checks the binary exists; point it at one that does on this machine
    unit = unit.replace("/opt/movies-api/venv/bin/movies-api", shutil.which("true") or "/bin/true")
    path = tmp_path / "movies-api.service"
    path.write_text(unit)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0 and "movies-api.service" not in result.stderr, result.stderr


@pytest.mark.servers
def test_single_box_database_setup_sql_is_idempotent(tmp_path: Path) -> None:
    """Run the boot script's psql block twice against a real server, then log in with the
    generated password, as the service will."""
    from lab.localservers import Postgres, pg_bin, temp_root

    script = written(render(SINGLE_BOX), "/usr/local/sbin/movies-api-bootstrap")
    sql = script.split("<<'SQL'\n", 1)[1].split("\nSQL\n", 1)[0]
    root = temp_root("movies-boot-")
    pg = Postgres(root / "pg")
    try:
        pg.init()
        # The block runs as the superuser (postgres on the instance); here a separate admin
        # role, since it changes the password of the `movies` role it logs in with.
        subprocess.run(
            [pg_bin("psql"), pg.url("postgres"), "-qc",
             "CREATE ROLE admin SUPERUSER LOGIN PASSWORD 'adminpw'"],
            check=True, capture_output=True,
        )  # fmt: skip
        admin = {**os.environ, "PGPASSWORD": "adminpw", "MOVIES_DB_PW": "s3cret-generated"}
        for _ in range(2):
            run = subprocess.run(
                [pg_bin("psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "admin",
                 "-d", "postgres", "-q", "-v", "ON_ERROR_STOP=1"],
                input=sql, capture_output=True, text=True, env=admin,
            )  # fmt: skip
            assert run.returncode == 0, run.stderr
        login = subprocess.run(
            [pg_bin("psql"), f"postgresql://movies:s3cret-generated@127.0.0.1:{pg.port}/movies",
             "-tAc", "select current_user"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert login.stdout.strip() == "movies", login.stderr
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def _load_build():
    import importlib.util

    spec = importlib.util.spec_from_file_location("movies_build", BUILD_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_artifact_pins_what_the_venv_pins() -> None:
    """Every runtime dependency of the artifact (whose wheelhouse the instances install)
    is pinned to the same version in requirements.txt, which the tests and the lab run on:
    what was measured is what is deployed (uvloop, httptools, orjson, hiredis included)."""
    venv = {}
    for line in (DEPLOY.parents[1] / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            venv[re.sub(r"\[.*\]", "", name).lower()] = version
    runtime = dict(r.lower().split("==", 1) for r in _load_build().runtime_requirements())
    assert {"uvloop", "httptools", "orjson", "hiredis"} <= set(runtime)
    assert {name: venv.get(name) for name in runtime} == runtime


def test_artifact_name_follows_the_package_version() -> None:
    assert _load_build().artifact_name() == f"movies-api-{__version__}.tar.gz"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact without the wheelhouse for the module (each build runs `pip wheel`);
    the tests only read it."""
    return _load_build().build(tmp_path_factory.mktemp("build") / "a", wheelhouse=False)


def test_build_without_wheelhouse_is_reproducible(built: Path, tmp_path: Path) -> None:
    first = built
    second = _load_build().build(tmp_path / "b", wheelhouse=False)
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        names = sorted(tar.getnames())
    top = f"movies-api-{__version__}"
    assert names == sorted(
        [
            f"{top}/BUILD-INFO.json",
            f"{top}/requirements.lock",
            f"{top}/movies_api-{__version__}-py3-none-any.whl",
        ]
    )
    with tarfile.open(first) as tar:
        lock = tar.extractfile(f"{top}/requirements.lock").read().decode()
    assert "asyncpg==0.32.0" in lock and "starlette==1.10.0" in lock


def test_built_wheel_installs_and_carries_its_migrations(built: Path, tmp_path: Path) -> None:
    import sys

    with tarfile.open(built) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    [wheel] = (tmp_path / "x").glob("*/movies_api-*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )
    # From the installed copy only (cwd and PYTHONPATH away from app_image/).
    probe = (
        "import movies_api, movies_api.migrate as m; print(movies_api.__file__); "
        "print([x.version for x in m.available_migrations()])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        check=True,
    )
    path, versions = out.stdout.splitlines()
    assert path.startswith(str(site)) and versions == "[1, 2]"
    assert (site / "bin" / "movies-api").exists()  # the unit's ExecStart entry point


def _retry_function(script: str) -> str:
    start = script.index("retry() {")
    return script[start : script.index("\n}\n", start) + 3]


def test_boot_retries_network_calls_until_they_succeed(tmp_path: Path) -> None:
    # The single box has no public address until its Elastic IP is attached, after it runs.
    script = written(render(SPLIT_DB), "/usr/local/sbin/movies-api-bootstrap")
    assert "\nretry aws s3 cp " in script
    assert '\nretry "$APP/venv/bin/movies-api" bootstrap-secrets' in script
    counter = tmp_path / "calls"
    flaky = f"n=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); echo $n > {counter}; [ $n -ge 3 ]"
    program = _retry_function(script) + f"retry bash -c '{flaky}'\n"
    run = subprocess.run(
        ["bash", "-c", program],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "RETRY_SLEEP": "0"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert counter.read_text().strip() == "3"


def test_boot_retry_gives_up_and_fails_the_boot() -> None:
    script = written(render(SPLIT_DB), "/usr/local/sbin/movies-api-bootstrap")
    run = subprocess.run(
        ["bash", "-c", _retry_function(script) + "retry false\n"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "RETRY_SLEEP": "0", "RETRY_ATTEMPTS": "3"},
    )
    assert run.returncode == 1
    assert "giving up after 3 attempts: false" in run.stdout
