"""The CI job's real-preview script, run as the workflow runs it, with the CLI stand-in.

.github/workflows/preview.yml calls `.ci/live-preview STACK OUT`; here the same script runs
with tests/standins/pulumi_cli_standin/bin first on PATH (a STAND-IN for the Pulumi CLI:
it records its command lines and answers with fixture JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STANDIN_BIN = ROOT / "tests" / "standins" / "pulumi_cli_standin" / "bin"
FIX = ROOT / "tests" / "fixtures" / "engine"
WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"


def _run(
    tmp: Path, stack: str, preview: str, export: str
) -> tuple[subprocess.CompletedProcess, Path]:
    state, log, out = tmp / "state.json", tmp / "log.jsonl", tmp / "out"
    state.write_text(json.dumps({"stacks": {stack: {"config": {"movies:stage": "x"}}}}))
    env = {
        **os.environ,
        # The suite's own interpreter next: the stand-in's `#!/usr/bin/env python3` would
        # otherwise find a version manager's `python3` shim (a shell script, ~0.15 CPU-s
        # a call here), as tests/upgrade/test_runner.py notes.
        "PATH": os.pathsep.join(
            [str(STANDIN_BIN), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
        "PYTHON": sys.executable,
        "STANDIN_STATE": str(state),
        "STANDIN_LOG": str(log),
        "STANDIN_PREVIEW": str(FIX / preview),
        "STANDIN_EXPORT": str(FIX / export),
    }
    done = subprocess.run(
        [str(ROOT / ".ci" / "live-preview"), stack, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, out


def test_script_runs_preview_export_diff_cost(tmp_path: Path) -> None:
    done, out = _run(tmp_path, "dev", "preview-dev-split-db.json", "state-dev-single-box.json")
    assert done.returncode == 0, done.stderr
    commands = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert commands == [
        ["preview", "--json", "--show-sames", "--show-replacement-steps", "--stack", "dev"],
        ["stack", "export", "--stack", "dev"],
    ]
    comment = (out / "comment.md").read_text()
    assert "## Live preview of stack `dev`" in comment
    assert "| + add | `aws:rds/instance:Instance` | `database-primary` |" in comment
    assert "| today |" in comment and "dev after (split-db)" in comment
    assert json.loads((out / "preview.json").read_text())["config"]["movies:stage"] == "split-db"


def test_script_fails_on_data_loss_and_still_writes_the_comment(tmp_path: Path) -> None:
    done, out = _run(
        tmp_path,
        "prod",
        "preview-prod-cached-replacements.json",
        "state-prod-before-provider-upgrade.json",
    )
    assert done.returncode == 1
    assert "REPLACE: data loss" in (out / "comment.md").read_text()


def test_the_workflow_runs_this_script() -> None:
    text = WORKFLOW.read_text()
    assert ".ci/live-preview" in text
    assert "pulumi preview" not in text.replace(".ci/live-preview", "")  # no second copy
