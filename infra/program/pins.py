"""What `python -m infra ami` and `python -m infra zones` share: where they read AWS's
facts (AWS itself, or moto's bundled copy of them: a stand-in, named so), how they read
the environment profile they pin them in, and how they write a pin line back.

Both pin a live AWS fact in the profile so that nothing changes at `pulumi up` without a
change of config (issue 11: the AMI from SSM and the zones from the offerings were read at
every run).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from infra.yamlfile import YamlError, load_yaml

R = TypeVar("R")

# Credential providers that answer over the network (the EC2 instance metadata service,
# the ECS container endpoint); "auto" does not probe them, so deciding the source sends
# no request. On an instance role, say --source aws.
_NETWORK_PROVIDERS = ("container-role", "iam-role")


def resolve_source(source: str) -> str:
    """``auto``: ``aws`` when boto3 finds credentials (environment, config or shared
    files, SSO, a process), else ``moto-stand-in``."""
    if source != "auto":
        return source
    import botocore.session

    session = botocore.session.get_session()
    resolver = session.get_component("credential_provider")
    for method in _NETWORK_PROVIDERS:
        if resolver.get_provider(method) is not None:
            resolver.remove(method)
    return "aws" if session.get_credentials() is not None else "moto-stand-in"


@contextlib.contextmanager
def reading(source: str, make_reader: Callable[[], R]) -> Iterator[R]:
    """``make_reader()`` against AWS, or, for ``moto-stand-in``, inside moto's mock, which
    answers from the copy of AWS's public data it ships."""
    if source == "aws":
        yield make_reader()
        return
    from moto import mock_aws

    with mock_aws():
        yield make_reader()


def read_profile(path: Path, error: type[Exception]) -> dict[str, Any]:
    """The profile as plain data (so a profile without pins can still get them), read with
    the project's strict YAML reader; ``error`` carries the one-line message."""
    try:
        doc = load_yaml(path, "environment profile")
    except YamlError as exc:
        raise error(str(exc)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("region"), str):
        raise error(f"{path}: no 'region' in it; is this an environment profile?")
    return doc


def write_line(path: Path, pattern: re.Pattern[str], line: str, after: str | None = None) -> None:
    """Replace the line ``pattern`` matches with ``line``, or add it after the first line
    starting with ``after`` (else at the end); every other line is kept as it is. Written
    through a temporary file and a rename, so a crash leaves the old profile whole."""
    text = path.read_text(encoding="utf-8")
    anchor = re.compile(rf"^({re.escape(after)}[^\n]*)$", re.M) if after else None
    if pattern.search(text):
        text = pattern.sub(lambda _: line, text, count=1)
    elif anchor is not None and anchor.search(text):
        text = anchor.sub(lambda m: f"{m.group(1)}\n{line}", text, count=1)
    else:
        text = text.rstrip("\n") + "\n" + line + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
