"""`python -m lab remodel --out DIR`: a directory without a bench.json is one line, not a
traceback, and nothing is written there."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.__main__ import main


@pytest.mark.parametrize("kind", ["empty-dir", "file"])
def test_remodel_without_a_bench_json_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    out = tmp_path / "results"
    if kind == "empty-dir":
        out.mkdir()
    else:
        out.write_text("{}")
    assert main(["remodel", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: remodel --out {out}: no bench.json there; allowed:")
    if kind == "empty-dir":
        assert list(out.iterdir()) == []
