"""The development-server launchers (devservers/): the binary pick by version number and the
durability switch's place in postgresql.conf."""

from __future__ import annotations

from pathlib import Path

import pytest

from devservers import postgres


def test_the_newest_postgresql_is_picked_by_number_not_by_string() -> None:
    dirs = [Path(f"/usr/lib/postgresql/{v}/bin") for v in ("9.6", "16", "9", "10", "15")]
    assert sorted(dirs)[-1].parent.name == "9.6"  # what a string sort would pick
    assert postgres.newest(dirs) == Path("/usr/lib/postgresql/16/bin")


def test_directories_that_are_not_versions_are_ignored() -> None:
    dirs = [Path("/usr/lib/postgresql/common/bin"), Path("/usr/lib/postgresql/14/bin")]
    assert postgres.newest(dirs) == Path("/usr/lib/postgresql/14/bin")
    assert postgres.newest([Path("/usr/lib/postgresql/common/bin")]) is None
    assert postgres.version_key("9.6") == (9, 6) and postgres.version_key("16beta") is None


def test_pg_bin_prefers_lab_pg_bin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAB_PG_BIN", str(tmp_path))
    assert postgres.pg_bin() == tmp_path


@pytest.mark.parametrize("durable,value", [(True, "on"), (False, "off")])
def test_the_durability_switch_sets_all_three_settings(durable: bool, value: str) -> None:
    conf = postgres.durability_conf(durable)
    for name in ("synchronous_commit", "fsync", "full_page_writes"):
        assert f"\n{name} = {value}\n" in conf


def test_durability_is_refused_on_the_command_line(tmp_path: Path) -> None:
    # On the command line it would beat ALTER SYSTEM, which the lab's crash fault relies on.
    with pytest.raises(postgres.ServerError, match=r"postgresql\.conf"):
        postgres.launch(tmp_path / "data", 5432, options={"fsync": "off"})
