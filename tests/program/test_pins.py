"""What `infra ami` and `infra zones` share (infra/program/pins.py): the profile is read
with the strict reader, and a pin line is written back without touching the rest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.program import ami, pins, zones


def _profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prod.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("read", "error"),
    [
        (lambda p: ami.read_profile(p), ami.AmiError),
        (lambda p: zones.read_profile(p, "prod"), zones.ZoneError),
    ],
)
def test_a_profile_with_a_duplicate_key_is_refused_in_one_line(tmp_path, read, error) -> None:
    path = _profile(tmp_path, "region: us-east-1\naz_count: 2\nregion: eu-west-1\n")
    with pytest.raises(error) as info:
        read(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert "region" in str(info.value)


def test_a_pin_line_is_replaced_in_place_or_added_after_its_anchor(tmp_path) -> None:
    pattern = re.compile(r"^zone_ids:[^\n]*$", re.M)
    path = _profile(tmp_path, "# keep me\nregion: us-east-1\naz_count: 2   # two\nnat: single\n")
    pins.write_line(path, pattern, "zone_ids: [use1-az1, use1-az2]", after="az_count:")
    assert path.read_text() == (
        "# keep me\nregion: us-east-1\naz_count: 2   # two\n"
        "zone_ids: [use1-az1, use1-az2]\nnat: single\n"
    )
    pins.write_line(path, pattern, r"zone_ids: [use1-az4, \1]", after="az_count:")
    assert r"zone_ids: [use1-az4, \1]" in path.read_text()  # written as text, not a regex
    assert path.read_text().count("zone_ids") == 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_stand_in_source_answers_without_credentials(monkeypatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pins.reading("moto-stand-in", ami.aws_reader) as read:
        assert read("us-east-1", ami.parameter_name("arm64")).startswith("ami-")
