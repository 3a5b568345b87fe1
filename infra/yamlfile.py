"""The one YAML reader of the offline tools: safe, strict about duplicate keys, bounded.

PyYAML's `safe_load` keeps the last of two equal keys without a word (a second `max_size`
silently wins) and expands aliases without limit (a few lines of nested aliases make a
value whose repr() runs out of memory). `load_yaml` refuses both with one line naming the
file and the line. It also refuses numbers no model can use: `.nan` and `.inf` (every
comparison with NaN is false, so a NaN workload once read as "carries 5x") and integers
longer than MAX_INT_DIGITS (Python refuses to convert past 4,300 digits with a traceback).
`shown(value)` is the bounded repr every error line uses for a value it quotes.
"""

from __future__ import annotations

import math
import pickle
import reprlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# A stage spec has a few hundred nodes; aliases may share structure, but not blow it up.
MAX_EXPANDED_NODES = 100_000
MAX_SHOWN = 80
# int64's 19 digits less one: every count, size and price the models read is far below it,
# and one home for the bound the JSON reader (infra/jsonfile.py) shares.
MAX_INT_DIGITS = 18


class YamlError(ValueError):
    """A YAML file that cannot be read as data; the message is one line."""


_REPR = reprlib.Repr()
_REPR.maxstring = MAX_SHOWN
_REPR.maxother = MAX_SHOWN
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6


def shown(value: Any) -> str:
    """repr(value), cut to about MAX_SHOWN characters and 3 levels deep: an error line
    never carries (or spends time building) a huge value."""
    text = _REPR.repr(value)
    return text if len(text) <= 2 * MAX_SHOWN else text[: 2 * MAX_SHOWN] + "...'"


def _expanded_size(node: Node, memo: dict[int, int], limit: int, open_: set[int]) -> int:
    """How many nodes `node` stands for once every alias is expanded (stops past limit)."""
    key = id(node)
    if key in open_:
        raise YamlError("an alias refers to itself; allowed: plain data")
    if key in memo:
        return memo[key]
    if isinstance(node, SequenceNode):
        children: list[Node] = list(node.value)
    elif isinstance(node, MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    open_.add(key)
    total = 1
    for child in children:
        total += _expanded_size(child, memo, limit, open_)
        if total > limit:
            break
    open_.discard(key)
    memo[key] = total
    return total


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys and alias expansions past a bound."""

    def compose_document(self) -> Node | None:
        node = super().compose_document()
        if (
            node is not None
            and _expanded_size(node, {}, MAX_EXPANDED_NODES, set()) > MAX_EXPANDED_NODES
        ):
            raise YamlError(
                f"aliases expand to more than {MAX_EXPANDED_NODES:,} values; "
                "allowed: plain data (an alias may repeat a small part)"
            )
        return node

    def construct_yaml_int(self, node: ScalarNode) -> int:
        digits = sum(ch.isdigit() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise YamlError(
                f"line {node.start_mark.line + 1}: an integer of {digits:,} digits; "
                f"allowed: at most {MAX_INT_DIGITS} digits"
            )
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise YamlError(
                f"line {node.start_mark.line + 1}: {shown(node.value)} is not a finite number; "
                "allowed: finite numbers"
            )
        return value

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode):
                key = self.construct_object(key_node, deep=deep)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise YamlError(
                        f"line {line}: duplicate key {shown(key)} (first at line {seen[key]}); "
                        "allowed: each key once"
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


# Documents read before, by text: a process reads the same few spec and assumption files
# again and again (a program test builds every stage; each build reads the stage, the
# environment profile, the catalogue, the prices...), and PyYAML's pure-Python reader
# spends ~3-50 ms on each where unpickling the data it made takes ~0.03 ms. Pickled, so
# every call still returns its own fresh objects (aliases still shared within one result);
# lru_cache keeps no result for a text that raised, so every refusal is the loader's own,
# every time, and it is safe from threads (lab servers read from threads).
# (libyaml's C parser was measured too and left alone: it accepts what this loader
# refuses, e.g. a tab inside a plain scalar, '?' inside a flow key, a BOM mid-text.)
_LOADED_MAX_CHARS = 256_000  # longer texts are parsed each time, not kept


@lru_cache(maxsize=64)
def _pickled(text: str) -> bytes | None:
    """The pickled document `text` loads to; None when it cannot be pickled (e.g. nesting
    too deep): such a text is parsed each time."""
    data = yaml.load(text, Loader=_StrictLoader)
    try:
        return pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return None


def _load(text: str) -> Any:
    """yaml.load(text, Loader=_StrictLoader), from the cache when this text loaded before."""
    blob = _pickled(text) if len(text) <= _LOADED_MAX_CHARS else None
    return pickle.loads(blob) if blob is not None else yaml.load(text, Loader=_StrictLoader)


def load_yaml(path: Path, what: str = "file") -> Any:
    """The data in `path`; YamlError (one line, naming the file) when it is not usable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise YamlError(f"{path}: {what} is not UTF-8 text") from None
    try:
        return _load(text)
    except YamlError as exc:
        raise YamlError(f"{path}: {what}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        raise YamlError(f"{path}:{where} {what} is not valid YAML") from None
    except RecursionError:
        raise YamlError(f"{path}: {what} nests too deeply; allowed: plain data") from None


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_yaml_float)
