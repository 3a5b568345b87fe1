"""Profile settings the shipped stacks do not use: NAT none, a certificate, one AZ."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from infra.config import STACKS_DIR, load_stack_config
from infra.plans.mocks import run_program
from infra.program.composer import declare_stage

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    root = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR, root)
    return root


def profile(root: Path, env: str, **changes) -> None:
    path = root / "env" / f"{env}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.update(changes)
    path.write_text(yaml.safe_dump(doc))


def plan(root: Path, env: str, stage: str):
    config = load_stack_config(env, stage, root)
    result = run_program(
        lambda: declare_stage(config), project="movies", stack=env, region=config.env.region
    )
    return {r.name: r for r in result.resources}, result


def test_nat_none_adds_secrets_and_logs_endpoints(stacks: Path) -> None:
    profile(stacks, "dev", nat="none")
    resources, _ = plan(stacks, "dev", "cached")
    assert not [r for r in resources.values() if r.type == "aws:ec2/natGateway:NatGateway"]
    assert not [n for n in resources if n.startswith("network-private-default")]
    services = sorted(n.removeprefix("endpoints-") for n in resources if n.startswith("endpoints-"))
    assert services == ["ec2messages", "logs", "secretsmanager", "ssm", "ssmmessages"]
    for name in services:
        endpoint = resources[f"endpoints-{name}"]
        assert endpoint.inputs["privateDnsEnabled"] is True
        assert endpoint.inputs["securityGroupIds"] == [resources["security-endpoints"].id]


def test_certificate_turns_on_https_and_redirect(stacks: Path) -> None:
    profile(stacks, "prod", certificate_arn=CERT)
    resources, result = plan(stacks, "prod", "read-replicas")
    https, http = resources["alb-https"], resources["alb-http"]
    assert https.inputs["protocol"] == "HTTPS" and https.inputs["certificateArn"] == CERT
    assert https.inputs["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    assert http.inputs["defaultActions"][0]["type"] == "redirect"
    assert http.inputs["defaultActions"][0]["redirect"]["protocol"] == "HTTPS"
    ingress = sorted(
        r.inputs["fromPort"]
        for r in resources.values()
        if r.name.startswith("security-alb-from-internet")
    )
    assert ingress == [80, 443]
    assert result.exports["url"].startswith("https://")


ORIGIN = "origin.movies.example.com"


@pytest.mark.parametrize("stage", ["edge", "scale-5x"])
def test_certificate_at_the_edge_makes_cloudfront_reach_the_alb_over_https(
    stacks: Path, stage: str
) -> None:
    profile(stacks, "prod", certificate_arn=CERT, alb_origin_domain=ORIGIN)
    resources, result = plan(stacks, "prod", stage)
    # HTTP redirects at every stage with a certificate: CloudFront no longer uses it.
    redirect = resources["alb-http"].inputs["defaultActions"]
    assert [(a["type"], a["redirect"]["protocol"]) for a in redirect] == [("redirect", "HTTPS")]
    [distribution] = result.by_type("aws:cloudfront/distribution:Distribution")
    [alb_origin] = [o for o in distribution.inputs["origins"] if o["originId"] == "alb"]
    assert alb_origin["domainName"] == ORIGIN
    assert alb_origin["customOriginConfig"]["originProtocolPolicy"] == "https-only"
    # The ALB admits CloudFront's prefix list on 443 only, nothing from the internet.
    admitted = [(n, r.inputs["fromPort"]) for n, r in resources.items() if "-alb-from-" in n]
    assert admitted == [("security-alb-from-cloudfront-https", 443)]
    assert resources["security-alb-from-cloudfront-https"].inputs["prefixListId"]
    rules = sorted(r.name for r in result.by_type("aws:lb/listenerRule:ListenerRule"))
    # HTTP only redirects, so the rules sit on the HTTPS listener alone.
    # At scale-5x the search rule and its warm-up rule (which gets the new search group
    # health-checked before any real search is routed to it, issue 21) sit there too.
    search = ["alb-https-search", "alb-https-search-warmup"] if stage == "scale-5x" else []
    want = ["alb-https-metrics", *search]
    assert rules == want


def test_without_certificate_cloudfront_reaches_the_alb_over_http(stacks: Path) -> None:
    resources, result = plan(stacks, "prod", "scale-5x")
    assert resources["alb-http"].inputs["defaultActions"][0]["type"] == "forward"
    [distribution] = result.by_type("aws:cloudfront/distribution:Distribution")
    [alb_origin] = [o for o in distribution.inputs["origins"] if o["originId"] == "alb"]
    assert alb_origin["customOriginConfig"]["originProtocolPolicy"] == "http-only"
    assert alb_origin["domainName"] == resources["alb-lb"].outputs["dnsName"]
    admitted = [(n, r.inputs["fromPort"]) for n, r in resources.items() if "-alb-from-" in n]
    assert admitted == [("security-alb-from-cloudfront-http", 80)]


def test_one_az_single_box(stacks: Path) -> None:
    profile(stacks, "dev", az_count=1, zone_ids=["use1-az1"])
    resources, _ = plan(stacks, "dev", "single-box")
    subnets = [r for r in resources.values() if r.type == "aws:ec2/subnet:Subnet"]
    assert len(subnets) == 3
