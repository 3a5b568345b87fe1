"""The edge cut-over as configuration: `movies:edgeCutover` open keeps the ALB's internet
rules beside CloudFront's, closed removes them, and nothing else differs; the setting is
typed, required at an edge stage and refused below one; no runbook step names a URN."""

from __future__ import annotations

import copy
import json
import re
import runpy
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pulumi
import pytest
import yaml
from pulumi.runtime import config as pulumi_config

import infra.program.components.release as release
from infra.config import (
    EDGE_CUTOVER_TAG,
    SCHEMA_FILE,
    STACKS_DIR,
    ConfigError,
    load_stack_config,
    load_stack_settings,
    with_edge_cutover,
)
from infra.guard.runner import evaluate
from infra.plans.build import build_plan, load_or_build
from infra.plans.mocks import run_program
from infra.program.composer import declare_stage
from infra.review.diff import diff_plans

# No server, but long enough that xdist should start it early (tests/conftest.py).
pytestmark = pytest.mark.wall(3)  # seconds alone

REPO = Path(__file__).resolve().parents[2]
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
ORIGIN = "origin.movies.example.com"


def alb_rules(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in resources if r["type"] == INGRESS and "-alb-from-" in r["name"]}


@pytest.fixture(scope="module")
def phases() -> dict[str, dict[str, Any]]:
    """prod's plans around the cut-over: before it, phase open, phase closed (the default)."""
    return {
        "before": load_or_build("prod/read-replicas"),
        "open": build_plan("prod", "edge", edge_cutover="open"),
        "closed": load_or_build("prod/edge"),
    }


def test_the_default_plan_is_the_closed_phase(phases) -> None:
    assert build_plan("prod", "edge", edge_cutover="closed") == phases["closed"]


def test_open_keeps_the_internet_rule_beside_cloudfronts_and_tags_it(phases) -> None:
    rules = alb_rules(phases["open"]["resources"])
    assert sorted(rules) == ["security-alb-from-cloudfront-http", "security-alb-from-internet-http"]
    internet = rules["security-alb-from-internet-http"]["inputs"]
    assert internet["cidrIpv4"] == "0.0.0.0/0" and internet["fromPort"] == 80
    assert internet["tags"][EDGE_CUTOVER_TAG] == "open"
    assert rules["security-alb-from-cloudfront-http"]["inputs"]["prefixListId"]
    assert sorted(alb_rules(phases["closed"]["resources"])) == ["security-alb-from-cloudfront-http"]


def test_closing_deletes_exactly_the_internet_rule(phases) -> None:
    d = diff_plans(phases["open"], phases["closed"])
    assert [(e.action, e.name) for e in d.entries] == [
        ("remove", "security-alb-from-internet-http")
    ]
    assert not d.blocking


def test_opening_deletes_nothing_and_only_tags_the_internet_rule(phases) -> None:
    d = diff_plans(phases["before"], phases["open"])
    assert not d.of("remove") and not d.of("delete") and not d.blocking
    [rule] = [e for e in d.entries if e.name == "security-alb-from-internet-http"]
    assert rule.action == "change"
    assert [c.path for c in rule.changes] == [f"tags.{EDGE_CUTOVER_TAG}"]
    # the one-up move would have deleted it: the reason for the phases
    one_up = diff_plans(phases["before"], phases["closed"])
    assert "security-alb-from-internet-http" in {e.name for e in one_up.of("remove")}


def test_the_policy_pack_accepts_the_tagged_cut_over_rule_only(phases) -> None:
    assert [v.policy for v in evaluate(phases["open"]).mandatory] == []
    untagged = copy.deepcopy(phases["open"])
    rule = alb_rules(untagged["resources"])["security-alb-from-internet-http"]
    for side in ("inputs", "outputs"):
        del rule[side]["tags"][EDGE_CUTOVER_TAG]
    found = {(v.policy, v.resource_name) for v in evaluate(untagged).mandatory}
    assert found == {("sg-no-world-ingress", "security-alb-from-internet-http")}


def _with_certificate(tmp: Path, cutover: str) -> dict[str, dict[str, Any]]:
    root = tmp / cutover
    shutil.copytree(STACKS_DIR, root)
    path = root / "env" / "prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.update(certificate_arn=CERT, alb_origin_domain=ORIGIN)
    path.write_text(yaml.safe_dump(doc))
    config = with_edge_cutover(load_stack_config("prod", "edge", root), cutover)
    run = run_program(
        lambda: declare_stage(config), project="movies", stack="prod", region="us-east-1"
    )
    return alb_rules([r.to_plan() for r in run.resources])


