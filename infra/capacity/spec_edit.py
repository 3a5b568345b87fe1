"""Compare a stage spec with the sizer's choice, and write the choice into the spec.

The spec files keep their comments, key order and flow style: they are edited with
ruamel.yaml's round-trip mode, and only the values that change are touched. A per-environment
value (`{dev: x, prod: y}`) changes in the one environment sized; a plain value that changes
for one environment becomes per-environment, keeping the other environment's value.

A tier section may carry `override:`, a mapping from a key the sizer derives to the one-line
reason the spec keeps another value (a string, or `{dev: ..., prod: ...}` for one
environment only; `infra.config` validates it). `--check` accepts a difference with a
reason and fails one without.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from infra.config import ENVIRONMENTS, STACKS_DIR, ConfigError, StageSpec, load_stack_config

OVERRIDE_KEY = "override"


class SpecEditError(ValueError):
    """The spec cannot be compared or written; one line naming the file and key."""


@dataclass(frozen=True)
class Difference:
    section: str
    key: str
    spec: Any
    derived: Any
    reason: str | None  # the override's reason, when the spec keeps its value on purpose

    @property
    def path(self) -> str:
        return f"{self.section}.{self.key}"


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long comment or value
    y.indent(mapping=2, sequence=4, offset=2)
    # Keep an explicit `null` as written (ruamel would leave the value empty).
    y.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return y


def _load(path: Path) -> CommentedMap:
    try:
        doc = _yaml().load(path.read_text(encoding="utf-8"))
    except Exception as exc:  # ruamel raises many types; all mean "cannot read"
        raise SpecEditError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from exc
    if not isinstance(doc, CommentedMap):
        raise SpecEditError(f"{path}: expected a mapping at the top level")
    return doc


def differences(spec: StageSpec, derived: Mapping[str, Mapping[str, Any]]) -> list[Difference]:
    """Every derived key whose spec value differs, with its `override:` reason if any.

    `derived` maps a spec section (single_box, web, search, database, cache) to the keys
    the sizer sets in it.
    """
    found = []
    for section, keys in derived.items():
        current = getattr(spec, section)
        reasons = dict(current.override)
        for key, value in keys.items():
            have = getattr(current, key)
            if have != value:
                found.append(Difference(section, key, have, value, reasons.get(key)))
    return found


def stale_overrides(spec: StageSpec, derived: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Overrides whose key now equals the derived value: the reason no longer applies."""
    stale = []
    for section, keys in derived.items():
        current = getattr(spec, section)
        for key, _ in current.override:
            if key in keys and getattr(current, key) == keys[key]:
                stale.append(f"{section}.{OVERRIDE_KEY}.{key}")
    return stale


def write(stage: str, changes: list[Difference], env: str, root: Path = STACKS_DIR) -> Path | None:
    """Write the derived values of `changes` that have no override into the spec.

    All or nothing: the edited text is validated (both environments load) before it
    replaces the file; a spec that would not load is left as it was and the error says why.
    """
    todo = [d for d in changes if d.reason is None]
    if not todo:
        return None
    path = root / f"{stage}.yaml"
    doc = _load(path)
    for d in todo:
        sec = doc.get(d.section)
        if not isinstance(sec, CommentedMap):
            raise SpecEditError(f"{path.name}: {d.section}: section missing; cannot write")
        _set(sec, d.key, d.derived, env)
    buffer = io.StringIO()
    _yaml().dump(doc, buffer)
    text = buffer.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        trial_root = Path(tmp)
        (trial_root / "env").mkdir()
        for profile in (root / "env").glob("*.yaml"):
            (trial_root / "env" / profile.name).write_bytes(profile.read_bytes())
        (trial_root / path.name).write_text(text, encoding="utf-8")
        try:
            for each in ENVIRONMENTS:
                load_stack_config(each, stage, trial_root)
        except ConfigError as exc:
            raise SpecEditError(
                f"{path.name}: not written, the result would not load: {exc}"
            ) from exc
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp_name, path)
    return path


def _set(section: CommentedMap, key: str, value: Any, env: str) -> None:
    current = section.get(key)
    if isinstance(current, Mapping) and set(current) & set(ENVIRONMENTS):
        current[env] = value
        return
    if key not in section:
        raise SpecEditError(f"{key}: not in the spec section; cannot write")
    if current == value:
        return
    # A plain value shared by every environment: only `env` changes.
    per_env = CommentedMap((each, value if each == env else current) for each in ENVIRONMENTS)
    per_env.fa.set_flow_style()
    section[key] = per_env
