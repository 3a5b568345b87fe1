"""Fixtures shared by every test area: the 14 offline plans, built once per session.

`stack_plans` holds all (environment, stage) plans from `infra.plans.build.build_plan`.
Planning the 14 stacks costs ~6 s of CPU; tests/program, tests/plans, tests/review and
tests/policy all read them, so the session plans them once and each area's fixture (`plans`
below for tests/program and tests/plans, `real_plans` in tests/review and tests/policy)
takes its own deep copy: a test that mutates a plan cannot
change what another area sees.

Under pytest-xdist (pyproject's addopts) every worker is its own process and would plan all
14 stacks again. The workers of one run share a directory that the controller makes before
it starts them (`RUN_SHARED_DIR`, removed when the run ends, so never stale): the first
worker to need a stack plans it under that stack's file lock and pickles it there; the
others load the pickle. Each worker starts at its own offset in the list of stacks, so the
workers plan different stacks at the same time.
"""

from __future__ import annotations

import copy
import fcntl
import gc
import hashlib
import os
import pickle
import shutil
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devservers import postgres as pg_launcher
from tests.run_shared import RUN_SHARED_DIR, scratch_in_memory, shared_dir

Plan = dict[str, Any]
StackKey = tuple[str, str]

_PLANS: dict[StackKey, Plan] = {}
_OWNED_DIR = pytest.StashKey[str]()  # the controller's: it removes the directory at the end
_PASSED = pytest.StashKey[bool]()


# The cyclic garbage collector's first threshold, for the test processes only: a worker
# holds the 14 plans, their copies and the Pulumi SDK's objects, and at the default 700
# allocations per young collection, collections that promote into and then sweep that heap
# were a fifth of the CPU of the tests that read plans (tests/program, policy, plans and
# review alone with -n 0: 73 CPU-s at the default, 57.5 at 50,000, 2026-12-06). The
# thresholds change when cycles are collected, not what any code computes; the servers the
# tests start are processes of their own, at Python's defaults.
GC_THRESHOLDS = (50_000, 20, 100)


@pytest.hookimpl(tryfirst=True)  # before pytest's tmp_path plugin reads --basetemp
def pytest_configure(config: pytest.Config) -> None:
    """The xdist controller makes the run's directory: the workers' shared files and,
    unless --basetemp was given, their basetemps (<dir>/popen-gwN/), so a test's tmp_path
    is no longer than in a one-process run (some tests print it in a one-line error, which
    cuts long values)."""
    gc.set_threshold(*GC_THRESHOLDS)
    _one_botocore_data_loader()
    is_worker = hasattr(config, "workerinput")
    if is_worker:
        _share_rewritten_modules()
    if is_worker or not config.getoption("numprocesses", default=None):
        return
    if RUN_SHARED_DIR in os.environ:
        return  # a pytest run inside a test of this suite: the outer run's directory
    scratch_in_memory()
    run_dir = tempfile.mkdtemp(prefix="pt-")
    os.environ[RUN_SHARED_DIR] = run_dir
    # initdb's templates (devservers/postgres.py) for this run's workers, gone with the run:
    # a run pays for its own, whatever ran before it.
    os.environ.setdefault(pg_launcher.CACHE_ENV, os.path.join(run_dir, "initdb"))
    config.stash[_OWNED_DIR] = run_dir
    if config.option.basetemp is None:
        config.option.basetemp = run_dir


