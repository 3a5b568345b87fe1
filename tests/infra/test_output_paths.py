"""`--out` and `build/` problems (issue 22, finding 6): a file where a folder is expected, a
path that cannot be created, a dangling or looping symlink each give one line naming the
path, exit 2, and nothing written; before, each was a pathlib traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.__main__ import main
from infra.paths import PathError, output_dir


def _bad_outs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a-file").write_text("x")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    os.symlink(tmp_path / "a-file", tmp_path / "to-a-file")
    return {
        "a file": tmp_path / "a-file",
        "under a file": tmp_path / "a-file" / "sub",
        "dangling symlink": tmp_path / "dangling",
        "under a dangling symlink": tmp_path / "dangling" / "plan",
        "symlink loop": tmp_path / "loop",
        "under a symlink loop": tmp_path / "loop" / "plan",
        "symlink to a file": tmp_path / "to-a-file",
        "under /proc": Path("/proc/no-such-dir/plan"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "a file",
        "under a file",
        "dangling symlink",
        "under a dangling symlink",
        "symlink loop",
        "under a symlink loop",
        "symlink to a file",
        "under /proc",
    ],
)
def test_output_dir_refuses_in_one_line(tmp_path: Path, case: str) -> None:
    path = _bad_outs(tmp_path)[case]
    with pytest.raises(PathError) as info:
        output_dir(path)
    message = str(info.value)
    assert ("\n" not in message and "allowed" in message) or "cannot create" in message
    assert str(path).split("/")[-1] in message or str(path.parent) in message


def test_output_dir_creates_and_accepts_a_symlink_to_a_directory(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert output_dir(tmp_path / "link" / "plan").is_dir()
    assert output_dir(tmp_path / "new" / "deeper").is_dir()


@pytest.mark.parametrize("command", [["plan"], ["diagram", "dev/single-box"], ["report"]])
@pytest.mark.parametrize("case", ["a file", "dangling symlink", "symlink loop", "under /proc"])
def test_the_clis_give_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], case: str
) -> None:
    out = _bad_outs(tmp_path)[case]
    assert main([*command, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not (out.is_dir() and any(out.iterdir()))


def test_a_looping_path_below_the_checked_one_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last net: pathlib's RuntimeError('Symlink loop ...') from anywhere in a command."""
    import infra.plans.build as build

    def loop(argv: list[str]) -> int:
        raise RuntimeError("Symlink loop from '/x/build/artifact/movies-api.tar.gz'")

    monkeypatch.setattr(build, "main", loop)
    assert main(["plan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "symlink loop" in err[0] and "/x/build/artifact" in err[0]
