"""The real pack process, driven over its gRPC analyzer protocol as the Pulumi CLI drives it.

Starts ``policies/__main__.py`` (it prints its port and serves on 127.0.0.1), then sends
what the engine sends: GetAnalyzerInfo, Configure with the dev/prod config's levels,
Analyze for one resource and AnalyzeStack for a stack. No CLI is needed for that.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from policies.offline import enforcement_levels, load_config
from policies.rules import ALL_POLICIES, STACK_POLICIES

pytestmark = pytest.mark.servers

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
_LEVEL = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY}


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "__main__.py"], cwd=PACK_DIR, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=20)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _configure(stub: analyzer_pb2_grpc.AnalyzerStub, env: str) -> None:
    levels = enforcement_levels(load_config(env))
    config = {
        name: analyzer_pb2.PolicyConfig(enforcementLevel=_LEVEL[level.value])
        for name, level in levels.items()
    }
    stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=config))


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(props)
    return message


PUBLIC_DB = {"publiclyAccessible": True, "storageEncrypted": True}


def _analyze(stub: analyzer_pb2_grpc.AnalyzerStub) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    request = analyzer_pb2.AnalyzeRequest(
        type="aws:rds/instance:Instance",
        urn="urn:pulumi:prod::movies::aws:rds/instance:Instance::db",
        name="db",
        properties=_struct(PUBLIC_DB),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=True),
    )
    return list(stub.Analyze(request).diagnostics)


def test_pack_announces_every_rule_mandatory_by_default(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "movies-guardrails"
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in ALL_POLICIES)
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}
    stack_rules = {p.name for p in info.policies if p.policy_type == 2}  # POLICY_TYPE_STACK
    assert stack_rules == {p.name for p in STACK_POLICIES}


@pytest.mark.parametrize(("env", "level"), [("prod", "mandatory"), ("dev", "advisory")])
def test_config_sets_the_level_of_a_real_violation(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, env: str, level: str
) -> None:
    _configure(analyzer, env)
    diagnostics = [d for d in _analyze(analyzer) if d.policyName == "db-not-public"]
    assert len(diagnostics) == 1
    assert diagnostics[0].enforcementLevel == _LEVEL[level]


def test_stack_rule_runs_over_the_protocol(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    _configure(analyzer, "prod")
    bucket = analyzer_pb2.AnalyzerResource(
        type="aws:s3/bucket:Bucket",
        urn="urn:pulumi:prod::movies::aws:s3/bucket:Bucket::media",
        name="media",
        properties=_struct({"bucket": "movies-prod-media", "id": "movies-prod-media"}),
    )
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[bucket]))
    failing = {d.policyName for d in response.diagnostics}
    assert {"s3-encrypted", "s3-public-access-block", "s3-deny-insecure-transport"} <= failing
