"""``python -m infra upgrade ENV --to STAGE``: move a live stack to a later stage, with gates.

Through the Automation API (``pulumi.automation``), each step printed before it runs:

1. select the stack (``ENV``, or ``--stack ORG/movies/ENV``) and read its ``movies:`` settings;
2. the offline diff of the move (both plans under mocks): a stateful replacement there
   stops the run before anything is touched; ``--allow-replace REF`` names one resource
   by URN, logical name or TYPE::NAME (``infra.plans.index.resolve_refs``) of the plans
   or of the live stack (its export, read at step 5), and a REF that names neither is
   refused in one line with its near matches (exit 2, settings restored);
3. ``pulumi config set movies:stage STAGE`` (and ``movies:edgeCutover``, below);
4. ``pulumi preview --save-plan`` with the policy pack, its JSON kept in ``build/upgrade/``;
5. judge the real preview: a replacement or deletion of a resource that holds data
   (unless ``--allow-replace``d), or a mandatory policy violation on the new state (the
   pack run here on the stack export with the preview's steps applied), refuses;
   ``--dry-run`` stops here;
6. ``pulumi up --plan``: exactly the judged plan, nothing else;
7. ``python -m infra verify`` on the stack's new outputs.

A move onto the edge (read-replicas → edge or scale-5x) is the edge cut-over, in two
phases, because the ALB must not close to the internet while DNS still points at it
(docs/infra.md, "Stage 5 → 6"). Phase ``open`` (the default) sets ``movies:stage`` and
``movies:edgeCutover open``: the distribution is built, the ALB keeps its internet rules;
then the run stops and says what to check (DNS moved to the distribution, the
distribution serving, the old record's TTL out, the ALB's direct traffic gone). With a
profile ``domain`` the stack owns the records: phase ``dns`` (``--phase dns``) sets
``movies:edgeCutover dns``, whose ``up`` moves only the records to CloudFront, and stops
again for the wait. Phase ``close`` (``--phase close``, same ``--to``) sets
``movies:edgeCutover closed``: its ``up`` deletes exactly the ALB's internet rules.

Stopped before step 6 (a refusal, an error, Ctrl-C), the settings are set back to what
they were, so the stack is as it was. Interrupted during ``up``, the config is left at the
new settings (resources may already be at them) and the run says how to go on.
Exit: 0 done (or a phase done, or a dry run judged clean), 1 refused or failed, 2 bad
input, 130 Ctrl-C.
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
from infra.config import (
    EDGE_CUTOVER_KEY,
    ENVIRONMENTS,
    PROJECT,
    STAGES,
    ConfigError,
    load_stack_config,
)

ROOT = REPO_ROOT
OUT_DIR = ROOT / "build" / "upgrade"
STAGE_KEY = f"{PROJECT}:stage"
STEPS = 7
PHASES = ("open", "dns", "close")  # the edge cut-over's; every other move is one phase


def _has_edge(env: str, stage: str) -> bool:
    return load_stack_config(env, stage).stage.edge is not None


def cutover_checks(
    env: str,
    stack: str,
    to: str,
    cdn_domain: str | None,
    phase: str = "open",
    domain: str | None = None,
) -> list[str]:
    """What the operator checks between the cut-over's phases, in order. With a profile
    `domain` the stack owns the records: after phase open the DNS move is phase dns, after
    phase dns what is left is the wait."""
    cdn = cdn_domain or "$(pulumi stack output cdn_domain)"
    where = "" if stack == env else f" --stack {stack}"
    if domain is not None and phase == "open":
        return [
            f'1. curl -fsS --connect-to "{domain}:443:{cdn}:443" https://{domain}/healthz '
            "answers 200: CloudFront serves the name before any record moves",
            f"then move the records to CloudFront: python -m infra upgrade {env} --to {to} "
            f"--phase dns{where}",
        ]
    first = (
        f"1. dig +short {domain} gives CloudFront's addresses (the stack moved the records)"
        if domain is not None
        else f"1. point your DNS name at the distribution {cdn} (CNAME, or a Route 53 "
        "alias); a name of yours over HTTPS also goes into the distribution's aliases"
    )
    return [
        first,
        f'2. curl -fsS "https://{cdn}/healthz" answers 200 (and your name does, once moved)',
        "3. wait at least the old record's TTL (`dig +noall +answer YOUR-NAME` shows it), "
        "counted from the DNS change",
        "4. the ALB's RequestCount (CloudWatch AWS/ApplicationELB) has fallen to what "
        "CloudFront forwards (its Requests less its cache hits): no client reaches the ALB "
        "directly any more",
        f"then close the ALB to all but CloudFront: python -m infra upgrade {env} --to {to} "
        f"--phase close{where}",
    ]


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


class BadRef(Exception):
    """An --allow-replace name that names no planned resource (exit 2); one line."""


@dataclass(frozen=True)
class Move:
    """What one run does: the settings it sets, in order, and the offline diff's sides as
    (stage, movies:edgeCutover) pairs."""

    what: str
    settings: tuple[tuple[str, str], ...]
    old: tuple[str, str | None]
    new: tuple[str, str | None]
    stops: bool = False  # the cut-over's phase open: stop for the human step after
    done: str = ""

    @staticmethod
    def label(env: str, side: tuple[str, str | None]) -> str:
        stage, cutover = side
        return f"{env}/{stage}" + (f" ({EDGE_CUTOVER_KEY} {cutover})" if cutover else "")


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
    phase: str = "open"  # the edge cut-over's phase (PHASES); other moves have one

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
    # The settings this run changes, with their values before it (None: unset).
    before: dict[str, str | None] = field(default_factory=dict)
    config_changed: bool = False
    applying: bool = False
    log: list[str] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    command: str = ""
    plans: list[dict[str, Any]] = field(default_factory=list)  # the offline diff's sides

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
        """Put the settings back; a second Ctrl-C must not stop this half way."""
        if not self.config_changed or not self.before:
            return
        from pulumi.automation import ConfigValue

        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for key, value in self.before.items():
                if value is None:
                    stack.remove_config(key)
                    self.say(f"      config restored: {key} unset")
                else:
                    stack.set_config(key, ConfigValue(value=value))
                    self.say(f"      config restored: {key} = {value}")
            self.config_changed = False
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
        if r.phase not in PHASES:
            self.say(f"error: --phase {r.phase!r}; allowed: {', '.join(PHASES)}")
            return 2
        stack = None
        try:
            self._head(f"select stack {r.stack_name!r} and read its {PROJECT}: settings")
            stack = self._stack()
            settings = {k: v.value for k, v in stack.get_all_config().items()}
            self.previous = settings.get(STAGE_KEY)
            move = self._plan_move(settings)
            self.say(f"      {r.stack_name}: {move.what}")

            self._head(f"offline diff {move.label(r.env, move.old)} → "
                       f"{move.label(r.env, move.new)} (plans under mocks)")  # fmt: skip
            allow = self._offline_diff(move)

            self._head(" && ".join(f"pulumi config set {k} {v}" for k, v in move.settings))
            from pulumi.automation import ConfigValue

            self.before = {key: settings.get(key) for key, _ in move.settings}
            self.config_changed = True  # set before the call: a Ctrl-C inside it restores too
            for key, value in move.settings:
                stack.set_config(key, ConfigValue(value=value))

            self._head("pulumi preview --save-plan (policy pack on)")
            plan_file, preview_file = self._preview(stack)

            self._head("judge the preview: stateful replacements, mandatory policy violations")
            self._judge(stack, preview_file, allow)
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
            self.config_changed = False  # the stack is at the new settings now

            self._head("python -m infra verify")
            outputs = r.out_dir / f"{r.env}-{r.to}.outputs.json"
            values = {k: v.value for k, v in stack.outputs().items()}
            outputs.write_text(json.dumps(values, indent=2), encoding="utf-8")
            code = self.verify(r.env, outputs)
            if code != 0:
                self.say(f"error: verify found problems (exit {code}); the stack is at {r.to}")
                return 1
            if move.stops:
                cdn = values.get("cdn_domain")
                phase = move.new[1] or "open"
                domain = load_stack_config(r.env, r.to).env.domain
                self.say(
                    f"phase {phase} done: {r.stack_name} is at {r.to} with {EDGE_CUTOVER_KEY} "
                    f"{phase} (CloudFront serves; the ALB still takes the internet). Before "
                    "going on, check:"
                )
                checks = cutover_checks(
                    r.env,
                    r.stack_name,
                    r.to,
                    cdn if isinstance(cdn, str) else None,
                    phase,
                    domain.api if domain is not None else None,
                )
                for line in checks:
                    self.say(f"      {line}")
                return 0
            self.say(f"done: {r.stack_name} is at {r.to}" + move.done)
            return 0
        except KeyboardInterrupt:
            if self.applying:
                now = ", ".join(f"{k} {v}" for k, v in move.settings)
                back = ", ".join(f"{k} {v or '(unset)'}" for k, v in self.before.items())
                self.say(
                    f"interrupted during pulumi up: resources may already be at {r.to}; "
                    f"the settings stay {now}. Run `pulumi up` again to finish, or set "
                    f"them back ({back}) and run `pulumi up` to return"
                )
            else:
                self.say("interrupted: nothing was applied")
                if stack is not None:
                    self._restore(stack)
            return 130
        except BadRef as exc:
            self.say(f"error: --allow-replace: {exc}")
            if stack is not None:
                self._restore(stack)
            return 2
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

    def _plan_move(self, settings: dict[str, str]) -> Move:
        """What this run sets and diffs, from the stack's settings; Refused when the move
        is not one to make."""
        r, name = self.request, self.request.stack_name
        current, cutover = settings.get(STAGE_KEY), settings.get(EDGE_CUTOVER_KEY)
        if current not in STAGES:
            raise Refused(
                f"{STAGE_KEY} is {current!r} on stack {name}; allowed: {', '.join(STAGES)}"
            )
        if r.phase == "close":
            return self._close_move(current, cutover)
        if r.phase == "dns":
            return self._dns_move(current, cutover)
        if current == r.to:
            hint = (
                f"; allowed: --phase close ({EDGE_CUTOVER_KEY} is open)"
                if cutover == "open"
                else ""
            )
            raise Refused(f"stack {name} is already at {r.to}{hint}")
        if STAGES.index(r.to) < STAGES.index(current):
            later = STAGES[STAGES.index(current) + 1 :]
            raise Refused(
                f"--to {r.to} is an earlier stage than {current} (a move back deletes "
                f"tiers and their data); allowed: {', '.join(later) or 'none (last stage)'}"
            )
        edge_now, edge_then = _has_edge(r.env, current), _has_edge(r.env, r.to)
        if edge_then and not edge_now:
            return Move(
                what=f"{current} → {r.to}, edge cut-over phase open (1 of 2): CloudFront is "
                "built, the ALB keeps its internet ingress",
                settings=((STAGE_KEY, r.to), (EDGE_CUTOVER_KEY, "open")),
                old=(current, None),
                new=(r.to, "open"),
                stops=True,
            )
        if edge_now:
            if cutover is None:
                raise Refused(
                    f"{EDGE_CUTOVER_KEY} is unset on stack {name} at {current}; allowed: set it "
                    f"to what the ALB is first (`pulumi config set {EDGE_CUTOVER_KEY} closed` "
                    "if it takes CloudFront only, `open` if it still takes the internet)"
                )
            return Move(
                what=f"{current} → {r.to} ({EDGE_CUTOVER_KEY} stays {cutover})",
                settings=((STAGE_KEY, r.to),),
                old=(current, cutover),
                new=(r.to, cutover),
                done=f" ({EDGE_CUTOVER_KEY} {cutover})",
            )
        return Move(
            what=f"{current} → {r.to}",
            settings=((STAGE_KEY, r.to),),
            old=(current, None),
            new=(r.to, None),
        )

    def _close_move(self, current: str, cutover: str | None) -> Move:
        r, name = self.request, self.request.stack_name
        if current != r.to:
            raise Refused(
                f"--phase close closes the edge cut-over at {r.to}, but stack {name} is at "
                f"{current}; allowed: phase open first (python -m infra upgrade {r.env} "
                f"--to {r.to})"
            )
        if not _has_edge(r.env, r.to):
            raise Refused(
                f"--phase close: {r.to} has no edge, so no cut-over; allowed: --phase close "
                f"at {', '.join(s for s in STAGES if _has_edge(r.env, s))}"
            )
        if cutover not in ("open", "dns"):
            raise Refused(
                f"--phase close: {EDGE_CUTOVER_KEY} is {cutover or 'unset'} on stack {name}, "
                "not open or dns: nothing to close"
            )
        return Move(
            what=f"{r.to}, edge cut-over phase close (last): the ALB closes to all but "
            "CloudFront (DNS must point at the distribution: the checks phase open printed)",
            settings=((EDGE_CUTOVER_KEY, "closed"),),
            old=(r.to, cutover),
            new=(r.to, "closed"),
            done=f" with {EDGE_CUTOVER_KEY} closed: the edge cut-over is complete",
        )

    def _dns_move(self, current: str, cutover: str | None) -> Move:
        """Phase dns: the stack's own records (a profile `domain`) move to CloudFront while
        the ALB still admits the internet; the run stops again for the records' TTL."""
        r, name = self.request, self.request.stack_name
        if current != r.to or not _has_edge(r.env, r.to):
            raise Refused(
                f"--phase dns moves the records at {r.to}, but stack {name} is at {current}; "
                f"allowed: phase open first (python -m infra upgrade {r.env} --to {r.to})"
            )
        if load_stack_config(r.env, r.to).env.domain is None:
            raise Refused(
                f"--phase dns: the {r.env} profile has no domain, so the stack owns no "
                "record to move; allowed: move DNS by hand (the checks phase open printed), "
                "then --phase close"
            )
        if cutover != "open":
            raise Refused(
                f"--phase dns: {EDGE_CUTOVER_KEY} is {cutover or 'unset'} on stack {name}, not open"
            )
        return Move(
            what=f"{r.to}, edge cut-over phase dns: the stack's records move to CloudFront, "
            "the ALB still takes the internet",
            settings=((EDGE_CUTOVER_KEY, "dns"),),
            old=(r.to, "open"),
            new=(r.to, "dns"),
            stops=True,
        )

    def _plan_of(self, side: tuple[str, str | None]) -> dict[str, Any]:
        """A side's offline plan: build/plan's file (an edge stage's end state, closed), or
        the cut-over's open variant built here."""
        from infra.plans.build import build_plan, load_or_build

        stage, cutover = side
        if cutover == "open":
            return build_plan(self.request.env, stage, edge_cutover="open")
        return load_or_build(f"{self.request.env}/{stage}")

    def _offline_diff(self, move: Move) -> frozenset[str]:
        """The move's offline diff; the URNs --allow-replace names in its plans."""
        from infra.plans.index import ResourceRefError, resolve_refs
        from infra.review.diff import diff_plans, loud_lines, summary_line

        r = self.request
        old, new = self._plan_of(move.old), self._plan_of(move.new)
        self.plans = [old, new]
        try:  # a name only the live stack holds is checked with it (_judge)
            allow = resolve_refs((old, new), r.allow_replace, unknown_ok=True)
        except ResourceRefError as exc:  # ambiguous
            raise BadRef(str(exc)) from None
        d = diff_plans(old, new, allow_urns=allow)
        self.say(f"      {summary_line(d)}")
        for line in loud_lines(d):
            self.say(f"      {line}")
        if d.blocking:
            raise Refused(
                f"the offline diff replaces {len(d.blocking)} stateful resource(s): "
                + ", ".join(e.urn for e in d.blocking)
                + " (pass --allow-replace NAME for each if the data loss is intended)"
            )
        return allow

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

    def _judge(self, stack: Any, preview_file: Path, allow: frozenset[str]) -> None:
        from infra.plans.index import ResourceRefError, resolve_refs
        from infra.plans.preview import load_preview, parse_state, priceable
        from infra.review.diff import diff_preview, loud_lines, summary_line
        from policies.offline import analyze, enforcement_levels, load_config

        r = self.request
        preview = load_preview(preview_file)
        export = stack.export_stack()  # plaintext secrets: parsed in memory, never written
        state = parse_state(
            {"version": export.version, "deployment": export.deployment},
            f"stack export of {r.stack_name}",
        )
        # The names resolved on the offline plans, and again on the live stack's own
        # resources (its URNs are the engine's; a name may only exist there).
        after = preview.new_plan(state)
        try:
            live = resolve_refs((state, after), r.allow_replace, unknown_ok=True)
            # every name must name a resource somewhere: the plans or the live stack
            resolve_refs([*self.plans, state, after], r.allow_replace)
        except ResourceRefError as exc:
            raise BadRef(str(exc)) from None
        judged = diff_preview(preview, state=state, allow_urns=allow | live)
        self.say(f"      {summary_line(judged.diff)}")
        for line in loud_lines(judged.diff) + [f"note: {n}" for n in judged.notes]:
            self.say(f"      {line}")
        after = priceable(after)["resources"]
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
                + " (pass --allow-replace NAME for each if the data loss is intended)"
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
        metavar="NAME",
        help="accept the replacement or deletion of this stateful resource: its URN, logical "
        "name or TYPE::NAME (an unknown one is refused with near matches); repeatable",
    )
    p.add_argument(
        "--phase",
        choices=PHASES,
        default="open",
        help="a move onto the edge only: open (default: build CloudFront, the ALB keeps the "
        "internet) or close (once DNS has moved: the ALB takes CloudFront only)",
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
        phase=args.phase,
    )
    return Runner(request, say=lambda line: print(line, flush=True)).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
