"""Hostile stage specs (issue 15 item 10): duplicate keys, alias bombs and huge values get
one short line naming the file and the place; never a traceback, a hang or a huge line."""

from __future__ import annotations

import copy
import shutil
import string
import time
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.config import STACKS_DIR, ConfigError, load_stack_config
from infra.yamlfile import MAX_SHOWN

BOMB = """\
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
"""


# The tests write their hostile documents with libyaml's emitter where PyYAML has it: the
# subject is the loader (infra/yamlfile.py), and the pure-Python emitter was most of this
# file's time (a million-character value, 150 mutated specs a property).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(doc: object) -> str:
    return yaml.dump(doc, Dumper=_DUMPER)


@cache
def _shipped(name: str) -> dict:
    """A shipped spec as data, parsed once for the module (callers get a deep copy)."""
    return yaml.safe_load((STACKS_DIR / name).read_text())


def shipped(name: str) -> dict:
    return copy.deepcopy(_shipped(name))


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    root = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR, root)
    return root


def error(root: Path, env: str = "prod", stage: str = "cached") -> str:
    with pytest.raises(ConfigError) as info:
        load_stack_config(env, stage, root)
    return str(info.value)


def test_a_duplicate_key_is_refused_with_both_lines(stacks: Path) -> None:
    path = stacks / "cached.yaml"
    text = path.read_text()
    # A second max_size under web: PyYAML's safe_load would silently keep the last one.
    path.write_text(text.replace("  max_size:", "  max_size: 9\n  max_size:", 1))
    message = error(stacks)
    assert "cached.yaml" in message and "duplicate key 'max_size'" in message, message
    assert "first at line" in message and "\n" not in message


def test_an_alias_bomb_is_refused_quickly(stacks: Path) -> None:
    path = stacks / "cached.yaml"
    doc = path.read_text().replace("web:\n", BOMB + "web:\n", 1)
    path.write_text(
        doc.replace("  instance_type: {dev: t4g.small, prod: c7g.large}", "  instance_type: *g")
    )
    started = time.perf_counter()
    message = error(stacks)
    assert time.perf_counter() - started < 5
    assert "aliases expand to more than" in message and "cached.yaml" in message, message


def test_a_huge_value_gives_a_short_line(stacks: Path) -> None:
    path = stacks / "cached.yaml"
    doc = shipped("cached.yaml")
    # A million characters, 12,500 times what a message shows (MAX_SHOWN): as huge for the
    # message as ten million, which spent ~10 s in PyYAML's pure-Python dump and load.
    doc["web"]["instance_type"] = "x" * 1_000_000
    path.write_text(dump(doc))
    message = error(stacks)
    assert message.startswith("web.instance_type: invalid value 'xxx"), message[:200]
    assert len(message) < 4 * MAX_SHOWN + 200, len(message)


def test_a_huge_unknown_key_gives_a_short_line(stacks: Path) -> None:
    path = stacks / "env/prod.yaml"
    doc = shipped("env/prod.yaml")
    doc["k" * 1_000_000] = 1
    path.write_text(dump(doc))
    message = error(stacks)
    assert "unknown key" in message and len(message) < 8 * MAX_SHOWN + 500, len(message)


# --- the standing property: any text as a stage spec -> loads, or one short line ---------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    # out of range for any model (issue 22): more digits than an int64, NaN, infinities
    st.integers(min_value=10**18, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(string.ascii_lowercase + "_", max_size=12), inner, max_size=4),
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["stage", "summary", "bottleneck", "web", "database", "cache", "single_box", "edge",
     "storage", "search", "min_size", "instance_type", "override", "dev", "prod"]
)  # fmt: skip


FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # the stacks copy is reused on purpose


def _mutated(doc: dict, path: list[str], value: object) -> dict:
    target = doc
    for key in path[:-1]:
        nxt = target.get(key)
        if not isinstance(nxt, dict):
            target[key] = nxt = {}
        target = nxt
    target[path[-1]] = value
    return doc


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.lists(KEYS, min_size=1, max_size=3), value=VALUES)
def test_any_value_anywhere_in_a_spec_loads_or_gives_one_line(
    stacks: Path, path: list[str], value: object
) -> None:
    spec = stacks / "cached.yaml"
    spec.write_text(dump(_mutated(shipped("cached.yaml"), path, value)))
    try:
        load_stack_config("prod", "cached", stacks)
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 2_000, message[:300]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@ \nabc019.")), max_size=200))
def test_any_text_as_a_spec_loads_or_gives_one_line(stacks: Path, text: str) -> None:
    (stacks / "cached.yaml").write_text(text)
    try:
        load_stack_config("prod", "cached", stacks)
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 2_000, message[:300]
