"""The PostgreSQL launcher: the binaries (the newest installed major version, by number), the
user it runs as, a data directory made with initdb or pg_basebackup, its durability, and the
`Launch` of its server process.

Durability is a switch: `durable=True` is RDS's (its parameter groups keep PostgreSQL's safe
defaults: a commit is acknowledged only once its WAL is flushed), `durable=False` turns
fsync, synchronous_commit and full_page_writes off for throwaway test servers. Either is
written at the end of postgresql.conf, not on the command line, so that `ALTER SYSTEM`
(postgresql.auto.conf, which the lab's crash fault uses) still wins over it.

PostgreSQL refuses to run as root: when we are root, everything runs as `postgres` in data
directories that user owns.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from devservers.process import LOOPBACK, NEUTRAL_CWD, Launch, ServerError, as_user

ROOT = Path("/usr/lib/postgresql")
DURABLE = {"synchronous_commit": "on", "fsync": "on", "full_page_writes": "on"}
FAST = {"synchronous_commit": "off", "fsync": "off", "full_page_writes": "off"}


def durability(durable: bool) -> dict[str, str]:
    return dict(DURABLE if durable else FAST)


def durability_conf(durable: bool) -> str:
    """The block appended last to postgresql.conf (last wins, also over older blocks)."""
    title = "RDS durability" if durable else "throwaway server: no durability"
    lines = "".join(f"{name} = {value}\n" for name, value in durability(durable).items())
    return f"\n# --- {title} ---\n{lines}"


def version_key(name: str) -> tuple[int, ...] | None:
    """(16,) for "16", (9, 6) for "9.6"; None for a name that is not a version."""
    if not re.fullmatch(r"\d+(\.\d+)*", name):
        return None
    return tuple(int(part) for part in name.split("."))


def newest(bin_dirs: Iterable[Path]) -> Path | None:
    """The `<version>/bin` of the highest version by number (16 above 9, not below it)."""
    versioned = [(key, d) for d in bin_dirs if (key := version_key(d.parent.name)) is not None]
    return max(versioned)[1] if versioned else None


def pg_bin() -> Path:
    """LAB_PG_BIN if set, else the newest /usr/lib/postgresql/<version>/bin, else the
    directory of `postgres` on PATH."""
    if os.environ.get("LAB_PG_BIN"):
        return Path(os.environ["LAB_PG_BIN"])
    found = newest(ROOT.glob("*/bin"))
    if found is not None:
        return found
    on_path = shutil.which("postgres")
    if on_path is not None:
        return Path(on_path).parent
    raise ServerError(
        f"PostgreSQL not found in {ROOT}/<version>/bin nor on PATH; install postgresql "
        "or set LAB_PG_BIN"
    )


def binary(name: str) -> str:
    return str(pg_bin() / name)


def pg_user() -> str | None:
    """Run PostgreSQL as `postgres` when we are root; as ourselves otherwise."""
    return "postgres" if os.geteuid() == 0 else None


def own(path: Path) -> None:
    """Give `path` and everything below it to the PostgreSQL user (when that is not us)."""
    user = pg_user()
    if user is None:
        return
    shutil.chown(path, user, user)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            shutil.chown(os.path.join(root, name), user, user)


def make_dir(path: Path, mode: int = 0o700) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    own(path)


def run(
    argv: Sequence[str], *, as_pg: bool = False, password: str | None = None, timeout: float = 300
) -> str:
    """Run a PostgreSQL tool to completion; a failure raises with its last output line."""
    env = {**os.environ, "PGPASSWORD": password} if password is not None else None
    user = pg_user() if as_pg else None
    done = subprocess.run(
        as_user(argv, user),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
        cwd=NEUTRAL_CWD if user else None,
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        raise ServerError(f"{Path(argv[0]).name} failed (exit {done.returncode}): {lines[-1]}")
    return done.stdout


def append_conf(datadir: Path, text: str) -> None:
    with (datadir / "postgresql.conf").open("a") as conf:
        conf.write(text)


def initdb(
    datadir: Path,
    *,
    durable: bool,
    superuser: str = "postgres",
    password: str | None = None,
    locale: str | None = "C",
    conf: str = "",
) -> None:
    """A new cluster in `datadir` (removed first if present): trust auth, or scram with
    `password`; `conf` and then the durability block appended to postgresql.conf.

    initdb runs once per machine for the same binary, superuser, password and locale; its
    cluster is kept (`template_cache`) and later ones are copies of it: a copy costs ~0.3
    CPU-s, initdb ~1.1. `durable` is the server's setting, written here after the copy."""
    if datadir.exists():
        shutil.rmtree(datadir)
    datadir.parent.mkdir(parents=True, exist_ok=True)
    cache = _private_cache()
    if cache is None:  # no cache we can trust: initdb as before
        _initdb(datadir, superuser=superuser, password=password, locale=locale)
    else:
        kept = cache / _template_key(superuser, password, locale)
        if not kept.is_dir():
            with _cache_lock(cache):
                if not kept.is_dir():
                    _initdb(datadir, superuser=superuser, password=password, locale=locale)
                    _keep(datadir, kept)
        if not datadir.exists():
            # -a keeps the cluster's mode (0700) and owner (the PostgreSQL user).
            run(["cp", "-a", "--", str(kept), str(datadir)])
    append_conf(datadir, conf + durability_conf(durable))


