"""`python -m infra upgrade`: order of steps and refusals, against the CLI stand-in.

The Automation API runs tests/standins/pulumi_cli_standin/bin/pulumi (a STAND-IN for
the Pulumi CLI: it records the command lines it gets and answers with fixture JSON),
through ``PulumiCommand(root=...)`` as it would run the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.upgrade import Request, Runner

pytestmark = pytest.mark.wall(17)  # seconds alone (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standins" / "pulumi_cli_standin"
FIX = ROOT / "tests" / "fixtures" / "engine"
RDS_URN = (
    "urn:pulumi:dev::movies::movies:infra:Database$aws:rds/instance:Instance::database-primary"
)
# The live stack's Redis in state-prod-before-provider-upgrade.json (and the preview that
# replaces it): named `cache-redis` there, which no plan holds (the program's is
# `cache-group`). --allow-replace accepts a name of the plans or of the live stack.
LIVE_REDIS_URN = (
    "urn:pulumi:prod::movies::movies:infra:Cache"
    "$aws:elasticache/replicationGroup:ReplicationGroup::cache-redis"
)
PLAN_REDIS_URN = (
    "urn:pulumi:prod::movies::movies:infra:Cache"
    "$aws:elasticache/replicationGroup:ReplicationGroup::cache-group"
)
BUCKET_URN = "urn:pulumi:prod::movies::movies:infra:Release$aws:s3/bucket:Bucket::release-artifacts"


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("plans")


@pytest.fixture(scope="module")
def variants() -> dict[tuple[str, str, str], dict]:
    """The plans of stacks with another edge cut-over, each planned once for the module."""
    return {}


@pytest.fixture(autouse=True)
def own_plans(plan_dir: Path, variants: dict, stack_plan, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The runner reads its offline plans through `load_or_build` from build/plan; here from
    a directory of this module's own, filled from this code. The checkout's build/plan is
    whatever an earlier run or tool left there, judged current by mtime alone: a file from
    other code (e.g. written by a run that had imported the program before a merge) made
    the tests that diff a stored plan against one built now (phase open, phase close)
    depend on what ran before them; and the runs wrote into the checkout. A stack's plan
    is the session's (the same build_plan call, tests/conftest.py), built once for every
    test that needs it; the cut-over's open variant is planned once for the module."""
    import copy

    from infra.plans import build, load

    real_build = build.build_plan
    planning: list[str] = []  # the session plans a stack with build_plan too: that is this

    def build_plan(env: str, stage: str, *, edge_cutover: str | None = None, **kw) -> dict:
        if kw or planning:  # an artifact or template (not a session plan), or the session's
            return real_build(env, stage, edge_cutover=edge_cutover, **kw)
        if edge_cutover is None:
            planning.append(f"{env}/{stage}")
            try:
                return copy.deepcopy(stack_plan(env, stage))
            finally:
                planning.pop()
        key = (env, stage, edge_cutover)
        if key not in variants:
            variants[key] = real_build(env, stage, edge_cutover=edge_cutover)
        return copy.deepcopy(variants[key])

    monkeypatch.setattr(build, "build_plan", build_plan)
    monkeypatch.setattr(build, "PLAN_DIR", plan_dir)
    monkeypatch.setattr(load, "PLAN_DIR", plan_dir)
    return plan_dir


