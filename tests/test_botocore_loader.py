"""tests/conftest.py `_one_botocore_data_loader`: the sessions moto's mocks make share one
botocore data loader, and its search paths do not grow with each session."""

from __future__ import annotations

import boto3
import botocore.session
from moto import mock_aws

from infra.verify import data_loader


def _loader_of_a_mocked_client() -> object:
    with mock_aws():
        boto3.client("s3", region_name="us-east-1")  # makes the mocked default session
        session = boto3.DEFAULT_SESSION
        assert session is not None
        return session._session.get_component("data_loader")


def test_mocked_sessions_share_one_loader_with_each_path_once(monkeypatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    first, second = _loader_of_a_mocked_client(), _loader_of_a_mocked_client()
    assert first is second
    paths = first.search_paths  # type: ignore[attr-defined]
    assert len(paths) == len(set(paths)) and any(p.endswith("boto3/data") for p in paths)
    # What the suite patched is botocore's own factory, with verify's loader: one for both.
    assert botocore.session.create_loader is data_loader
    assert first is data_loader(None)