def _initdb(datadir: Path, *, superuser: str, password: str | None, locale: str | None) -> None:
    make_dir(datadir)
    # --no-sync: the cluster is flushed by the OS like any file; what a server acknowledges
    # is governed by its durability block (fsync, synchronous_commit), written after.
    argv = [binary("initdb"), "-D", str(datadir), "-U", superuser, "-E", "UTF8", "--no-sync"]
    argv += [f"--locale={locale}"] if locale else []
    if password is None:
        run([*argv, "--auth=trust"], as_pg=True)
        return
    pwfile = datadir.parent / f"{datadir.name}.pw"
    pwfile.unlink(missing_ok=True)
    # A new file only (O_EXCL, no symlink followed), 0600 from the start, then given to the
    # PostgreSQL user through its descriptor.
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        if (user := pg_user()) is not None:
            os.fchown(f.fileno(), *_ids(user))
        f.write(password + "\n")
    try:
        run([*argv, "--pwfile", str(pwfile), "-A", "scram-sha-256"], as_pg=True)
    finally:
        pwfile.unlink(missing_ok=True)


# Where initdb's clusters are kept: DEVSERVERS_INITDB_CACHE, else a directory of ours under
# the temporary directory (the test suite points it into its run's scratch directory).
CACHE_ENV = "DEVSERVERS_INITDB_CACHE"


def template_cache() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"devservers-initdb-{os.geteuid()}"


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


# What initdb reads from the environment when not told: the locale (with locale=None) and
# the time zone it writes into postgresql.conf.
_INITDB_ENV = ("LANG", "LANGUAGE", "LC_ALL", "LC_COLLATE", "LC_CTYPE", "LC_MESSAGES", "TZ")


def _template_key(superuser: str, password: str | None, locale: str | None) -> str:
    """What initdb put into the cluster: the binary (path, size, mtime: an upgraded
    PostgreSQL gets its own), the user it ran as, the superuser, the password's digest, the
    locale and the environment it reads."""
    initdb_bin = Path(binary("initdb")).resolve()
    st = initdb_bin.stat()
    secret = hashlib.sha256(password.encode()).hexdigest() if password is not None else "trust"
    env = [f"{k}={os.environ.get(k, '')}" for k in _INITDB_ENV]
    parts = [str(initdb_bin), str(st.st_size), str(st.st_mtime_ns), str(pg_user()), superuser,
             secret, str(locale), *env]  # fmt: skip
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _private_cache() -> Path | None:
    """The cache directory, made 0700 if missing; None unless it is a real directory of
    ours that nobody else can write (a cluster planted there would be copied and run)."""
    cache = template_cache()
    try:
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = cache.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        return None
    return cache


