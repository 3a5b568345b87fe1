"""The layout's rules, read from the source: no module reaches into another's private names,
and infra's folders import one another without a circle (guard never imports review).

Every import counts, including those inside functions (a lazy import is still an arrow).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from infra import REPO_ROOT

PACKAGES = ("infra", "lab", "policies", "app_image", "devservers")
# infra's folders whose arrows must form no circle (the layers of docs/architecture.md).
FOLDERS = ("capacity", "review", "guard", "plans", "program", "pricing")


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


MODULES = dict(_modules())


@cache
def _parse(text: str) -> ast.Module:
    """One tree per source text for the module's tests (each walks every module; parsing
    them all again for each was most of this file's time). The trees are only read."""
    return ast.parse(text)


@cache
def _source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _is_repo_module(name: str) -> bool:
    return name in MODULES


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    is_package = MODULES[module].name == "__init__.py"
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imports(module: str, tree: ast.AST) -> Iterator[tuple[int, str, str | None, str]]:
    """(line, imported module, imported name or None, local binding) for every import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None, alias.asname or alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            for alias in node.names:
                yield node.lineno, source, alias.name, alias.asname or alias.name


def reach_ins(module: str, text: str, shown: str) -> list[str]:
    """Each ``from x import _y`` and ``mod._y`` where x / mod is another module of this repo."""
    tree = _parse(text)
    found: list[str] = []
    module_aliases: dict[str, str] = {}
    for line, source, name, local in _imports(module, tree):
        if name is None:
            if _is_repo_module(source) and local == (source if "." not in source else local):
                module_aliases[local] = source
            continue
        full = f"{source}.{name}"
        if _is_repo_module(full):
            module_aliases[local] = full
        elif _private(name) and _is_repo_module(source) and source != module:
            found.append(f"{shown}:{line}: from {source} import {name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in module_aliases
            and module_aliases[node.value.id] != module
            and _private(node.attr)
        ):
            target = module_aliases[node.value.id]
            found.append(f"{shown}:{node.lineno}: {target}.{node.attr}")
    return found


def test_the_checker_sees_a_reach_in() -> None:
    """The rule fires on both forms (so its silence on the repo means something)."""
    source = (
        "from infra.capacity.checks import _db_cpu\n"
        "from infra.capacity import size as sizing\n"
        "x = sizing._hourly(1)\n"
        "y = sizing.public(1)\n"
    )
    found = reach_ins("infra.capacity.road", source, "road.py")
    assert found == [
        "road.py:1: from infra.capacity.checks import _db_cpu",
        "road.py:3: infra.capacity.size._hourly",
    ]


def test_no_module_uses_another_modules_private_names() -> None:
    found = [
        hit
        for module, path in MODULES.items()
        for hit in reach_ins(module, _source(path), str(path.relative_to(REPO_ROOT)))
    ]
    assert not found, "private names used across modules:\n" + "\n".join(found)


def folder_graph() -> dict[str, set[str]]:
    """infra folder -> the infra folders its modules import (any import, any depth)."""
    graph: dict[str, set[str]] = {f: set() for f in FOLDERS}
    for module, path in MODULES.items():
        parts = module.split(".")
        if parts[0] != "infra" or len(parts) < 2 or parts[1] not in FOLDERS:
            continue
        tree = _parse(_source(path))
        for _, source, name, _ in _imports(module, tree):
            target = source.split(".")
            if target[0] != "infra":
                continue
            if len(target) == 1 and name in FOLDERS:  # from infra import capacity
                target = ["infra", name]
            if len(target) > 1 and target[1] in FOLDERS and target[1] != parts[1]:
                graph[parts[1]].add(target[1])
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_infra_folders_import_without_a_circle() -> None:
    graph = folder_graph()
    assert graph["review"], "the graph is empty: the import scan found nothing"
    circle = _cycle(graph)
    assert circle is None, "import circle between infra folders: " + " -> ".join(circle or [])


def test_guard_does_not_import_review_and_pricing_sits_below() -> None:
    graph = folder_graph()
    assert "review" not in graph["guard"]
    assert graph["pricing"] == set(), graph["pricing"]
    assert "pricing" in graph["capacity"] and "pricing" in graph["review"]
    assert "review" not in graph["capacity"]


# --- the parts of docs/architecture.md and what each may import -----------------------

ARCHITECTURE = REPO_ROOT / "docs" / "architecture.md"
TABLE_HEADING = "## Who may import whom"
UP = "↑"


@dataclass(frozen=True)
class PartRule:
    """One row of the table: a part (a folder or a file) and the parts it may import."""

    part: str
    may_import: frozenset[str]
    upward: frozenset[str]  # the subset marked ↑: parts on a floor above this one
    any_part: bool = False


def parse_table(text: str) -> list[PartRule]:
    """The rows of the table under TABLE_HEADING, ground floor first."""
    section = text.split(TABLE_HEADING, 1)[1]
    rows: list[PartRule] = []
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        part = cells[0].strip("`")
        allowed, upward = set(), set()
        for item in (i.strip() for i in cells[2].split(",")):
            if item in ("", "-", "—") or item.startswith("any"):
                continue
            name = item.removeprefix(UP).strip().strip("`")
            allowed.add(name)
            if item.startswith(UP):
                upward.add(name)
        rows.append(
            PartRule(part, frozenset(allowed), frozenset(upward), cells[2].startswith("any"))
        )
    return rows


def part_of(relpath: str, parts: list[str]) -> str | None:
    """The longest part that is this file or a folder above it."""
    owners = [p for p in parts if relpath == p or relpath.startswith(p + "/")]
    return max(owners, key=len) if owners else None


def _import_target(module: str, source: str, name: str | None) -> str | None:
    """The repo module an import statement reaches (None: a third-party module)."""
    if source.split(".")[0] == "movies_api":  # the service's package, in app_image/
        source = "app_image." + source
    if name is not None and f"{source}.{name}" in MODULES:
        return f"{source}.{name}"
    return source if source in MODULES else None


def part_graph(parts: list[str]) -> dict[str, set[str]]:
    """part -> the other parts its modules import (any import, any depth, lazy ones too)."""
    graph: dict[str, set[str]] = {p: set() for p in parts}
    for module, path in MODULES.items():
        here = part_of(str(path.relative_to(REPO_ROOT)), parts)
        if here is None:
            continue
        for _, source, name, _ in _imports(module, _parse(_source(path))):
            target = _import_target(module, source, name)
            if target is None:
                continue
            there = part_of(str(MODULES[target].relative_to(REPO_ROOT)), parts)
            if there is not None and there != here:
                graph[here].add(there)
    return graph


def disallowed(graph: dict[str, set[str]], rules: list[PartRule]) -> list[str]:
    by_part = {r.part: r for r in rules}
    return [
        f"{a} -> {b}"
        for a in sorted(graph)
        for b in sorted(graph[a])
        if not by_part[a].any_part and b not in by_part[a].may_import
    ]


def unjustified_upward(rules: list[PartRule], text: str) -> list[str]:
    """Arrows to a row further down the table (a floor above) not marked ↑ or not named in
    a justification line ``- `a` -> `b```; ↑ marks that point down."""
    floor = {r.part: i for i, r in enumerate(rules)}
    problems: list[str] = []
    for rule in rules:
        for target in sorted(rule.may_import):
            if target not in floor:
                problems.append(f"{rule.part} -> {target}: not a part of the table")
                continue
            up = floor[target] > floor[rule.part]
            if up and target not in rule.upward:
                problems.append(f"{rule.part} -> {target}: runs up but is not marked {UP}")
            if not up and target in rule.upward:
                problems.append(f"{rule.part} -> {target}: marked {UP} but runs down")
            if up and f"- `{rule.part}` -> `{target}`" not in text:
                problems.append(f"{rule.part} -> {target}: no justification line")
    return problems


def test_the_table_checker_catches_a_missing_and_an_unmarked_arrow() -> None:
    text = (
        f"{TABLE_HEADING}\n\n| part | what | may import |\n|---|---|---|\n"
        "| `base` | x | — |\n| `tool` | y | `base` |\n| `lab` | z | `tool`, `base` |\n"
    )
    rules = parse_table(text)
    assert [r.part for r in rules] == ["base", "tool", "lab"]
    assert disallowed({"base": {"lab"}, "tool": {"base"}, "lab": set()}, rules) == ["base -> lab"]
    marked = text.replace("| `base` | x | — |", f"| `base` | x | {UP} `lab` |")
    assert unjustified_upward(parse_table(marked), marked) == ["base -> lab: no justification line"]
    assert unjustified_upward(parse_table(marked), marked + "- `base` -> `lab`: why\n") == []
    unmarked = text.replace("| `base` | x | — |", "| `base` | x | `lab` |")
    assert "base -> lab: runs up but is not marked ↑" in unjustified_upward(
        parse_table(unmarked), unmarked
    )


def _rules() -> list[PartRule]:
    return parse_table(ARCHITECTURE.read_text(encoding="utf-8"))


def test_every_module_is_in_a_part_of_the_table() -> None:
    parts = [r.part for r in _rules()]
    loose = [
        str(p.relative_to(REPO_ROOT))
        for p in MODULES.values()
        if part_of(str(p.relative_to(REPO_ROOT)), parts) is None
    ]
    assert not loose, f"modules in no part of docs/architecture.md's table: {loose}"


def test_the_code_has_no_arrow_the_table_does_not_allow() -> None:
    rules = _rules()
    graph = part_graph([r.part for r in rules])
    assert graph["infra/review/cost"], "the import scan found nothing"
    found = disallowed(graph, rules)
    assert not found, "imports docs/architecture.md does not allow:\n" + "\n".join(found)


def test_every_upward_arrow_is_named_justified_and_real() -> None:
    """An arrow up the floors is marked, justified below the table, and still in the code
    (a justification must not outlive its arrow)."""
    rules = _rules()
    text = ARCHITECTURE.read_text(encoding="utf-8")
    problems = unjustified_upward(rules, text)
    graph = part_graph([r.part for r in rules])
    problems += [
        f"{r.part} -> {t}: marked {UP} but no module imports it"
        for r in rules
        for t in sorted(r.upward)
        if t not in graph.get(r.part, set())
    ]
    assert not problems, "\n".join(problems)