class CLI:
    """The stand-in's files: its stacks' config, and the commands it was given."""

    def __init__(
        self,
        tmp: Path,
        monkeypatch: pytest.MonkeyPatch,
        stack: str,
        stage: str,
        preview: str,
        export: str,
    ) -> None:
        self.state, self.log = tmp / "standin-state.json", tmp / "standin-log.jsonl"
        self.state.write_text(
            json.dumps(
                {
                    "stacks": {
                        stack: {
                            "config": {
                                "movies:stage": stage,
                                "movies:environment": stack,
                                "aws:region": "us-east-1",
                            }
                        }
                    }
                }
            )
        )
        self.env = {
            "STANDIN_STATE": str(self.state),
            "STANDIN_LOG": str(self.log),
            "STANDIN_PREVIEW": str(FIX / preview),
            "STANDIN_EXPORT": str(FIX / export),
        }
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)
        # The stand-in's `#!/usr/bin/env python3` finds the suite's own interpreter first:
        # a version manager's `python3` shim (a shell script) and its site's .pth imports
        # made each of a run's ~7 stand-in calls cost ~0.2 s of CPU; this one starts in 0.03 s.
        monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        self.stack = stack

    def commands(self) -> list[list[str]]:
        """Each command line without the flags every call carries."""
        out = []
        for line in self.log.read_text().splitlines():
            argv = [a for a in json.loads(line) if a != "--non-interactive"]
            if "--event-log" in argv:  # a temporary path: say only that it was there
                i = argv.index("--event-log")
                argv[i + 1] = "<event log>"
            out.append(argv)
        return out

    def verbs(self) -> list[str]:
        return [" ".join(w for w in argv[:2] if not w.startswith("-")) for argv in self.commands()]

    def config(self) -> dict[str, str]:
        return json.loads(self.state.read_text())["stacks"][self.stack]["config"]

    def applied(self) -> dict[str, str] | None:
        return json.loads(self.state.read_text())["stacks"][self.stack].get("applied")


def _run(tmp: Path, env: str, to: str, **kw) -> tuple[int, list[str], list[tuple[str, Path]]]:
    lines: list[str] = []
    verified: list[tuple[str, Path]] = []

    def verify_recorder(e: str, outputs: Path) -> int:  # stands in for boto3 checks
        verified.append((e, outputs))
        return 0

    request = Request(env=env, to=to, pulumi_root=STANDIN, out_dir=tmp / "out", **kw)
    code = Runner(request, say=lines.append, verify=verify_recorder).run()
    return code, lines, verified


def test_dry_run_selects_diffs_sets_previews_judges_and_restores(tmp_path, monkeypatch) -> None:
    cli = CLI(
        tmp_path,
        monkeypatch,
        "dev",
        "single-box",
        "preview-dev-split-db.json",
        "state-dev-single-box.json",
    )
    code, lines, verified = _run(tmp_path, "dev", "split-db", dry_run=True)
    assert code == 0, lines
    assert cli.verbs() == [
        "version",
        "stack select",
        "config",
        "config set",
        "preview",
        "stack export",
        "config set",
    ]
    cmds = cli.commands()
    assert cmds[3][-2:] == ["--", "split-db"] and cmds[-1][-2:] == ["--", "single-box"]
    preview = cmds[4]
    assert "--save-plan" in preview and "--json" in preview and "--policy-pack" in preview
    assert preview[preview.index("--policy-pack-config") + 1].endswith("policy-config.dev.json")
    assert cli.config()["movies:stage"] == "single-box" and cli.applied() is None
    assert verified == []
    assert [ln.split("]")[0] for ln in lines if ln.startswith("[")] == [
        f"[{i}/7" for i in range(1, 6)
    ]
    assert "dry run: stopped after the preview; nothing applied" in lines


def test_full_run_applies_exactly_the_saved_plan_then_verifies(tmp_path, monkeypatch) -> None:
    cli = CLI(
        tmp_path,
        monkeypatch,
        "dev",
        "single-box",
        "preview-dev-split-db.json",
        "state-dev-single-box.json",
    )
    code, lines, verified = _run(tmp_path, "dev", "split-db")
    assert code == 0, lines
    verbs = cli.verbs()
    assert verbs[:6] == [
        "version",
        "stack select",
        "config",
        "config set",
        "preview",
        "stack export",
    ]
    assert verbs[6] == "up" and "stack output" in verbs[7:]
    preview, up = cli.commands()[4], cli.commands()[6]
    saved = preview[preview.index("--save-plan") + 1]
    assert up[up.index("--plan") + 1] == saved
    assert up[up.index("--policy-pack-config") + 1].endswith("policy-config.dev.json")
    assert cli.applied()["movies:stage"] == "split-db"
    assert cli.config()["movies:stage"] == "split-db"  # not restored: the stack moved
    assert verified and verified[0][0] == "dev" and verified[0][1].is_file()