def _one_botocore_data_loader() -> None:
    """The test process's botocore sessions share one data loader per data path (and so
    its cache of the bundled JSON: endpoints.json, the partitions, each service model):
    infra/verify.py's `data_loader`, the one verify's own sessions use, installed as
    botocore's factory.

    A process in production makes its clients from boto3's one default session, so it
    parses each of those files once. moto's `mock_aws()` replaces the default session on
    entry, so every mocked test made a session, and a loader, of its own and parsed them
    again: 0.27-0.55 CPU-s per EC2 client here, 0.05 with the loader shared (2026-12-07).
    The loader only reads files that ship with botocore; what each session configures
    (credentials, region, endpoints, moto's hooks) is still its own. boto3 appends its own
    data directory to the loader's search paths for every session: kept once."""
    import boto3.session
    import botocore.session

    from infra.verify import data_loader, once_each_search_path

    if botocore.session.create_loader is data_loader:
        return
    botocore.session.create_loader = data_loader  # type: ignore[assignment]
    setup_loader = boto3.session.Session._setup_loader

    def _setup_loader(self: boto3.session.Session) -> None:
        setup_loader(self)
        once_each_search_path(self._loader)

    boto3.session.Session._setup_loader = _setup_loader  # type: ignore[method-assign]


def _share_rewritten_modules() -> None:
    """The workers of a run rewrite each test module's asserts once between them.

    pytest rewrites every test module and conftest it imports and caches the result beside
    the source, unless bytecode writing is off (PYTHONDONTWRITEBYTECODE, set on the
    development machines): then each of the four workers rewrote all of them, every run. A
    run that collects the suite and runs one test took 13.7-14.9 s (27-30 CPU-s) so, against
    6.8 s (13.8 CPU-s) with the cache present (a fresh clone, 2026-12-06). Here the rewritten
    code goes to the run's shared directory (removed with it, nothing written beside the
    sources), under a lock per module: the first worker to reach a module rewrites it, the
    others load that. This is pytest's own `exec_module` (_pytest/assertion/rewrite.py,
    pytest 9.2) with its cache path and a lock; if pytest's helpers are not there, the
    workers rewrite as before."""
    shared = shared_dir()
    if shared is None or not sys.dont_write_bytecode:
        return  # one process, or pytest caches beside the sources itself
    try:
        from _pytest.assertion import rewrite
        from _pytest.assertion.rewrite import (
            PYC_TAIL,
            AssertionRewritingHook,
            _read_pyc,
            _rewrite_test,
            _write_pyc,
            assertstate_key,
        )
    except ImportError:
        return
    cache = shared / "rewritten"
    cache.mkdir(exist_ok=True)

    def exec_module(self: AssertionRewritingHook, module: types.ModuleType) -> None:
        assert module.__spec__ is not None and module.__spec__.origin is not None
        fn = Path(module.__spec__.origin)
        state = self.config.stash[assertstate_key]
        self._rewritten_names[module.__name__] = fn
        key = hashlib.sha256(str(fn).encode()).hexdigest()[:16]
        pyc = cache / f"{fn.stem}-{key}{PYC_TAIL}"
        with (cache / f"{key}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            co = _read_pyc(fn, pyc, state.trace)
            if co is None:
                source_hash, co = _rewrite_test(fn, self.config)
                self._writing_pyc = True
                try:
                    _write_pyc(state, co, source_hash, pyc)  # whole or absent (a rename)
                finally:
                    self._writing_pyc = False
        exec(co, module.__dict__)

    rewrite.AssertionRewritingHook.exec_module = exec_module  # type: ignore[method-assign]


# Server files without a `wall` mark take 2-6 s alone (a warm run, 2026-12-07).
UNMARKED_SERVER_WALL = 4.5


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest files first (stable otherwise): under xdist's loadfile each file goes
    whole to the next free worker, so the long ones, started first, end while the short
    ones fill the other workers, instead of one long file starting last and running alone.

    Under loadfile xdist keeps this order only with --no-loadscope-reorder (in addopts);
    without it, it sends the files with the most tests first, which put the long server
    files, few tests each, at the end of the run (a fresh clone, 2026-12-06: 221 s without
    the option, 204 s with it)."""
    if not config.getoption("numprocesses", default=None) and not hasattr(config, "workerinput"):
        return
    waits = {item.path for item in items if item.get_closest_marker("servers") is not None}
    # `wall(seconds)`: a file that takes about that long alone goes before the others, the
    # longest first, so that it does not start last and run alone at the end (longest
    # processing time first: the many short files fill the workers' tails). A server file
    # without the mark counts as UNMARKED_SERVER_WALL seconds, any other file as none.
    walls: dict[object, float] = {path: UNMARKED_SERVER_WALL for path in waits}
    marked: set[object] = set()
    for item in items:
        mark = item.get_closest_marker("wall")
        if mark is not None:
            seconds = float(mark.args[0])
            walls[item.path] = max(walls[item.path], seconds) if item.path in marked else seconds
            marked.add(item.path)
    items.sort(key=lambda item: (-walls.get(item.path, 0.0), item.path not in waits))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Exit 5 ("no tests collected") would let a run that tested nothing end without a
    # failure count; make it a failure that says so.
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("error: no tests were collected (exit 5 made a failure)")
    session.config.stash[_PASSED] = session.exitstatus == pytest.ExitCode.OK


@pytest.hookimpl(tryfirst=True)  # before pytest's unraisable-exception plugin's
def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        # A worker's last act is pytest's full collection (to flush unraisable-exception
        # warnings) over a heap of the plans, their copies and the servers' clients: 3-4 s
        # of CPU a worker, while the controller waits for it (a whole 4-worker run, sampled,
        # 2026-12-06). Nothing a worker warns about after its sessionfinish reaches the
        # controller's report, so the heap is frozen first and that collection skips it.
        gc.freeze()
        return
    run_dir = config.stash.get(_OWNED_DIR, None)
    if run_dir is None:
        return
    os.environ.pop(RUN_SHARED_DIR, None)
    if config.stash.get(_PASSED, False):
        shutil.rmtree(run_dir, ignore_errors=True)
    else:  # kept for a look at the failing tests' tmp_path
        print(f"the run's temporary files: {run_dir}")


def _stacks() -> list[StackKey]:
    from infra.config import ENVIRONMENTS, STAGES

    return [(env, stage) for env in ENVIRONMENTS for stage in STAGES]


def _build(env: str, stage: str) -> Plan:
    from infra.plans.build import build_plan

    return build_plan(env, stage)


def _shared_plan(shared: Path, env: str, stage: str) -> Plan:
    """The plan from the run's shared directory, built here if no worker has yet."""
    shared = shared / "plans"
    shared.mkdir(exist_ok=True)
    path = shared / f"{env}-{stage}.pickle"
    with (shared / f"{env}-{stage}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if path.exists():
            return pickle.loads(path.read_bytes())
        plan = _build(env, stage)
        partial = path.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
        partial.rename(path)  # whole or absent, even if this worker dies mid-write
        return plan


def _planned(env: str, stage: str) -> Plan:
    """The session's plan of one stack, built on first use (the original dict: copy it)."""
    key = (env, stage)
    if key not in _PLANS:
        shared = shared_dir()
        _PLANS[key] = _shared_plan(shared, env, stage) if shared else _build(env, stage)
    return _PLANS[key]


def _worker_order(keys: list[StackKey]) -> list[StackKey]:
    """The stacks starting at this worker's share of the list (all of them, rotated)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    start = int(worker) * len(keys) // max(count, 1) if worker.isdigit() else 0
    return keys[start:] + keys[:start]


@pytest.fixture(scope="session")
def stack_plans() -> dict[StackKey, Plan]:
    """All 14 plans, keyed (env, stage); read-only by convention: copy before mutating."""
    keys = _stacks()
    for key in _worker_order(keys):
        _planned(*key)
    return {key: _PLANS[key] for key in keys}


@pytest.fixture(scope="session")
def stack_plan() -> Callable[[str, str], Plan]:
    """`stack_plan(env, stage)`: one of the session's plans, planned on first use, for a
    test that needs a few stacks and not all 14; read-only like `stack_plans`."""
    return _planned


@pytest.fixture(scope="session")
def plans(stack_plans: dict[StackKey, Plan]) -> dict[StackKey, Plan]:
    """tests/program's and tests/plans' own copy of the 14 plans."""
    return copy.deepcopy(stack_plans)
