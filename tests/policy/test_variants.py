"""The rules on a profile variant the shipped stacks do not use: prod with a certificate.

With ``certificate_arn`` set the ALB gets an HTTPS listener, so ``alb-https`` has real
work: the HTTP listener must redirect and invalid headers must be dropped. At the edge
stages the profile also names ``alb_origin_domain``, CloudFront's HTTPS origin.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from infra.config import STACKS_DIR, load_stack_config
from infra.guard.runner import accept
from infra.plans.mocks import run_program
from infra.program.composer import declare_stage
from policies.offline import analyze, enforcement_levels, load_config

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
ORIGIN = "origin.movies.example.com"


@pytest.fixture(scope="module")
def stacks_with_certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("variant") / "stacks"
    shutil.copytree(STACKS_DIR, root)
    path = root / "env" / "prod.yaml"
    profile = yaml.safe_load(path.read_text())
    profile["certificate_arn"] = CERT
    profile["alb_origin_domain"] = ORIGIN
    path.write_text(yaml.safe_dump(profile))
    return root


@pytest.mark.parametrize("stage", ["load-balanced", "read-replicas", "edge", "scale-5x"])
def test_alb_with_certificate_passes_every_rule(stacks_with_certificate: Path, stage: str) -> None:
    config = load_stack_config("prod", stage, stacks_with_certificate)
    run = run_program(
        lambda: declare_stage(config), project="movies", stack="prod", region=config.env.region
    )
    resources = [resource.to_plan() for resource in run.resources]
    assert any(r["inputs"].get("certificateArn") == CERT for r in resources)
    levels = enforcement_levels(load_config("prod"))
    # Nothing but what policies/accepted.yaml accepts in prod (at the edge stages: the
    # media bucket's SSE-S3 and the default CloudFront certificate, with no domain).
    found = accept(analyze(resources, levels), "prod")
    assert [(v.policy, v.resource_name, v.message) for v in found if not v.accepted] == []
    # Not vacuous: the same plan with the HTTP listener forwarding instead is caught.
    http = next(r for r in resources if r["inputs"].get("protocol") == "HTTP")
    forward = [{"type": "forward", "targetGroupArn": "arn:aws:elasticloadbalancing:tg"}]
    http["inputs"]["defaultActions"] = http["outputs"]["defaultActions"] = forward
    caught = accept(analyze(resources, levels), "prod")
    assert {(v.policy, v.resource_name) for v in caught if not v.accepted} == {
        ("alb-https", http["name"])
    }