def test_refuses_a_preview_that_replaces_a_database_and_restores(tmp_path, monkeypatch) -> None:
    cli = CLI(
        tmp_path,
        monkeypatch,
        "dev",
        "single-box",
        "preview-dev-default-flags.json",
        "state-dev-single-box.json",
    )
    code, lines, _ = _run(tmp_path, "dev", "split-db")
    assert code == 1
    assert any(
        ln.startswith("refused: the preview replaces or deletes 1 resource(s)") and RDS_URN in ln
        for ln in lines
    ), lines
    assert "up" not in cli.verbs()
    assert cli.config()["movies:stage"] == "single-box"


def test_allow_replace_urn_lets_that_replacement_through(tmp_path, monkeypatch) -> None:
    cli = CLI(
        tmp_path,
        monkeypatch,
        "dev",
        "single-box",
        "preview-dev-default-flags.json",
        "state-dev-single-box.json",
    )
    code, lines, _ = _run(tmp_path, "dev", "split-db", allow_replace=(RDS_URN,))
    assert code == 0, lines
    assert "up" in cli.verbs()


def test_refuses_a_mandatory_policy_violation_on_the_new_state(tmp_path, monkeypatch) -> None:
    cli = CLI(
        tmp_path,
        monkeypatch,
        "prod",
        "load-balanced",
        "preview-prod-cached-replacements.json",
        "state-prod-before-provider-upgrade.json",
    )
    code, lines, _ = _run(tmp_path, "prod", "cached", allow_replace=(LIVE_REDIS_URN, BUCKET_URN))
    assert code == 1
    refused = [ln for ln in lines if ln.startswith("refused:")]
    assert refused and "mandatory policy violation" in refused[0]
    assert "elasticache-encrypted" in refused[0]  # the replacement drops TLS
    assert "up" not in cli.verbs()
    assert cli.config()["movies:stage"] == "load-balanced"


@pytest.mark.parametrize(
    ("stage", "to", "expected"),
    [
        ("split-db", "single-box", "--to single-box is an earlier stage than split-db"),
        ("split-db", "split-db", "already at split-db"),
        ("huge-box", "split-db", "movies:stage is 'huge-box' on stack dev; allowed: single-box"),
    ],
)
def test_refuses_bad_moves_before_touching_config(
    tmp_path, monkeypatch, stage, to, expected
) -> None:
    cli = CLI(
        tmp_path,
        monkeypatch,
        "dev",
        stage,
        "preview-dev-split-db.json",
        "state-dev-single-box.json",
    )
    code, lines, _ = _run(tmp_path, "dev", to)
    assert code == 1 and any(expected in ln for ln in lines), lines
    assert "config set" not in cli.verbs()


def test_a_failing_preview_restores_the_config(tmp_path, monkeypatch) -> None:
    cli = CLI(
        tmp_path,
        monkeypatch,
        "dev",
        "single-box",
        "preview-dev-split-db.json",
        "state-dev-single-box.json",
    )
    monkeypatch.setenv("STANDIN_FAIL_AT", "preview")
    code, lines, _ = _run(tmp_path, "dev", "split-db")
    assert code == 1 and (
        "error: pulumi preview failed: error: preview failed (stand-in told to fail it)" in lines
    ), lines
    assert not any("code: 255" in ln for ln in lines), lines
    assert cli.config()["movies:stage"] == "single-box"


PROTECTED = (
    'unable to delete resource "' + RDS_URN + '" as it is currently marked for protection. '
    "To unprotect the resource, remove the `protect` flag from the resource in your Pulumi "
    "program and run `pulumi up`"
)


