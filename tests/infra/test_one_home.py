"""Each fact has one home (issue 10): these fail when a second copy appears in the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from infra import REPO_ROOT
from infra.config import STAGES
from infra.program.outputs import StackOutput

CODE_DIRS = ("infra", "lab", "policies", "app_image")


def _sources() -> list[Path]:
    return sorted(p for d in CODE_DIRS for p in (REPO_ROOT / d).rglob("*.py"))


def _string_tuples(path: Path) -> list[tuple[str, ...]]:
    """Every tuple/list literal of plain strings in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Tuple | ast.List)
            and node.elts
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
        ):
            found.append(tuple(e.value for e in node.elts))
    return found


def test_the_stage_names_are_listed_once() -> None:
    """A literal holding three or more stage names is a second stage list."""
    holders = [
        str(path.relative_to(REPO_ROOT))
        for path in _sources()
        for literal in _string_tuples(path)
        if len(set(literal) & set(STAGES)) >= 3
    ]
    assert holders == ["infra/config.py"], holders


def test_workload_yaml_is_read_by_one_module() -> None:
    holders = [
        str(path.relative_to(REPO_ROOT))
        for path in _sources()
        if "workload.yaml" in path.read_text(encoding="utf-8")
        and re.search(r"""["']workload\.yaml["']""", path.read_text(encoding="utf-8"))
    ]
    assert holders == ["infra/capacity/inputs.py"], holders


def test_the_repo_root_is_computed_once_in_infra() -> None:
    pattern = re.compile(r"__file__\)\.resolve\(\)\.(parent\.parent|parents\[)")
    holders = [
        str(path.relative_to(REPO_ROOT))
        for path in sorted((REPO_ROOT / "infra").rglob("*.py"))
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert holders == ["infra/__init__.py"], holders


def test_every_export_is_a_declared_stack_output(plans) -> None:
    """The composer exports only StackOutput keys, and every key is exported somewhere."""
    exported: set[str] = set()
    for plan in plans.values():
        stack = next(r for r in plan["resources"] if r["type"] == "pulumi:pulumi:Stack")
        exported |= set(stack["outputs"])
    assert exported <= {o.value for o in StackOutput}, exported - {o.value for o in StackOutput}
    assert {o.value for o in StackOutput} <= exported, {o.value for o in StackOutput} - exported
