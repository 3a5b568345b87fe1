"""Each fact has one home (issue 10): these fail when a second copy appears in the code."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pulumi_aws
import pulumi_random

from infra import REPO_ROOT
from infra.config import ALARM_METRICS_LIMIT, STAGES
from infra.pricing.usage import HOURS_PER_MONTH
from infra.program.outputs import StackOutput
from infra.tokens import SECRET_MARKER, InvokeToken, ResourceType

CODE_DIRS = ("infra", "lab", "policies", "app_image")


# The scans below read every module of CODE_DIRS; parsing and walking each file once for
# the module (not once per test) is most of their cost. Nothing here changes a tree.


@cache
def _sources() -> tuple[Path, ...]:
    return tuple(sorted(p for d in CODE_DIRS for p in (REPO_ROOT / d).rglob("*.py")))


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def _nodes(text: str) -> tuple[ast.AST, ...]:
    """Every node of the module `text`, in ast.walk order."""
    return tuple(ast.walk(ast.parse(text)))


def _string_tuples(path: Path) -> list[tuple[str, ...]]:
    """Every tuple/list literal of plain strings in a file."""
    found = []
    for node in _nodes(_read(path)):
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
        if "workload.yaml" in _read(path) and re.search(r"""["']workload\.yaml["']""", _read(path))
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


def test_every_export_is_a_declared_stack_output(stack_plans) -> None:
    """The composer exports only StackOutput keys, and every key is exported somewhere."""
    exported: set[str] = set()
    for plan in stack_plans.values():  # read only: the session's plans, not a copy
        stack = next(r for r in plan["resources"] if r["type"] == "pulumi:pulumi:Stack")
        exported |= set(stack["outputs"])
    assert exported <= {o.value for o in StackOutput}, exported - {o.value for o in StackOutput}
    assert {o.value for o in StackOutput} <= exported, {o.value for o in StackOutput} - exported


# --- Pulumi type tokens (infra/tokens.py) ----------------------------------------------

# <package>:<module>[/<file>]:<Name> for a resource, ...:get<Name> for an invoke. Not a
# token: "aws:kms:dsse" (an encryption algorithm), "c2:movie:1" (a cache key).
TOKEN = re.compile(
    r"^[a-z][a-z0-9-]*:[a-z0-9]+(/[a-zA-Z0-9]+)?:([A-Z][A-Za-z0-9]*|get[A-Z][A-Za-z0-9]*)$"
)
TOKENS_HOME = "infra/tokens.py"


@cache
def _code_strings(text: str) -> tuple[tuple[int, str], ...]:
    """(line, value) of every string constant that is not a docstring (comments are not
    in the tree)."""
    nodes = _nodes(text)
    docstrings = {
        id(node.body[0].value)
        for node in nodes
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return tuple(
        (node.lineno, node.value)
        for node in nodes
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    )


def _token_literals(text: str) -> list[tuple[int, str]]:
    return [(line, value) for line, value in _code_strings(text) if TOKEN.match(value)]


def test_the_token_scan_sees_a_token_and_skips_docstrings() -> None:
    source = (
        '"""Reads aws:rds/instance:Instance plans."""\n'
        'KIND = "aws:rds/instance:Instance"  # aws:s3/bucket:Bucket\n'
        'FN = "aws:index/getRegion:getRegion"\n'
        'ALGO = "aws:kms:dsse"\n'
        'COMPONENT = "movies:infra:Database"\n'
    )
    assert _token_literals(source) == [
        (2, "aws:rds/instance:Instance"),
        (3, "aws:index/getRegion:getRegion"),
        (5, "movies:infra:Database"),
    ]


def test_type_tokens_are_written_only_in_infra_tokens() -> None:
    """Every module names a type through ResourceType / InvokeToken, never as a string."""
    found = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {value}"
        for path in _sources()
        if str(path.relative_to(REPO_ROOT)) != TOKENS_HOME
        for line, value in _token_literals(_read(path))
    ]
    assert not found, "type tokens written outside infra/tokens.py:\n" + "\n".join(found)
    home = _token_literals(_read(REPO_ROOT / TOKENS_HOME))
    assert len(home) == len(ResourceType) + len(InvokeToken), "a member is not a token"


def _sdk_tokens() -> set[str]:
    """Every token the installed pulumi-aws and pulumi-random define, from their sources:
    a resource's in the package's registration table (`_utilities.register(resource_modules=
    ...)` in its `__init__.py`, the table the SDK looks types up in), a function's in its own
    module, which the code generator names after it (getRegion -> get_region.py). Reading
    every module instead (3,154 files, 119 MB) cost ~2 CPU-s for the same verdicts."""
    found: set[str] = set()
    for package in (pulumi_aws, pulumi_random):
        root = Path(package.__file__).parent
        for path in [root / "__init__.py", *root.rglob("get_*.py")]:
            found |= set(re.findall(r"""["']((?:aws|random):[^"'\s]+)["']""", path.read_text()))
    return found


def test_every_provider_token_exists_in_the_installed_sdk() -> None:
    """A misspelt or invented token (aws:ec2/volume:Volume for aws:ebs/volume:Volume) is a
    rule that never fires or a mock that never matches."""
    sdk = _sdk_tokens()
    assert "aws:rds/instance:Instance" in sdk, "the SDK scan found nothing"
    unknown = [
        member.value
        for member in [*ResourceType, *InvokeToken]
        if member.value.startswith(("aws:", "random:")) and member.value not in sdk
    ]
    assert not unknown, f"tokens the installed SDKs do not define: {unknown}"


# --- the secret marker, hours per month, the alarm metric limit ------------------------


def _code_files() -> list[tuple[str, str]]:
    return [(str(p.relative_to(REPO_ROOT)), _read(p)) for p in _sources()]


def test_the_secret_marker_is_written_once() -> None:
    holders = sorted(
        {path for path, text in _code_files() for _, v in _code_strings(text) if v == "[secret]"}
    )
    assert holders == [TOKENS_HOME], holders
    assert SECRET_MARKER == "[secret]"


def _numbers(text: str, wanted: set[float]) -> list[tuple[int, str]]:
    lines = text.splitlines()
    return [
        (node.lineno, lines[node.lineno - 1].strip())
        for node in _nodes(text)
        if isinstance(node, ast.Constant)
        and type(node.value) in (int, float)
        and node.value in wanted
    ]


def test_hours_per_month_lives_in_usage_yaml_and_one_reader() -> None:
    """730 h (and 8,760 h a year) is a number of assumptions/usage.yaml; one module reads
    its key, and no module writes the number."""
    written = [
        f"{path}:{line}: {src}"
        for path, text in _code_files()
        for line, src in _numbers(text, {730, 8760})
    ]
    assert not written, written
    readers = sorted(
        {
            path
            for path, text in _code_files()
            for _, v in _code_strings(text)
            if v == "hours_per_month"
        }
    )
    assert readers == ["infra/pricing/usage.py"], readers
    assert HOURS_PER_MONTH == 730.0


def test_the_alarm_metric_limit_is_defined_once() -> None:
    """CloudWatch's 10 metrics per metric-math alarm: the number 10 on a line about metrics or
    alarms appears in infra/config.py only (ALARM_METRICS_LIMIT)."""
    about = re.compile(r"metric|alarm", re.IGNORECASE)
    holders = [
        (path, src)
        for path, text in _code_files()
        for _, src in _numbers(text, {10})
        if about.search(src)
    ]
    assert holders == [("infra/config.py", "ALARM_METRICS_LIMIT = 10")], holders
    assert ALARM_METRICS_LIMIT == 10


# --- one meaning per class name --------------------------------------------------------


def test_no_two_classes_in_infra_and_policies_share_a_name() -> None:
    """Two classes of one name (guard's and verify's Finding, a CloudFront Edge and a
    diagram edge) make every import site ambiguous to a reader."""
    where: dict[str, list[str]] = {}
    for package in ("infra", "policies"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            for node in _nodes(_read(path)):
                if isinstance(node, ast.ClassDef):
                    shown = f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
                    where.setdefault(node.name, []).append(shown)
    assert "ResourceType" in where, "the class scan found nothing"
    shared = {name: places for name, places in where.items() if len(places) > 1}
    assert not shared, f"class names defined more than once: {shared}"