def test_an_engine_error_in_the_preview_reaches_the_user(tmp_path, monkeypatch) -> None:
    """The stand-in fails the preview as the CLI does (a diagnosticEvent, stderr's
    `error:` line, exit 255): the engine's own sentence is what the user reads."""
    cli = CLI(
        tmp_path, monkeypatch, "dev", "single-box",
        "preview-dev-split-db.json", "state-dev-single-box.json",
    )  # fmt: skip
    monkeypatch.setenv("STANDIN_FAIL_AT", "preview")
    monkeypatch.setenv("STANDIN_FAIL_DIAG", f"{RDS_URN}|{PROTECTED}")
    code, lines, _ = _run(tmp_path, "dev", "split-db")
    head = next(ln for ln in lines if ln.startswith("error: "))
    assert code == 1 and head.startswith("error: pulumi preview failed: database-primary: error: ")
    assert "marked for protection" in head, lines
    assert "      engine: error: preview failed" in lines, lines
    assert cli.config()["movies:stage"] == "single-box"


@pytest.mark.parametrize("ref", ["database-primary", "aws:rds/instance:Instance::database-primary"])
def test_allow_replace_takes_a_logical_name_or_type_and_name(tmp_path, monkeypatch, ref) -> None:
    cli = CLI(
        tmp_path, monkeypatch, "dev", "single-box",
        "preview-dev-default-flags.json", "state-dev-single-box.json",
    )  # fmt: skip
    code, lines, _ = _run(tmp_path, "dev", "split-db", allow_replace=(ref,))
    assert code == 0, lines
    assert "up" in cli.verbs()


def test_allow_replace_of_an_unknown_name_is_one_line_with_near_matches(
    tmp_path, monkeypatch
) -> None:
    cli = CLI(
        tmp_path, monkeypatch, "dev", "single-box",
        "preview-dev-default-flags.json", "state-dev-single-box.json",
    )  # fmt: skip
    code, lines, _ = _run(tmp_path, "dev", "split-db", allow_replace=("database-primry",))
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert code == 2 and len(errors) == 1, lines
    assert "no resource 'database-primry'" in errors[0] and "near: database-primary" in errors[0]
    assert "up" not in cli.verbs()
    assert cli.config()["movies:stage"] == "single-box"  # set back


def test_allow_replace_of_the_plans_redis_resolves_offline(tmp_path, monkeypatch) -> None:
    """The plans' own Redis URN is accepted (the offline diff names it)."""
    cli = CLI(
        tmp_path, monkeypatch, "prod", "load-balanced",
        "preview-prod-cached-replacements.json", "state-prod-before-provider-upgrade.json",
    )  # fmt: skip
    code, lines, _ = _run(
        tmp_path,
        "prod",
        "cached",
        dry_run=True,
        # a URN of the plans, a name of the live stack, TYPE::NAME (the plan's name alone
        # is ambiguous: a Bucket and a BucketV2 are both called release-artifacts)
        allow_replace=(PLAN_REDIS_URN, "cache-redis", "aws:s3/bucket:Bucket::release-artifacts"),
    )
    assert not any(ln.startswith("error: --allow-replace") for ln in lines), lines
    # both names resolved: what stops the run is the policy, not a replacement
    refused = [ln for ln in lines if ln.startswith("refused:")]
    assert code == 1 and "mandatory policy violation" in refused[0], lines
    assert cli.config()["movies:stage"] == "load-balanced"


def _cutover_cli(tmp: Path, monkeypatch, stage: str, **config: str) -> CLI:
    cli = CLI(
        tmp, monkeypatch, "prod", stage,
        "preview-prod-cached-replacements.json", "state-prod-before-provider-upgrade.json",
    )  # fmt: skip
    # The fixture preview replaces the old Redis and the bucket and drops TLS; these edge
    # runs are about the order of settings and phases, so its judgement is not theirs.
    monkeypatch.setattr(Runner, "_judge", lambda self, stack, preview, allow: None)
    if config:
        state = json.loads(cli.state.read_text())
        state["stacks"]["prod"]["config"].update(config)
        cli.state.write_text(json.dumps(state))
    return cli