def test_with_a_certificate_open_keeps_the_https_twin_too(tmp_path) -> None:
    opened, closed = _with_certificate(tmp_path, "open"), _with_certificate(tmp_path, "closed")
    assert sorted(opened) == [
        "security-alb-from-cloudfront-https",
        "security-alb-from-internet-http",
        "security-alb-from-internet-https",
    ]
    assert opened["security-alb-from-internet-https"]["inputs"]["fromPort"] == 443
    assert sorted(closed) == ["security-alb-from-cloudfront-https"]


# --- the setting: typed, required at an edge stage, refused below ---------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"stage": "edge"}, "movies:edgeCutover: required at prod/edge"),
        ({"stage": "scale-5x"}, "movies:edgeCutover: required at prod/scale-5x"),
        (
            {"stage": "read-replicas", "edgeCutover": "open"},
            "movies:edgeCutover: invalid value 'open' at prod/read-replicas, which has no edge",
        ),
        (
            {"stage": "edge", "edgeCutover": "half"},
            "movies:edgeCutover: invalid value 'half'; allowed: open, dns, closed",
        ),
        ({"stage": "edge", "edgecutover": "open"}, "movies:edgecutover: unknown key"),
        ({"stage": "huge"}, "stage: unknown 'huge'"),
    ],
)
def test_bad_settings_are_one_line(settings: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_stack_settings({"environment": "prod", **settings})
    assert str(err.value).startswith(expected) and "\n" not in str(err.value), str(err.value)


def test_settings_select_the_phase() -> None:
    opened = load_stack_settings({"environment": "dev", "stage": "edge", "edgeCutover": "open"})
    closed = load_stack_settings({"environment": "dev", "stage": "edge", "edgeCutover": "closed"})
    below = load_stack_settings({"environment": "dev", "stage": "cached"})
    assert (opened.alb_from_internet, closed.alb_from_internet, below.alb_from_internet) == (
        True,
        False,
        True,
    )


@pytest.fixture
def main_with(monkeypatch):
    monkeypatch.setattr(release, "require_artifact", lambda: "movies-api-test.tar.gz")

    def run(values: dict[str, str]) -> Any:
        pulumi_config.set_all_config({"aws:region": "us-east-1", **values})
        return run_program(
            lambda: runpy.run_path(str(REPO / "__main__.py")),
            project="movies",
            stack="dev",
            region="us-east-1",
        )

    yield run
    pulumi_config.set_all_config({})


def test_the_program_reads_the_setting_from_the_stack(main_with) -> None:
    base = {"movies:environment": "dev", "movies:stage": "edge"}
    opened = main_with({**base, "movies:edgeCutover": "open"})
    assert {r.name for r in opened.by_type(INGRESS)} >= {"security-alb-from-internet-http"}
    with pytest.raises(pulumi.RunError, match="movies:edgeCutover: required at dev/edge"):
        main_with(base)


# --- Pulumi.<stack>.yaml against stacks/schema.json -------------------------------------


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_stack_files_name_and_pass_the_schema(env: str, validator) -> None:
    path = REPO / f"Pulumi.{env}.yaml"
    assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=stacks/schema.json"
    doc = yaml.safe_load(path.read_text())
    assert not list(validator.iter_errors(doc))
    for good in ("open", "closed"):
        edge = {"config": {**doc["config"], "movies:stage": "edge", "movies:edgeCutover": good}}
        assert not list(validator.iter_errors(edge))
    for bad in ({"movies:edgeCutover": "half"}, {"movies:edgecutover": "open"}):
        assert list(validator.iter_errors({"config": {**doc["config"], **bad}})), bad


# --- no runbook step names a URN ---------------------------------------------------------

_BLOCK = re.compile(r"^```[a-z]*\n(.*?)^```", re.M | re.S)
_TARGETING = re.compile(r"pulumi\s+(up|preview|destroy|refresh)\b|--exclude|--target")


def _commands(markdown: str) -> list[str]:
    """Every command line of every fenced block (continuation lines joined)."""
    lines = []
    for block in _BLOCK.findall(markdown):
        text = re.sub(r"\\\n\s*", " ", block)
        lines += [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return lines


def test_no_runbook_command_targets_a_urn() -> None:
    docs = [*sorted((REPO / "docs").rglob("*.md")), REPO / "README.md"]
    offending = [
        f"{path.relative_to(REPO)}: {line.strip()}"
        for path in docs
        for line in _commands(path.read_text(encoding="utf-8"))
        if _TARGETING.search(line) and "urn:pulumi:" in line
    ]
    assert offending == []


def test_the_check_sees_a_targeted_urn() -> None:
    """The old runbook's step, as it was: the check above would have caught it."""
    old = (
        "```bash\npulumi up --exclude 'urn:pulumi:prod::movies::movies:infra:Security"
        "$aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::x'\n```\n"
    )
    assert len([ln for ln in _commands(old) if "urn:pulumi:" in ln]) == 1
