"""The profile's optional `domain`: certificates, their validation, CloudFront and ALB TLS,
the alias records, and the policy pack on the result (prod edge and load-balanced).

The committed profiles have no domain; these plans come from a tmp copy of stacks/ with
prod's profile given one, as tests/program/test_variants.py does for a certificate.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import infra.plans.build as plan_build
from infra.config import STACKS_DIR, load_stack_config, with_edge_cutover
from infra.errors import ConfigError
from infra.guard import runner
from infra.plans.mocks import run_program
from infra.program.components.load_balancer import TLS_POLICY
from infra.program.composer import declare_stage
from infra.tokens import ResourceType

# No server, but long enough that xdist should start it early (tests/conftest.py).
pytestmark = pytest.mark.wall(6)  # seconds alone

ZONE_ID = "Z0123456789ABCDEFGHIJK"
DOMAIN = {
    "zone": "movies.example.com",
    "zone_id": ZONE_ID,
    "api": "api.movies.example.com",
    "origin": "origin.movies.example.com",
}
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"


def _stacks(tmp_path: Path, domain: Any) -> Path:
    root = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR, root)
    path = root / "env" / "prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["domain"] = domain
    path.write_text(yaml.safe_dump(doc))
    return root


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Module scope: no test here writes to it (each changed profile is a _stacks copy of
    # its own), so one copy serves them all and `_run` can reuse its runs.
    return _stacks(tmp_path_factory.mktemp("domain"), DOMAIN)


# Runs by their (frozen, hashable) stack config: the same config plans the same stack, and
# the tests only read a run, so a stack two tests plan (edge with cut-over `open`) is
# planned once per module.
_RUNS: dict[Any, Any] = {}


def _run(root: Path, stage: str, cutover: str | None = None):
    config = load_stack_config("prod", stage, root)
    if cutover is not None:
        config = with_edge_cutover(config, cutover)
    if config not in _RUNS:
        _RUNS[config] = run_program(
            lambda: declare_stage(config),
            project="movies",
            stack="prod",
            region=config.env.region,
        )
    return _RUNS[config]


def _by_name(run) -> dict[str, Any]:
    return {r.name: r for r in run.resources}


def _alias(record) -> tuple[str, str, str]:
    [alias] = record.inputs["aliases"]
    return record.inputs["type"], alias["name"], alias["zoneId"]


def test_edge_with_a_domain(stacks: Path) -> None:
    run = _run(stacks, "edge")
    res = _by_name(run)
    alb_cert, cdn_cert = res["domain-alb-certificate"], res["domain-cdn-certificate"]
    # CloudFront's in us-east-1 by its own `region`, whatever the stack's region; the ALB's
    # in the stack's (the provider's, no `region`).
    assert cdn_cert.inputs["region"] == "us-east-1"
    assert "region" not in alb_cert.inputs
    assert cdn_cert.outputs["arn"].startswith("arn:aws:acm:us-east-1:")
    assert (cdn_cert.inputs["domainName"], cdn_cert.inputs.get("subjectAlternativeNames")) == (
        DOMAIN["api"],
        None,
    )
    assert alb_cert.inputs["domainName"] == DOMAIN["api"]
    assert alb_cert.inputs["subjectAlternativeNames"] == [DOMAIN["origin"]]
    assert {c.inputs["validationMethod"] for c in (alb_cert, cdn_cert)} == {"DNS"}

    # One validation record per distinct name, the CNAME ACM asked for, in the given zone.
    records = {n: r for n, r in res.items() if n.startswith("domain-validation-")}
    assert sorted(records) == ["domain-validation-api", "domain-validation-origin"]
    options = {o["domainName"]: o for o in alb_cert.outputs["domainValidationOptions"]}
    for role, record in records.items():
        want = options[DOMAIN[role.removeprefix("domain-validation-")]]
        assert record.inputs["zoneId"] == ZONE_ID
        assert record.inputs["name"] == want["resourceRecordName"]
        assert record.inputs["type"] == "CNAME"
        assert record.inputs["records"] == [want["resourceRecordValue"]]
        assert record.inputs["allowOverwrite"] is True
    # ACM asks the same record of CloudFront's certificate: the api record validates both.
    [cdn_option] = cdn_cert.outputs["domainValidationOptions"]
    assert cdn_option == options[DOMAIN["api"]]

    alb_check = res["domain-alb-certificate-validation"]
    cdn_check = res["domain-cdn-certificate-validation"]
    assert alb_check.type == cdn_check.type == ResourceType.ACM_CERTIFICATE_VALIDATION
    assert alb_check.inputs["certificateArn"] == alb_cert.outputs["arn"]
    assert cdn_check.inputs["certificateArn"] == cdn_cert.outputs["arn"]
    assert cdn_check.inputs["region"] == "us-east-1"
    fqdn = {n: r.outputs["fqdn"] for n, r in records.items()}
    assert sorted(alb_check.inputs["validationRecordFqdns"]) == sorted(fqdn.values())
    assert cdn_check.inputs["validationRecordFqdns"] == [fqdn["domain-validation-api"]]

    # CloudFront: the name, the validated certificate, TLS 1.2+ with SNI, an HTTPS origin
    # at `origin`, which the ALB's certificate covers.
    [dist] = run.by_type(ResourceType.CLOUDFRONT_DISTRIBUTION)
    assert dist.inputs["aliases"] == [DOMAIN["api"]]
    viewer = dist.inputs["viewerCertificate"]
    assert viewer["acmCertificateArn"] == cdn_check.outputs["certificateArn"]
    assert viewer["minimumProtocolVersion"] == "TLSv1.2_2021"
    assert viewer["sslSupportMethod"] == "sni-only"
    assert not viewer.get("cloudfrontDefaultCertificate")
    [alb_origin] = [o for o in dist.inputs["origins"] if o["originId"] == "alb"]
    assert alb_origin["domainName"] == DOMAIN["origin"]
    assert alb_origin["customOriginConfig"]["originProtocolPolicy"] == "https-only"

    https = res["alb-https"]
    assert https.inputs["certificateArn"] == alb_check.outputs["certificateArn"]
    assert https.inputs["sslPolicy"] == TLS_POLICY
    assert res["alb-http"].inputs["defaultActions"][0]["type"] == "redirect"

    # Offline (the end state, cut-over closed): api at CloudFront (A and AAAA), origin at
    # the ALB.
    dist_name = dist.outputs["domainName"]
    alb = res["alb-lb"].outputs
    assert _alias(res["domain-api"]) == ("A", dist_name, CLOUDFRONT_ZONE_ID)
    assert _alias(res["domain-api-ipv6"]) == ("AAAA", dist_name, CLOUDFRONT_ZONE_ID)
    assert res["domain-api"].inputs["aliases"][0]["evaluateTargetHealth"] is False
    assert _alias(res["domain-origin"]) == ("A", alb["dnsName"], alb["zoneId"])
    assert run.exports["url"] == f"https://{DOMAIN['api']}"


def test_cutover_open_keeps_api_at_the_alb(stacks: Path) -> None:
    res = _by_name(_run(stacks, "edge", cutover="open"))
    alb = res["alb-lb"].outputs
    assert _alias(res["domain-api"]) == ("A", alb["dnsName"], alb["zoneId"])
    assert "domain-api-ipv6" not in res
    # CloudFront already serves the name (testable with curl --connect-to) before DNS moves.
    assert res["edge-distribution"].inputs["aliases"] == [DOMAIN["api"]]


def test_cutover_dns_moves_the_records_and_keeps_the_alb_open(stacks: Path) -> None:
    """The DNS step of the edge runbook as a setting: `dns` differs from `open` in the
    records only and from `closed` in the ALB's internet rules only, so each step is a
    plain `pulumi up` (no --target on a URN)."""
    runs = {c: _by_name(_run(stacks, "edge", cutover=c)) for c in ("open", "dns", "closed")}
    dist = runs["dns"]["edge-distribution"].outputs
    assert _alias(runs["dns"]["domain-api"]) == ("A", dist["domainName"], dist["hostedZoneId"])
    assert "domain-api-ipv6" in runs["dns"]
    internet = {n for n in runs["open"] if "-alb-from-internet" in n}
    assert internet and internet <= set(runs["dns"])
    assert not {n for n in runs["closed"] if "-alb-from-internet" in n}
    # open -> dns: only the api records change; dns -> closed: only the internet rules go.
    assert set(runs["dns"]) - set(runs["open"]) == {"domain-api-ipv6"}
    assert set(runs["dns"]) - set(runs["closed"]) == internet
    assert set(runs["closed"]) - set(runs["dns"]) == set()


def test_load_balanced_with_a_domain(stacks: Path) -> None:
    run = _run(stacks, "load-balanced")
    res = _by_name(run)
    assert "domain-cdn-certificate" not in res and not run.by_type(
        ResourceType.CLOUDFRONT_DISTRIBUTION
    )
    check = res["domain-alb-certificate-validation"]
    assert res["alb-https"].inputs["certificateArn"] == check.outputs["certificateArn"]
    assert res["alb-https"].inputs["sslPolicy"] == TLS_POLICY
    assert res["alb-http"].inputs["defaultActions"][0]["redirect"]["protocol"] == "HTTPS"
    alb = res["alb-lb"].outputs
    for role in ("api", "origin"):
        assert _alias(res[f"domain-{role}"]) == ("A", alb["dnsName"], alb["zoneId"])
        assert res[f"domain-{role}"].inputs["aliases"][0]["evaluateTargetHealth"] is True
    ports = sorted(r.inputs["fromPort"] for n, r in res.items() if "alb-from-internet" in n)
    assert ports == [80, 443]


def test_single_box_points_api_at_the_elastic_ip(stacks: Path) -> None:
    run = _run(stacks, "single-box")
    res = _by_name(run)
    assert not run.by_type(ResourceType.ACM_CERTIFICATE)
    record = res["domain-api"]
    assert record.inputs["type"] == "A" and record.inputs["ttl"] == 60
    assert record.inputs["records"] == [res["box-eip"].outputs["publicIp"]]
    assert run.exports["url"] == f"http://{DOMAIN['api']}"


def test_zone_looked_up_by_name_without_zone_id(tmp_path: Path) -> None:
    root = _stacks(tmp_path, {k: v for k, v in DOMAIN.items() if k != "zone_id"})
    res = _by_name(_run(root, "load-balanced"))
    records = [r for r in res.values() if r.type == ResourceType.ROUTE53_RECORD]
    assert len(records) == 4  # validation api + origin, alias api + origin
    [zone_id] = {r.inputs["zoneId"] for r in records}
    assert zone_id.startswith("Z") and zone_id != ZONE_ID


@pytest.mark.parametrize("stage", ["edge", "load-balanced"])
def test_policy_passes_with_a_domain(
    stacks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, stage: str
) -> None:
    monkeypatch.setattr(
        plan_build, "load_stack_config", lambda e, s: load_stack_config(e, s, stacks)
    )
    path = plan_build.write_plan(plan_build.build_plan("prod", stage), tmp_path / "plans")
    code = runner.main([str(path), "--no-checks", "--format", "sarif"])
    sarif = json.loads(capsys.readouterr().out)
    results = [r for run in sarif["runs"] for r in run["results"]]
    rules = {r["ruleId"] for r in results}
    assert "cloudfront-own-certificate" not in rules
    mandatory = [r for r in results if r["level"] == "error" and not r.get("suppressions")]
    assert mandatory == [] and code == 0
    if stage == "edge":
        # Not vacuous: the same distribution on TLSv1 is a mandatory cloudfront-tls finding.
        plan = json.loads(path.read_text())
        [dist] = [r for r in plan["resources"] if r["type"] == ResourceType.CLOUDFRONT_DISTRIBUTION]
        for side in ("inputs", "outputs"):
            dist[side]["viewerCertificate"]["minimumProtocolVersion"] = "TLSv1"
        path.write_text(json.dumps(plan))
        assert runner.main([str(path), "--no-checks"]) == 1
        assert "cloudfront-tls" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            {"api": "api.other.example"},
            "domain.api: invalid value 'api.other.example': not in the zone "
            "'movies.example.com'; allowed: movies.example.com or a name ending in "
            ".movies.example.com",
        ),
        ({"colour": "blue"}, "domain.colour: unknown key 'colour'; allowed: "),
        ({"origin": DOMAIN["api"]}, "domain.origin: invalid value 'api.movies.example.com'"),
        ({"zone_id": "z-lower"}, "domain.zone_id: invalid value 'z-lower'; allowed: a Route 53"),
    ],
)
def test_bad_domain_is_one_line(tmp_path: Path, change: dict[str, str], line: str) -> None:
    root = _stacks(tmp_path, {**DOMAIN, **change})
    with pytest.raises(ConfigError) as caught:
        load_stack_config("prod", "edge", root)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(line), message


def test_domain_and_certificate_arn_are_exclusive(tmp_path: Path) -> None:
    root = _stacks(tmp_path, DOMAIN)
    path = root / "env" / "prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["certificate_arn"] = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"^domain: set together with certificate_arn"):
        load_stack_config("prod", "load-balanced", root)
