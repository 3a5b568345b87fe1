"""Schemathesis, `schemathesis run --checks all`, against a live `python -m movies_api serve`
process (the `live` fixture in conftest.py), through the lab's ALB stand-in (nginx, as at
load-balanced: what a client meets) and directly (what nginx would hide, e.g. a `%00` path
it refuses itself), each anonymous and with a writer key.

`--checks all` adds to "no 5xx, documented status codes, content types and schemas" the
checks that hold the spec and the service to each other both ways: data the spec forbids
must be refused (negative_data_rejection), data it allows must be accepted
(positive_data_acceptance), the 405's Allow header, declared auth enforced, and, in the
stateful phase, that what a POST created is there (and gone after its DELETE) along the
links the spec declares. Inferred links are off (schemathesis.toml): they guessed that a new
movie has a poster.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from movies_api import __version__
from movies_api.openapi import openapi_spec

pytestmark = [pytest.mark.servers, pytest.mark.wall(23)]
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Per operation, for the Fuzzing phase's random cases and the Stateful phase's scenarios; the
# Coverage phase (~450 cases a run, most of the requests) derives its cases from the spec and
# does not depend on it. Measured with a writer key, direct and through nginx, 3-7 runs each:
# the stateful phase followed 4-5 of the 6 declared links with 5 scenarios and 4-6 with 15
# (anonymous: none at any count, every POST is a 401); fuzzing still tests every operation
# (~4 cases each, ~60 a run, against ~170 with 15). 15 cost ~2 CPU-s a run more.
MAX_EXAMPLES = 5


@contextlib.contextmanager
def _imports_unrewritten() -> Iterator[None]:
    """Imports as a plain Python process makes them. schemathesis ships a pytest plugin, so
    pytest marks its whole package (and Hypothesis's) for assertion rewriting: each of the
    ~190 modules a run imports beyond the plugin's is parsed, rewritten and compiled, and
    with bytecode writing off (PYTHONDONTWRITEBYTECODE) never cached: 1.4 CPU-s for them
    against 0.2 plain. Their asserts are theirs, not this test's; the test modules and
    conftests were rewritten at collection, before this."""
    from _pytest.assertion.rewrite import AssertionRewritingHook

    hooks = [(i, f) for i, f in enumerate(sys.meta_path) if isinstance(f, AssertionRewritingHook)]
    for _, hook in hooks:
        sys.meta_path.remove(hook)
    try:
        yield
    finally:
        for i, hook in hooks:
            sys.meta_path.insert(i, hook)


def _main_thread_random_registered() -> None:
    """Hypothesis's PRNG for this thread, registered as schemathesis registers its worker
    threads' (schemathesis/generation/hypothesis/__init__.py: straight into the table of
    managed PRNGs). schemathesis's import-time set-up enters `deterministic_PRNG` once in
    this thread first, before that patch is in place: Hypothesis's own `register_random`
    then runs `gc.collect()` and `gc.get_referrers` over the whole heap to warn about an
    instance nothing refers to, and an xdist worker's heap (pulumi_aws, the plans) made
    that 0.4-2 CPU-s (0.39 with two plans loaded). This instance is held by the thread's
    Hypothesis state; seeding and restoring it is unchanged. Importing Hypothesis here
    also puts its `.hypothesis/` in this working directory, not the run's scratch one."""
    import random

    import hypothesis.core
    from hypothesis.internal import entropy

    local = hypothesis.core.threadlocal
    if getattr(local, "_hypothesis_global_random", None) is None:
        local._hypothesis_global_random = rng = random.Random()
        entropy.RANDOMS_TO_MANAGE[next(entropy._RKEY)] = rng


def run_schemathesis(base: str, *headers: str, exclude: tuple[str, ...] = (), cwd: Path) -> Result:
    """`schemathesis run ...` in this process: the CLI's own command with the same arguments
    (its config file, option parsing, phases, checks and report), without paying a Python
    start-up and the lazy imports and first-use set-up of schemathesis and Hypothesis for
    each run (~1-2 CPU-s a run). Hypothesis's Unicode tables are built once a process and
    kept in the `.hypothesis/` the suite's other Hypothesis tests use (`--generation-database
    none` keeps no examples, so no run sees what another generated). It runs in `cwd`, a
    scratch directory: schemathesis keeps a `.schemathesis/` cache in its working directory."""
    # Imported here, not at the top: every pytest-xdist worker collects this module, one runs
    # it. Before the chdir: Hypothesis takes its default `.hypothesis/` from the working
    # directory it is first imported in.
    with _imports_unrewritten():
        _main_thread_random_registered()
        from schemathesis.cli import schemathesis

    args = [
        "--config-file", str(CONFIG), "--no-color",
        "run", f"{base}/openapi.json", "--checks", "all", "--workers", "1",
        "--max-examples", str(MAX_EXAMPLES), "--request-timeout", "10",
        "--generation-database", "none",
    ]  # fmt: skip
    for header in headers:
        args += ["--header", header]
    if exclude:
        args += ["--exclude-checks", ",".join(exclude)]
    # `--no-color` sets NO_COLOR in os.environ; the runner puts the old value back after.
    # The run imports the engine's modules as it reaches them.
    with _imports_unrewritten(), contextlib.chdir(cwd):
        return CliRunner().invoke(schemathesis, args, env={"NO_COLOR": "1"})


def test_served_spec_is_the_fuzzed_spec(live) -> None:
    assert httpx.get(f"{live.base}/openapi.json").json() == openapi_spec(__version__)


def _passed(result: Result) -> None:
    out = result.output
    assert result.exit_code == 0, (out[-8000:], result.exc_info)
    assert "Test cases:" in out and "passed" in out, out[-2000:]
    # Every phase ran: a phase that was skipped would pass vacuously.
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in out, out[-3000:]


@pytest.mark.parametrize("via", ["alb", "service"])
@pytest.mark.parametrize("who", ["anonymous", "writer"])
def test_checks_all(live, request, tmp_path: Path, via: str, who: str) -> None:
    base = request.getfixturevalue("alb_base") if via == "alb" else live.base
    headers = [f"X-API-Key: {live.writer_key}"] if who == "writer" else []
    # One check off through the stand-in only: nginx answers TRACE itself, 405 in HTML
    # without `Allow`; that is nginx's, not the service's (which answers TRACE with 405 and
    # `Allow`, checked directly), and what the real ALB does with TRACE is not modelled.
    exclude = ("unsupported_method",) if via == "alb" else ()
    _passed(run_schemathesis(base, *headers, exclude=exclude, cwd=tmp_path))