def test_read_replicas_to_edge_is_phase_open_then_stops_with_the_checks(
    tmp_path, monkeypatch
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"cdn_domain": "d111.cloudfront.net"}))
    monkeypatch.setenv("STANDIN_OUTPUTS", str(outputs))
    cli = _cutover_cli(tmp_path, monkeypatch, "read-replicas")
    code, lines, verified = _run(tmp_path, "prod", "edge")
    assert code == 0, lines
    assert cli.applied()["movies:stage"] == "edge"
    assert cli.applied()["movies:edgeCutover"] == "open"  # the ALB kept the internet
    sets = [argv[2:] for argv in cli.commands() if argv[:2] == ["config", "set"]]
    assert [a[0] for a in sets] == ["movies:stage", "movies:edgeCutover"], sets
    assert any("edge cut-over phase open (1 of 2)" in ln for ln in lines), lines
    assert "[3/7] pulumi config set movies:stage edge && pulumi config set " \
        "movies:edgeCutover open" in lines  # fmt: skip
    # the offline diff of phase open removes nothing: the internet rule stays
    summary = next(ln for ln in lines if "to remove" in ln)
    assert "0 to remove" in summary, summary
    after = lines[lines.index(next(ln for ln in lines if ln.startswith("phase open done"))) :]
    text = "\n".join(after)
    for check in ("d111.cloudfront.net", "curl -fsS", "TTL", "RequestCount"):
        assert check in text, text
    assert after[-1].endswith("python -m infra upgrade prod --to edge --phase close"), after
    assert verified


def test_phase_close_sets_closed_and_its_offline_diff_deletes_the_internet_rule(
    tmp_path, monkeypatch
) -> None:
    cli = _cutover_cli(tmp_path, monkeypatch, "edge", **{"movies:edgeCutover": "open"})
    code, lines, _ = _run(tmp_path, "prod", "edge", phase="close")
    assert code == 0, lines
    assert cli.applied()["movies:edgeCutover"] == "closed"
    sets = [argv[2:] for argv in cli.commands() if argv[:2] == ["config", "set"]]
    assert [a[0] for a in sets] == ["movies:edgeCutover"], sets
    summary = next(ln for ln in lines if "to remove" in ln)
    assert summary.startswith("      0 to add, 0 to change, 1 to remove"), summary
    assert any("security-alb-from-internet-http: public ingress ends" in ln for ln in lines)
    assert lines[-1].endswith("the edge cut-over is complete"), lines


def test_phase_open_dry_run_restores_both_settings(tmp_path, monkeypatch) -> None:
    cli = _cutover_cli(tmp_path, monkeypatch, "read-replicas")
    code, lines, _ = _run(tmp_path, "prod", "edge", dry_run=True)
    assert code == 0, lines
    assert cli.config()["movies:stage"] == "read-replicas"
    assert "movies:edgeCutover" not in cli.config(), cli.config()
    assert cli.commands()[-1][:3] == ["config", "rm", "movies:edgeCutover"]


@pytest.mark.parametrize(
    ("stage", "config", "phase", "expected"),
    [
        ("read-replicas", {}, "close", "--phase close closes the edge cut-over at edge, but"),
        ("edge", {"movies:edgeCutover": "closed"}, "close", "on stack prod, not open or dns"),
        ("edge", {"movies:edgeCutover": "open"}, "open", "already at edge; allowed: --phase close"),
        # the committed prod profile has no domain: no record of the stack's to move
        ("edge", {"movies:edgeCutover": "open"}, "dns", "profile has no domain"),
        ("read-replicas", {}, "dns", "--phase dns moves the records at edge, but"),
    ],
)
def test_phase_refusals_touch_nothing(tmp_path, monkeypatch, stage, config, phase, expected):
    cli = _cutover_cli(tmp_path, monkeypatch, stage, **config)
    code, lines, _ = _run(tmp_path, "prod", "edge", phase=phase)
    refusal = [ln for ln in lines if ln.startswith("refused: ")]
    assert code == 1 and len(refusal) == 1 and expected in refusal[0], lines
    assert "config set" not in cli.verbs()


