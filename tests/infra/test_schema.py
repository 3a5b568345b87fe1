"""stacks/schema.json: generated from the config models, referenced by every YAML file,
and it accepts the shipped specs and refuses what the loader refuses."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from infra.config import SCHEMA_FILE, STACKS_DIR, main, schema_text

FILES = sorted(STACKS_DIR.glob("*.yaml")) + sorted(STACKS_DIR.glob("env/*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_schema_file_matches_the_models(capsys: pytest.CaptureFixture[str]) -> None:
    """Fails when a model changes and `python -m infra schema` was not run (or the reverse)."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text()
    assert main(["--check"]) == 0
    assert "matches the models" in capsys.readouterr().out


def test_check_reports_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "schema.json"
    stale.write_text(SCHEMA_FILE.read_text().replace('"minimum": 8', '"minimum": 9'))
    monkeypatch.setattr("infra.config.SCHEMA_FILE", stale)
    assert main(["--check"]) == 1


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(STACKS_DIR)))
def test_every_yaml_names_the_schema_and_passes_it(path: Path, validator) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    rel = "schema.json" if path.parent == STACKS_DIR else "../schema.json"
    assert first == f"# yaml-language-server: $schema={rel}"
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize(
    ("rel", "change"),
    [
        ("cached.yaml", lambda d: d["cache"].update(nodes=3)),  # unknown key
        ("cached.yaml", lambda d: d["web"].update(min_size={"dev": 1})),  # per-env without prod
        ("cached.yaml", lambda d: d["web"].update(min_size="2")),  # a string is not an int
        ("cached.yaml", lambda d: d["database"].update(instance_class="r7g.large")),
        ("cached.yaml", lambda d: d["cache"].update(node_count=6)),
        ("edge.yaml", lambda d: d["edge"].update(price_class="cheap")),
        ("env/dev.yaml", lambda d: d.update(nat="gateway")),
        ("env/dev.yaml", lambda d: d.update(az_count=9)),
        ("env/dev.yaml", lambda d: d.pop("region")),
        ("env/dev.yaml", lambda d: d.update(zone_ids=["us-east-1a", "us-east-1b"])),  # names
        ("env/dev.yaml", lambda d: d.update(zone_ids=["use1-az1", "use1-az1"])),
        ("env/dev.yaml", lambda d: d.pop("zone_ids")),
    ],
)
def test_schema_refuses_what_the_loader_refuses(rel: str, change, validator) -> None:
    doc = yaml.safe_load((STACKS_DIR / rel).read_text(encoding="utf-8"))
    assert validator.is_valid(doc)
    change(doc)
    assert not validator.is_valid(doc)
