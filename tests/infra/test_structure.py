"""The layout's rules, read from the source: no module reaches into another's private names,
and infra's folders import one another without a circle (guard never imports review).

Every import counts, including those inside functions (a lazy import is still an arrow).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from infra import REPO_ROOT

PACKAGES = ("infra", "lab", "policies", "app_image")
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
    tree = ast.parse(text)
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
        for hit in reach_ins(
            module, path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT))
        )
    ]
    assert not found, "private names used across modules:\n" + "\n".join(found)


def folder_graph() -> dict[str, set[str]]:
    """infra folder -> the infra folders its modules import (any import, any depth)."""
    graph: dict[str, set[str]] = {f: set() for f in FOLDERS}
    for module, path in MODULES.items():
        parts = module.split(".")
        if parts[0] != "infra" or len(parts) < 2 or parts[1] not in FOLDERS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
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
