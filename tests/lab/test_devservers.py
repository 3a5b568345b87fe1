"""The development-server launchers (devservers/): the binary pick by version number, the
durability switch's place in postgresql.conf, and servers run as another user."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devservers import postgres, process


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


def test_as_user_leaves_our_own_commands_alone() -> None:
    assert process.as_user(["psql", "-c", "x"], None) == ["psql", "-c", "x"]


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a command as `postgres`: needs root")
def test_a_server_started_as_another_user_is_that_user_and_that_process(tmp_path: Path) -> None:
    """The pid the supervisor holds is the server's own (setpriv execs, no parent stays
    behind to swallow the stop signal), running as `postgres` with no supplementary groups."""
    launch = process.Launch(what="sleep", argv=["sleep", "30"], ready=lambda: True, user="postgres")
    proc = process.start(launch, tmp_path / "sleep.log")
    try:
        comm = Path(f"/proc/{proc.pid}/comm")
        deadline = time.monotonic() + 10  # setpriv execs the command a moment after it starts
        while comm.read_text().strip() != "sleep" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert comm.read_text().strip() == "sleep"
        status = Path(f"/proc/{proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines())
        uid = pwd.getpwnam("postgres").pw_uid
        assert fields["Uid"].split()[:2] == [str(uid), str(uid)]
        assert fields["Groups"].strip() == ""
    finally:
        process.stop(proc)
    assert proc.returncode is not None


def _pidfile(datadir: Path, pid: int, port: int, status: str) -> None:
    datadir.mkdir(exist_ok=True)
    lines = [str(pid), str(datadir), "1796600000", str(port), "/tmp", "127.0.0.1", "0 0"]
    (datadir / "postmaster.pid").write_text("\n".join([*lines, f"{status:<8}"]) + "\n")


@pytest.mark.parametrize(
    "status,port_offset,alive,expected",
    [
        ("ready", 0, True, True),
        ("standby", 0, True, True),  # a hot standby that accepts read-only connections
        ("starting", 0, True, False),
        ("stopping", 0, True, False),
        ("ready", 1, True, False),  # another port: not the server we launched
        ("ready", 0, False, False),  # left by a server that was killed
    ],
)
def test_accepting_reads_the_postmaster_status_line(
    tmp_path: Path, status: str, port_offset: int, alive: bool, expected: bool
) -> None:
    pid = os.getpid() if alive else _a_dead_pid()
    _pidfile(tmp_path / "data", pid, 5432 + port_offset, status)
    assert postgres.accepting(tmp_path / "data", 5432) is expected


def test_accepting_is_false_without_a_whole_pid_file(tmp_path: Path) -> None:
    assert not postgres.accepting(tmp_path / "none", 5432)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "postmaster.pid").write_text(f"{os.getpid()}\n/x\n1\n5432\n")
    assert not postgres.accepting(tmp_path / "data", 5432)  # written up to the port only


def _a_dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --- initdb's template --------------------------------------------------------------------
# The clusters come from the run's cache (tests/conftest.py: the one every server test of
# the run copies from), with the superusers and passwords the lab and the tests use, so
# these tests build no template the run would not build anyway.


@pytest.fixture
def run_root() -> Iterator[Path]:
    """Not under tmp_path (0700 above it): the postgres user must reach its data dirs."""
    root = Path(tempfile.mkdtemp(prefix="devservers-test-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_template_is_keyed_by_superuser_password_and_locale() -> None:
    key = postgres._template_key
    base = key("postgres", None, "C")
    assert base == key("postgres", None, "C")
    others = [key("movies", None, "C"), key("postgres", "a", "C"), key("postgres", "b", "C"),
              key("postgres", None, None)]  # fmt: skip
    assert len({base, *others}) == 5


def test_initdb_copies_the_kept_cluster_and_writes_each_its_own_settings(run_root: Path) -> None:
    postgres.initdb(run_root / "a", durable=False)
    kept = postgres.template_cache() / postgres._template_key("postgres", None, "C")
    assert kept.is_dir()
    before = kept.stat().st_mtime_ns
    postgres.initdb(run_root / "b", durable=True, conf="max_connections = 50\n")
    assert kept.stat().st_mtime_ns == before  # copied, not made again
    for name, durable in (("a", False), ("b", True)):
        datadir = run_root / name
        assert (datadir / "PG_VERSION").is_file()
        assert oct(datadir.stat().st_mode & 0o777) == "0o700"
        if os.geteuid() == 0:
            assert datadir.stat().st_uid == pwd.getpwnam("postgres").pw_uid
        conf = (datadir / "postgresql.conf").read_text()
        assert conf.rstrip().endswith(f"full_page_writes = {'on' if durable else 'off'}")
    assert "max_connections = 50" in (run_root / "b" / "postgresql.conf").read_text()
    assert "max_connections = 50" not in (kept / "postgresql.conf").read_text()


@pytest.mark.servers
def test_a_copied_cluster_logs_in_with_its_password_and_refuses_another(run_root: Path) -> None:
    """A cluster from the kept one is a server of its own; the password initdb was given
    is the one that logs in (scram), another is refused."""
    from devservers.process import ServerError, free_port
    from lab.localservers import DB_PASSWORD

    datadir = run_root / "pg"
    postgres.initdb(datadir, durable=False, superuser="movies", password=DB_PASSWORD, locale=None)
    port = free_port()
    proc = process.start(postgres.launch(datadir, port), run_root / "pg.log", timeout=30)
    try:
        psql = [postgres.binary("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "movies"]
        query = [*psql, "-d", "postgres", "-Atc", "select 1"]
        assert postgres.run(query, password=DB_PASSWORD).strip() == "1"
        with pytest.raises(ServerError, match="password authentication failed"):
            postgres.run(query, password=DB_PASSWORD + "x")
    finally:
        process.stop(proc)


def test_a_cache_others_can_write_is_not_used(
    run_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster planted in a shared cache would be copied and run: a cache directory that
    is not ours alone (here 0777) is passed over and initdb runs as it did before."""
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv(postgres.CACHE_ENV, str(shared))
    postgres.initdb(run_root / "c", durable=False)
    assert (run_root / "c" / "PG_VERSION").is_file()
    assert list(shared.iterdir()) == []
