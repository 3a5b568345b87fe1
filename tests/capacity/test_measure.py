"""The backend measurement script on real PostgreSQL and Redis (small and short)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infra.capacity import measure


@pytest.mark.servers
@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-tools not installed")
def test_measure_writes_positive_rates_for_every_query_kind(tmp_path: Path) -> None:
    out = tmp_path / "measured.json"
    # 100 transactions per client and pgbench run (--seconds 1 before: eight runs that kept
    # both cores busy for 8 s): a point read's run still costs its server ~0.06 CPU-s, far
    # over the clock tick the per-CPU-second figure divides by.
    argv = ["--rows", "5000", "--transactions", "100", "--repeat", "2",
            "--redis-requests", "2000", "--out", str(out)]  # fmt: skip
    assert measure.main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["command"].endswith("--out " + str(out))
    assert doc["postgres"]["transactions_per_client"] == 100
    assert doc["postgres"]["search_matches"] == {"search": 3, "search_wide": 50}
    figures = doc["postgres"]["transactions"] | doc["redis"]["ops"]
    assert set(figures) == {"point_read", "search", "search_wide", "write", "get", "set"}
    for name, f in figures.items():
        assert len(f["runs"]) == 2, name  # two runs per figure, the median kept
        assert f["per_second"] > 0 and f["per_cpu_second"] > 0, name
        assert f["per_second"] == pytest.approx(sum(r[0] for r in f["runs"]) / 2, rel=1e-3)


def test_bad_arguments_are_one_line_errors(capsys) -> None:
    with pytest.raises(SystemExit) as err:
        measure.main(["--seconds", "0"])
    assert err.value.code == 2
    assert "--seconds 0; allowed: >= 1" in capsys.readouterr().err