def test_edge_to_scale_5x_needs_the_setting_and_keeps_it(tmp_path, monkeypatch) -> None:
    cli = _cutover_cli(tmp_path, monkeypatch, "edge")
    code, lines, _ = _run(tmp_path, "prod", "scale-5x")
    assert code == 1 and any("movies:edgeCutover is unset" in ln for ln in lines), lines
    cli = _cutover_cli(tmp_path, monkeypatch, "edge", **{"movies:edgeCutover": "closed"})
    code, lines, _ = _run(tmp_path, "prod", "scale-5x", dry_run=True)
    assert code == 0, lines
    sets = [argv[2:] for argv in cli.commands() if argv[:2] == ["config", "set"]]
    assert [a[0] for a in sets] == ["movies:stage", "movies:stage"], sets


# `python -m infra.upgrade` with the plans of `own_plans`: runpy.run_module as -m runs it.
# SIGINT handled as at a terminal: a process that starts with it ignored (any job a
# non-interactive shell put in the background, `nohup`) keeps it ignored, Python installs
# no KeyboardInterrupt handler, and the stand-in's Ctrl-C would be lost.
MAIN_WITH_PLAN_DIR = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "import runpy, sys; from pathlib import Path; from infra.plans import build, load; "
    "build.PLAN_DIR = load.PLAN_DIR = Path(sys.argv.pop(1)); "
    "runpy.run_module('infra.upgrade', run_name='__main__', alter_sys=True)"
)


def _subprocess(tmp: Path, cli: CLI, sigint_at: str) -> subprocess.CompletedProcess[str]:
    from infra.plans.build import PLAN_DIR, load_or_build

    for stage in ("single-box", "split-db"):  # written by this process, read by the child
        load_or_build(f"dev/{stage}")
    env = {**os.environ, **cli.env, "STANDIN_SIGINT_AT": sigint_at}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            MAIN_WITH_PLAN_DIR,
            str(PLAN_DIR),
            "dev",
            "--to",
            "split-db",
            "--pulumi-root",
            str(STANDIN),
            "--out",
            str(tmp / "out"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ctrl_c_during_the_preview_restores_the_config(tmp_path, monkeypatch) -> None:
    cli = CLI(
        tmp_path,
        monkeypatch,
        "dev",
        "single-box",
        "preview-dev-split-db.json",
        "state-dev-single-box.json",
    )
    done = _subprocess(tmp_path, cli, "preview")
    assert done.returncode == 130, done.stdout + done.stderr
    assert "interrupted: nothing was applied" in done.stdout
    assert cli.config()["movies:stage"] == "single-box"
    assert cli.verbs()[-1] == "config set" and "up" not in cli.verbs()


def test_ctrl_c_during_up_leaves_the_new_stage_and_says_how_to_go_on(tmp_path, monkeypatch) -> None:
    cli = CLI(
        tmp_path,
        monkeypatch,
        "dev",
        "single-box",
        "preview-dev-split-db.json",
        "state-dev-single-box.json",
    )
    done = _subprocess(tmp_path, cli, "up")
    assert done.returncode == 130, done.stdout + done.stderr
    assert "interrupted during pulumi up" in done.stdout
    assert cli.config()["movies:stage"] == "split-db"


def test_bad_arguments_are_one_line_exit_2(capsys) -> None:
    from infra.upgrade import main

    assert main(["dev", "--to", "huge-box"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "invalid choice: 'huge-box'" in err[-1]


def test_no_pulumi_cli_is_one_line_that_says_what_is_needed(tmp_path, capsys) -> None:
    from infra.upgrade import main

    code = main(["dev", "--to", "split-db", "--dry-run", "--pulumi-root", str(tmp_path)])
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if line.startswith("error")]
    assert code == 1 and len(lines) == 1
    assert f"{tmp_path}/bin/pulumi not found" in lines[0] and "--pulumi-root" in lines[0]
