"""``python -m infra upgrade ENV --to STAGE``: move a live stack to a later stage, with gates.

Through the Automation API (``pulumi.automation``), each step printed before it runs:

1. select the stack (``ENV``, or ``--stack ORG/movies/ENV``) and read ``movies:stage``;
2. the offline diff of the move (both plans under mocks): a stateful replacement there
   stops the run before anything is touched;
3. ``pulumi config set movies:stage STAGE``;
4. ``pulumi preview --save-plan`` with the policy pack, its JSON kept in ``build/upgrade/``;
5. judge the real preview: a replacement or deletion of a resource that holds data
   (``--allow-replace URN`` accepts one on purpose), or a mandatory policy violation on
   the new state (the pack run here on the stack export with the preview's steps
   applied), refuses; ``--dry-run`` stops here;
6. ``pulumi up --plan``: exactly the judged plan, nothing else;
7. ``python -m infra verify`` on the stack's new outputs.

Stopped before step 6 (a refusal, an error, Ctrl-C), ``movies:stage`` is set back to what
it was, so the stack is as it was. Interrupted during ``up``, the config is left at the
new stage (resources may already be at it) and the run says how to go on.
Exit: 0 done (or a dry run judged clean), 1 refused or failed, 2 bad input, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.config import ENVIRONMENTS, STAGES, ConfigError, load_stack_config

ROOT = REPO_ROOT
OUT_DIR = ROOT / "build" / "upgrade"
STAGE_KEY = "movies:stage"
STEPS = 7
# A move that one `pulumi up` cannot do safely: the ALB closes to the internet while DNS
# may still point at it (issue 20). Allowed only when the operator says the documented
# runbook (docs/infra.md) is being followed, step by step.
RUNBOOK_MOVES = {("read-replicas", "edge"): "--follows-edge-runbook"}


def engine_text(exc: BaseException, diagnostics: list[str]) -> list[str]:
    """The engine's own words for a failed command: its error diagnostics (from the event
    stream) and the ``error:`` lines of its stderr. ``str(CommandError)`` is
    ``"\n code: N\n stdout: ...\n stderr: ..."`` (pulumi/automation/_cmd.py
    CommandResult.__str__), so its first line alone says nothing."""
    text = str(exc)
    stderr = text.split("\n stderr: ", 1)[1] if "\n stderr: " in text else ""
    lines = list(dict.fromkeys(d.strip() for d in diagnostics if d.strip()))
    for line in stderr.splitlines():
        line = line.strip()
        if line and line not in lines and not any(line in d for d in lines):
            lines.append(line)
    if not lines:
        code = text.split("\n code: ", 1)[1].split("\n", 1)[0] if "\n code: " in text else "?"
        lines = [f"no message from the engine (exit code {code})"]
    return lines


class Refused(Exception):
    """A gate said no; the message is one line."""


@dataclass(frozen=True)
class Request:
    env: str
    to: str
    dry_run: bool = False
    allow_replace: tuple[str, ...] = ()
    stack: str | None = None
    work_dir: Path = ROOT
    pulumi_root: Path | None = None
    out_dir: Path = OUT_DIR
    follows_edge_runbook: bool = False

    @property
    def stack_name(self) -> str:
        return self.stack or self.env


def run_verify(env: str, outputs: Path) -> int:
    """``python -m infra verify ENV --outputs FILE --wait`` (boto3, read-only): `up` returns
    before the new instances pass their health checks and while an instance refresh still
    runs, so verify waits for them (its default deadline, progress lines on stdout)."""
    from infra import verify

    return int(verify.main([env, "--outputs", str(outputs), "--wait"]) or 0)


@dataclass
class Runner:
    request: Request
    say: Callable[[str], None] = print
    verify: Callable[[str, Path], int] = run_verify
    step: int = 0
    previous: str | None = None
    config_changed: bool = False
    applying: bool = False
    log: list[str] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    command: str = ""

    # ----------------------------------------------------------------- plumbing

    def _head(self, text: str) -> None:
        self.step += 1
        self.say(f"[{self.step}/{STEPS}] {text}")

    def _stack(self) -> Any:
        from pulumi.automation import LocalWorkspace, PulumiCommand, Stack

        command = None
        if self.request.pulumi_root is not None:
            command = PulumiCommand(root=str(self.request.pulumi_root))
        workspace = LocalWorkspace(work_dir=str(self.request.work_dir), pulumi_command=command)
        return Stack.select(self.request.stack_name, workspace)

    def _restore(self, stack: Any) -> None:
        """Put movies:stage back; a second Ctrl-C must not stop this half way."""
        if not self.config_changed or self.previous is None:
            return
        from pulumi.automation import ConfigValue

        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stack.set_config(STAGE_KEY, ConfigValue(value=self.previous))
            self.config_changed = False
            self.say(f"      config restored: {STAGE_KEY} = {self.previous}")
        finally:
            signal.signal(signal.SIGINT, old)

    # ------------------------------------------------------------------ the run

    def run(self) -> int:
        r = self.request
        try:
            load_stack_config(r.env, r.to)  # the target must be a valid stack first
        except ConfigError as exc:
            self.say(f"error: {r.env}/{r.to}: {exc}")
            return 2
        stack = None
        try:
            self._head(f"select stack {r.stack_name!r} and read {STAGE_KEY}")
            stack = self._stack()
            self.previous = stack.get_config(STAGE_KEY).value
            self._check_move(self.previous, r.to)
            self.say(f"      {r.stack_name}: {self.previous} → {r.to}")

            self._head(f"offline diff {r.env}/{self.previous} → {r.env}/{r.to} (plans under mocks)")
            self._offline_diff(self.previous)

            self._head(f"pulumi config set {STAGE_KEY} {r.to}")
            from pulumi.automation import ConfigValue

            self.config_changed = True  # set before the call: a Ctrl-C inside it restores too
            stack.set_config(STAGE_KEY, ConfigValue(value=r.to))

            self._head("pulumi preview --save-plan (policy pack on)")
            plan_file, preview_file = self._preview(stack)

            self._head("judge the preview: stateful replacements, mandatory policy violations")
            self._judge(stack, preview_file)
            if r.dry_run:
                self.say("dry run: stopped after the preview; nothing applied")
                self._restore(stack)
                return 0

            self._head(f"pulumi up --plan {plan_file}")
            self.applying = True
            self.command = "up"
            stack.up(
                plan=str(plan_file),
                on_output=self._echo,
                on_event=self._on_event,
                # the same pack as the preview: the engine enforces it while applying too
                policy_packs=[str(ROOT / "policies")],
                policy_pack_configs=[str(self._pack_config())],
            )
            self.applying = False
            self.config_changed = False  # the stack is at the new stage now

            self._head("python -m infra verify")
            outputs = r.out_dir / f"{r.env}-{r.to}.outputs.json"
            outputs.write_text(
                json.dumps({k: v.value for k, v in stack.outputs().items()}, indent=2),
                encoding="utf-8",
            )
            code = self.verify(r.env, outputs)
            if code != 0:
                self.say(f"error: verify found problems (exit {code}); the stack is at {r.to}")
                return 1
            self.say(f"done: {r.stack_name} is at {r.to}")
            return 0
        except KeyboardInterrupt:
            if self.applying:
                self.say(
                    f"interrupted during pulumi up: resources may already be at {r.to}; "
                    f"{STAGE_KEY} stays {r.to}. Run `pulumi up` again to finish, or set "
                    f"{STAGE_KEY} back to {self.previous} and run `pulumi up` to return"
                )
            else:
                self.say("interrupted: nothing was applied")
                if stack is not None:
                    self._restore(stack)
            return 130
        except Refused as exc:
            self.say(f"refused: {exc}")
            if stack is not None:
                self._restore(stack)
            return 1
        except FileNotFoundError as exc:
            # The Automation API runs the `pulumi` binary; without one nothing can start.
            self.say(
                f"error: no Pulumi CLI to run ({exc.filename or 'pulumi'} not found); allowed: "
                "a `pulumi` on PATH, or --pulumi-root DIR holding bin/pulumi"
            )
            if stack is not None and not self.applying:
                self._restore(stack)
            return 1
        except Exception as exc:  # CommandError and friends: one line, the engine's text, restore
            from pulumi.automation import CommandError

            if isinstance(exc, CommandError):
                lines = engine_text(exc, self.diagnostics)
                self.say(f"error: pulumi {self.command or 'command'} failed: {lines[0]}"[:400])
                for line in lines[1:6]:
                    self.say(f"      engine: {line}"[:400])
            else:
                first = str(exc).strip().splitlines()
                self.say(f"error: {type(exc).__name__}: {first[0] if first else ''}"[:400])
            if stack is not None and not self.applying:
                self._restore(stack)
            return 1

    def _on_event(self, event: Any) -> None:
        """Keep the engine's error diagnostics (apitype DiagnosticEvent) for the message."""
        diag = getattr(event, "diagnostic_event", None)
        if diag is not None and getattr(diag, "severity", "") == "error":
            urn = getattr(diag, "urn", None) or ""
            where = f"{urn.rsplit('::', 1)[-1]}: " if urn else ""
            prefix = getattr(diag, "prefix", None) or ""
            self.diagnostics.append(where + prefix + str(getattr(diag, "message", "")).strip())

    def _echo(self, line: str) -> None:
        self.say(f"      | {line}")

    def _check_move(self, current: str, target: str) -> None:
        if current not in STAGES:
            raise Refused(
                f"{STAGE_KEY} is {current!r} on stack {self.request.stack_name}; "
                f"allowed: {', '.join(STAGES)}"
            )
        if current == target:
            raise Refused(f"stack {self.request.stack_name} is already at {target}")
        flag = RUNBOOK_MOVES.get((current, target))
        if flag and not self.request.follows_edge_runbook:
            raise Refused(
                f"{current} → {target} is not one `pulumi up`: the ALB would close to the "
                "internet while DNS may still point at it; follow the runbook in docs/infra.md "
                f"and pass {flag} to say so"
            )
        if STAGES.index(target) < STAGES.index(current):
            later = STAGES[STAGES.index(current) + 1 :]
            raise Refused(
                f"--to {target} is an earlier stage than {current} (a move back deletes "
                f"tiers and their data); allowed: {', '.join(later) or 'none (last stage)'}"
            )

    def _offline_diff(self, current: str) -> None:
        from infra.plans.build import load_or_build
        from infra.review.diff import diff_plans, loud_lines, summary_line

        r = self.request
        d = diff_plans(
            load_or_build(f"{r.env}/{current}"),
            load_or_build(f"{r.env}/{r.to}"),
            allow_urns=r.allow_replace,
        )
        self.say(f"      {summary_line(d)}")
        for line in loud_lines(d):
            self.say(f"      {line}")
        if d.blocking:
            raise Refused(
                f"the offline diff replaces {len(d.blocking)} stateful resource(s): "
                + ", ".join(e.urn for e in d.blocking)
                + " (pass --allow-replace URN for each if the data loss is intended)"
            )

    def _pack_config(self) -> Path:
        from policies.offline import config_path

        return config_path(self.request.env)

    def _preview(self, stack: Any) -> tuple[Path, Path]:
        r = self.request
        r.out_dir.mkdir(parents=True, exist_ok=True)
        plan_file = r.out_dir / f"{r.env}-{r.to}.plan.json"
        preview_file = r.out_dir / f"{r.env}-{r.to}.preview.json"
        self.command = "preview"
        result = stack.preview(
            plan=str(plan_file),
            json=True,
            on_event=self._on_event,
            policy_packs=[str(ROOT / "policies")],
            policy_pack_configs=[str(self._pack_config())],
        )
        preview_file.write_text(result.stdout + "\n", encoding="utf-8")
        changes = ", ".join(f"{k} {v}" for k, v in sorted(result.change_summary.items()))
        self.say(f"      engine: {changes or 'no changes'}; saved {preview_file}")
        return plan_file, preview_file

    def _judge(self, stack: Any, preview_file: Path) -> None:
        from infra.plans.preview import load_preview, parse_state, priceable
        from infra.review.diff import loud_lines, summary_line
        from infra.review.diff import diff_preview
        from policies.offline import analyze, enforcement_levels, load_config

        r = self.request
        preview = load_preview(preview_file)
        export = stack.export_stack()  # plaintext secrets: parsed in memory, never written
        state = parse_state(
            {"version": export.version, "deployment": export.deployment},
            f"stack export of {r.stack_name}",
        )
        judged = diff_preview(preview, state=state, allow_urns=r.allow_replace)
        self.say(f"      {summary_line(judged.diff)}")
        for line in loud_lines(judged.diff) + [f"note: {n}" for n in judged.notes]:
            self.say(f"      {line}")
        after = priceable(preview.new_plan(state))["resources"]
        violations = analyze(after, enforcement_levels(load_config(r.env)), preview=True)
        mandatory = [v for v in violations if v.mandatory]
        self.say(
            f"      policy on the new state: {len(mandatory)} mandatory, "
            f"{len(violations) - len(mandatory)} advisory"
        )
        for v in mandatory:
            self.say(
                f"      MANDATORY {v.policy}: {v.resource_type} {v.resource_name}: {v.message}"
            )
        if judged.diff.blocking:
            raise Refused(
                f"the preview replaces or deletes {len(judged.diff.blocking)} resource(s) that "
                "hold data: "
                + ", ".join(e.urn for e in judged.diff.blocking)
                + " (pass --allow-replace URN for each if the data loss is intended)"
            )
        if mandatory:
            raise Refused(
                f"{len(mandatory)} mandatory policy violation(s) on the new state: "
                + ", ".join(sorted({v.policy for v in mandatory}))
            )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m infra upgrade", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("env", choices=ENVIRONMENTS, metavar="ENV", help="dev or prod")
    p.add_argument(
        "--to", required=True, choices=STAGES, metavar="STAGE", help="the stage to move to"
    )
    p.add_argument("--dry-run", action="store_true", help="stop after the judged preview")
    p.add_argument(
        "--allow-replace",
        action="append",
        default=[],
        metavar="URN",
        help="accept the replacement or deletion of this stateful resource (URN or name); "
        "repeatable",
    )
    p.add_argument(
        "--follows-edge-runbook",
        action="store_true",
        help="read-replicas → edge only: the operator follows the edge runbook in docs/infra.md",
    )
    p.add_argument("--stack", help="the Pulumi stack name (default: ENV), e.g. my-org/movies/prod")
    p.add_argument(
        "--out", type=Path, default=OUT_DIR, help="where the plan and preview go (build/upgrade)"
    )
    p.add_argument(
        "--pulumi-root",
        type=Path,
        help="run <DIR>/bin/pulumi instead of the pulumi on PATH (Automation API PulumiCommand)",
    )
    return p


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    request = Request(
        env=args.env,
        to=args.to,
        dry_run=args.dry_run,
        allow_replace=tuple(args.allow_replace),
        stack=args.stack,
        pulumi_root=args.pulumi_root,
        out_dir=args.out,
        follows_edge_runbook=args.follows_edge_runbook,
    )
    return Runner(request, say=lambda line: print(line, flush=True)).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
