"""Compare plans written with the mocks' URNs to plans written with the engine's.

`normalised(old, new)` rewrites every URN of `old` (a plan built with Pulumi's
`MockMonitor.make_urn`) to the engine URN `new` gives the same resource, and re-sorts; when
the only change between the two is the URN rule, the result's bytes equal `new`'s.

Run by hand against plan directories (the issue-20 note's before/after check)::

    .venv/bin/python tests/plans/urn_change.py OLD_DIR NEW_DIR
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `infra` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from infra.plans.build import dumps_plan
from infra.plans.urn import ROOT_STACK_TYPE, is_urn, mocks_urn, parse_urn


def urn_map(new: dict[str, Any]) -> dict[str, str]:
    """The mocks' URN of each resource of `new` -> its engine URN."""
    mapping: dict[str, str] = {}
    for r in new["resources"]:
        if r["type"] == ROOT_STACK_TYPE:
            mapping[r["urn"]] = r["urn"]  # both rules: no parent, no prefix
            continue
        parts = parse_urn(r["urn"])
        old = mocks_urn(parts.stack, parts.project, r["parent"], r["type"], r["name"])
        if old in mapping:
            raise ValueError(f"two resources would share the mocks' URN {old}")
        mapping[old] = r["urn"]
    return mapping


def _prefix(urn: str) -> str:
    """What a child's alias starts with under this parent (`CreateURN`)."""
    return urn[: urn.rfind("::")] + "$"


def _rewrite_aliases(old: dict[str, Any], new: dict[str, Any], mapping: dict[str, str]) -> None:
    """Aliases are not resource URNs: an alias under a parent was built from the parent's
    URN (`parent URN up to its last :: + $`), so it moves with the parent's prefix."""
    back = {n: o for o, n in mapping.items()}
    new_by = {r["urn"]: r for r in new["resources"]}
    for r in old["resources"]:
        twin = new_by.get(mapping.get(r["urn"], ""))
        aliases = r["options"].get("aliases") or []
        if twin is None or not twin["parent"] or not aliases:
            continue
        old_prefix, new_prefix = _prefix(back[twin["parent"]]), _prefix(twin["parent"])
        r["options"]["aliases"] = sorted(
            new_prefix + a[len(old_prefix) :] if a.startswith(old_prefix) else a for a in aliases
        )


def _rewrite(value: Any, mapping: dict[str, str], unmapped: set[str], key: str = "") -> Any:
    if key == "aliases":  # rewritten by _rewrite_aliases
        return value
    if isinstance(value, str):
        if is_urn(value):
            if value not in mapping:
                unmapped.add(value)
            return mapping.get(value, value)
        return value
    if isinstance(value, dict):
        return {k: _rewrite(v, mapping, unmapped, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, mapping, unmapped) for v in value]
    return value


def normalised(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`old` with every URN replaced by the engine's; refuses a URN `new` does not explain."""
    unmapped: set[str] = set()
    mapping = urn_map(new)
    old = copy.deepcopy(old)
    _rewrite_aliases(old, new, mapping)
    result = _rewrite(old, mapping, unmapped)
    if unmapped:
        raise ValueError(
            f"{len(unmapped)} URN(s) of the old plan have no new resource: {sorted(unmapped)[:3]}"
        )
    # The writer sorts resources by URN and each resource's dependencies and aliases: new
    # URNs sort differently, and only that order may change with them.
    for r in result["resources"]:
        r["dependencies"].sort()
    result["resources"].sort(key=lambda r: r["urn"])
    return result


def changed_urns(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    """(mocks' URN, engine URN) for every resource whose URN differs."""
    return sorted((o, n) for o, n in urn_map(new).items() if o != n)


def main(argv: list[str]) -> int:
    old_dir, new_dir = (Path(a) for a in argv)
    total = differ = 0
    samples: dict[str, tuple[str, str]] = {}  # one per resource type
    for new_path in sorted(new_dir.glob("*.json")):
        old_plan = json.loads((old_dir / new_path.name).read_text(encoding="utf-8"))
        new_text = new_path.read_text(encoding="utf-8")
        new_plan = json.loads(new_text)
        same = dumps_plan(normalised(old_plan, new_plan)) == new_text
        changes = changed_urns(old_plan, new_plan)
        total += len(new_plan["resources"])
        differ += len(changes)
        for old_urn, new_urn in changes:
            samples.setdefault(parse_urn(new_urn).type, (old_urn, new_urn))
        print(
            f"{new_path.name}: {len(changes)}/{len(new_plan['resources'])} URNs differ; "
            f"bytes equal after normalising URNs: {same}"
        )
        if not same:
            return 1
    print(f"total: {differ} of {total} URNs differ")
    for old, new in list(samples.values())[:: max(1, len(samples) // 8)]:
        print(f"  {old}\n    -> {new}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
