"""The user data infra renders passes ``cloud-init schema``, from Debian's cloud-init.

Launch templates carry it base64-encoded (``userData``), instances as plain text
(``userData``, or ``userDataBase64``). Validating with the real cloud-init catches what
a YAML parse does not: unknown module keys, wrong types, a missing ``#cloud-config``.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from infra.guard.cloud_init_cli import cloud_init
from infra.guard.findings import Plan, ValueFinding
from infra.plans.index import resources, value
from infra.tokens import SECRET_MARKER, ResourceType

CHECK = "user-data"
HEADER = "#cloud-config"


def _documents(plan: Plan) -> Iterator[tuple[Mapping[str, Any], str | None, str]]:
    """(resource, decoded text or None, how it was stored) for every user data input."""
    for resource in resources(plan, ResourceType.EC2_LAUNCH_TEMPLATE):
        if value(resource, "userData") is not None:
            yield resource, *_decode(value(resource, "userData"))
    for resource in resources(plan, ResourceType.EC2_INSTANCE):
        if value(resource, "userData") is not None:
            yield resource, str(value(resource, "userData")), "plain"
        elif value(resource, "userDataBase64") is not None:
            yield resource, *_decode(value(resource, "userDataBase64"))


def _decode(raw: Any) -> tuple[str | None, str]:
    try:
        return base64.b64decode(str(raw), validate=True).decode("utf-8"), "base64"
    except (binascii.Error, UnicodeDecodeError) as error:
        return None, f"not base64 UTF-8 ({error})"


@cache
def schema_errors(text: str) -> str | None:
    """cloud-init's verdict on one document: None when valid, else its error text."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "user-data.yaml")
        path.write_text(text)
        result = cloud_init("schema", "-c", str(path))
    if result.returncode == 0:
        return None
    output = (result.stderr + result.stdout).replace(str(path), "user-data")
    return " ".join(line.strip() for line in output.splitlines() if line.strip())


def check(plan: Plan) -> list[ValueFinding]:
    findings: list[ValueFinding] = []
    for resource, text, stored in _documents(plan):
        if text is None:
            findings.append(ValueFinding.on(CHECK, resource, f"user data is {stored}"))
        elif text == SECRET_MARKER:
            findings.append(
                ValueFinding.on(CHECK, resource, "user data is a secret: it must carry no secret")
            )
        elif not text.startswith(HEADER):
            start = text.splitlines()[0][:40] if text else "(empty)"
            findings.append(
                ValueFinding.on(CHECK, resource, f"user data is not {HEADER} (starts {start!r})")
            )
        elif (errors := schema_errors(text)) is not None:
            findings.append(ValueFinding.on(CHECK, resource, f"cloud-init schema: {errors}"))
    return findings
