"""`python -m infra ami` against moto's copy of the public AL2023 parameters (a stand-in)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.program import ami

ENV_DIR = Path(__file__).resolve().parents[2] / "stacks" / "env"


@pytest.fixture
def env_dir(tmp_path: Path) -> Path:
    out = tmp_path / "env"
    shutil.copytree(ENV_DIR, out)
    for name in ("dev.yaml", "prod.yaml"):
        path = out / name
        # Start unpinned, as before this command existed.
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(line for line in lines if not line.startswith("ami_ids:")))
    return out


def _moto_current() -> dict[str, str]:
    with ami.reader_for("moto-stand-in") as read:
        return {arch: read("us-east-1", ami.parameter_name(arch)) for arch in ami.ARCHITECTURES}


def test_check_fails_unpinned_then_write_pins_current_and_keeps_every_other_line(
    env_dir: Path,
) -> None:
    before = (env_dir / "dev.yaml").read_text().splitlines()

    assert ami.main(["--source", "moto-stand-in", "--check"], env_dir=env_dir) == 1
    assert ami.main(["--source", "moto-stand-in", "--write", "--env", "dev"], env_dir=env_dir) == 0

    after = (env_dir / "dev.yaml").read_text().splitlines()
    assert after[: len(before)] == before
    region, pins = ami.read_profile(env_dir / "dev.yaml")
    assert region == "us-east-1" and pins == _moto_current()
    assert ami.main(["--source", "moto-stand-in", "--check", "--env", "dev"], env_dir=env_dir) == 0
    # prod was not asked for: still unpinned.
    assert ami.read_profile(env_dir / "prod.yaml")[1] == {}


def test_write_replaces_an_old_pin_in_place(env_dir: Path) -> None:
    path = env_dir / "prod.yaml"
    ami.write_pins(path, {"arm64": "ami-00000000", "x86_64": "ami-11111111"})
    lines = path.read_text().splitlines()

    assert ami.main(["--source", "moto-stand-in", "--write", "--env", "prod"], env_dir=env_dir) == 0

    new_lines = path.read_text().splitlines()
    assert len(new_lines) == len(lines)
    assert ami.read_profile(path)[1] == _moto_current()
    states = {
        p.arch: p.state
        for p in ami.current_pins(["prod"], lambda region, name: "ami-00000000", env_dir)
    }
    assert states == {"arm64": "bump available", "x86_64": "bump available"}


def test_bad_ids_and_profiles_are_one_line_errors(
    env_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ami.AmiError, match=r"ami_ids.arm64: 'ami-xyz' is not an AMI id"):
        ami.write_pins(env_dir / "dev.yaml", {"arm64": "ami-xyz"})
    (env_dir / "dev.yaml").write_text("just: text\n")
    assert ami.main(["--source", "moto-stand-in", "--env", "dev"], env_dir=env_dir) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no 'region'" in err and "\n" not in err