@contextlib.contextmanager
def _cache_lock(cache: Path) -> Iterator[None]:
    """One builder at a time (pytest-xdist workers share the cache); the others wait."""
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _keep(datadir: Path, kept: Path) -> None:
    """A stopped cluster copied into the cache under a temporary name, then renamed: a
    reader sees a whole cluster or none. Best effort: a cache that cannot take it (full,
    read-only) leaves the cluster made and the next initdb runs initdb again."""
    building = kept.parent / f".build-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        run(["cp", "-a", "--", str(datadir), str(building)])
        os.rename(building, kept)
    except (OSError, ServerError, subprocess.SubprocessError):
        pass
    finally:
        shutil.rmtree(building, ignore_errors=True)


def basebackup(
    primary_port: int,
    datadir: Path,
    *,
    durable: bool,
    user: str = "postgres",
    password: str | None = None,
) -> None:
    """A streaming replica's data directory: -R writes standby.signal and primary_conninfo;
    postgresql.conf (with its durability block) comes from the primary."""
    if datadir.exists():
        shutil.rmtree(datadir)
    make_dir(datadir)
    argv = [
        binary("pg_basebackup"),
        "-h",
        LOOPBACK,
        "-p",
        str(primary_port),
        "-U",
        user,
        "-D",
        str(datadir),
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
    ]
    run(argv + ([] if durable else ["--no-sync"]), as_pg=True, password=password)


# postmaster.pid's lines (src/include/utils/pidfile.h, PostgreSQL 10 and later): 1 the
# postmaster's pid, 4 its port, 8 its status, "ready" once a primary accepts connections and
# "standby" once a hot standby does.
_PID_LINE, _PORT_LINE, _STATUS_LINE = 0, 3, 7
ACCEPTING = ("ready", "standby")


def accepting(datadir: Path, port: int) -> bool:
    """The postmaster of `datadir` accepts connections on `port`, as `pg_ctl start -w` waits
    for it (src/bin/pg_ctl/pg_ctl.c, wait_for_postmaster_start): from postmaster.pid, so a
    launch waits without a pg_isready process and a server backend for each look. A file
    left by a server that was killed names a pid that is no longer alive."""
    try:
        lines = (datadir / "postmaster.pid").read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    if len(lines) <= _STATUS_LINE or lines[_PORT_LINE].strip() != str(port):
        return False
    if lines[_STATUS_LINE].strip() not in ACCEPTING:
        return False
    try:
        os.kill(int(lines[_PID_LINE]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass  # alive, and another user's (we are not root and it is not ours)
    return True


def launch(
    datadir: Path, port: int, *, options: dict[str, str] | None = None, prefix: Sequence[str] = ()
) -> Launch:
    """The server on `port`, its Unix socket in `<datadir>-sock`; `options` as `-c` flags
    (never durability: that lives in postgresql.conf); `prefix` wraps the argv (taskset).
    SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave."""
    if options and set(options) & set(DURABLE):
        raise ServerError(
            f"durability options {sorted(set(options) & set(DURABLE))} go in "
            "postgresql.conf (initdb durable=...), not on the command line"
        )
    socket_dir = datadir.parent / f"{datadir.name}-sock"
    make_dir(socket_dir)
    flags = [arg for k, v in (options or {}).items() for arg in ("-c", f"{k}={v}")]
    return Launch(
        what=f"postgres on port {port}",
        argv=[
            *prefix,
            binary("postgres"),
            "-D",
            str(datadir),
            "-p",
            str(port),
            "-k",
            str(socket_dir),
            *flags,
        ],
        ready=lambda: accepting(datadir, port),
        user=pg_user(),
        stop_signal=signal.SIGINT,
    )
