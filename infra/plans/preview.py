"""The engine's own view of a live stack, as plans the review tools already read.

Two inputs, both written by the Pulumi CLI (field names from pulumi/pulumi,
``sdk/go/common/apitype/core.go`` and ``pkg/display/json.go``):

- ``pulumi preview --json``: a *preview digest* ``{config, steps, diagnostics,
  changeSummary, duration}``. Each step has ``op`` (``same``, ``create``, ``update``,
  ``delete``, ``replace``, ``create-replacement``, ``delete-replaced``, ``read``, ...),
  ``urn``, ``oldState`` and ``newState`` (``apitype.ResourceV3``: ``urn``, ``type``,
  ``id``, ``custom``, ``inputs``, ``outputs``, ``parent``, ``protect``, ``external``,
  ``dependencies``, ``aliases``, ``importID``, ...), ``diffReasons``, ``replaceReasons``
  and ``detailedDiff`` (``{path: {kind, inputDiff}}``). The CLI writes a secret as the
  string ``"[secret]"`` there (``display.MassageSecrets``), and a value not known until
  apply as the sentinel ``04da6b54-80e4-46f7-96ec-b56ff0331ba9``
  (``stack.SerializePropertyValue``: ``computedValuePlaceholder``). By default it leaves
  out ``same`` steps and the ``create-replacement``/``delete-replaced`` halves of a
  replacement; ``--show-sames --show-replacement-steps`` keeps them.
- ``pulumi stack export``: an ``UntypedDeployment`` ``{version: 3, deployment:
  DeploymentV3}`` whose ``deployment.resources`` are ``ResourceV3``. A secret is an
  object ``{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
  "ciphertext": ...}`` (``plaintext`` with ``--show-secrets``).

What the engine writes, and what this module accepts (pulumi/pulumi at
1b5949891b3cefcb9974752b24a5ecef0acc86c8; the shapes and real files are listed in
tests/plans/test_preview_shapes.py):

- the digest leaves out *internal* steps (default providers, ``remove-pending-replace``,
  ``extend-parameterize``: ``pkg/backend/display/display.go`` filters ``e.Internal()``),
  always shows the root stack's step (``isRootStack``), hides ``same`` steps without
  ``--show-sames`` and the non-logical halves of a replacement without
  ``--show-replacement-steps`` (``shouldShow``);
- ``changeSummary`` counts every *logical*, non-internal step, shown or not
  (``pkg/engine/update.go``, ``previewActions.OnResourceStepPost``: ``acts.Ops[op]++``), so
  a preview is **partial** when the engine counted more steps of an op than the file
  shows: ``same: 41`` with one ``same`` step means 40 unchanged resources are not in it.
  That is decided here (``Preview.partial``, ``Preview.unseen``), from the counts, never
  from whether some ``same`` step happens to be present (the root stack's always is);
- the streaming form (``PULUMI_ENABLE_STREAMING_JSON_PREVIEW``: ``ShowJSONEvents``): one
  ``apitype.EngineEvent`` per line (``preludeEvent``, ``resourcePreEvent``,
  ``resOutputsEvent``, ``diagnosticEvent``, ``summaryEvent``, ``cancelEvent``...), every
  non-internal step with its ``logical`` flag, states as ``StepEventStateMetadata``;
- ``pulumi stack export`` at version 3, or 4 with ``features`` (the CLI writes 4 only
  when a resource uses one: ``refreshBeforeUpdate``, ``views``, ``hooks``, ``taint``,
  ``replaceWith``, ...; it refuses a feature it does not know, and so does this module),
  and the file backend's ``{version, checkpoint: {stack, latest}}``;
- ``pendingReplacement: true`` on a state resource: deleted already (delete-before-replace
  interrupted), recreated by the next update: not in the cloud, so not priced.

Both become plan-shaped resources (``urn, type, name, parent, id, inputs, outputs,
dependencies, options``, as ``build/plan/*.json``), with every secret replaced by
``"[secret]"`` (a plaintext from ``--show-secrets`` never leaves this module) and every
unknown kept as the sentinel, so the tools can say which values they could not judge.
Malformed input raises ``PreviewError`` with one line: the file, the place in it, what
was expected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.jsonfile import JsonError, loads_json, strict_decoder
from infra.tokens import SECRET_MARKER, ResourceType

# pulumi/pulumi pkg/resource/stack/deployment.go: computedValuePlaceholder.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# sdk/go/common/resource/sig: the secret signature key and its value.
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
STACK_TYPE = ResourceType.STACK
# pkg/resource/stack/deployment.go: apitype.DeploymentSchemaVersionCurrent (3) and
# DeploymentSchemaVersionLatest (4, written only with `features`), and supportedFeatures.
DEPLOYMENT_VERSIONS = (3, 4)
DEPLOYMENT_FEATURES: tuple[str, ...] = (
    "refreshBeforeUpdate",
    "views",
    "hooks",
    "taint",
    "replaceWith",
    "snippets-prototype",
    "extensionParameterization",
    "byteString",
)
PROVIDER_PREFIX = "pulumi:providers:"

# pkg/resource/deploy/step.go: every StepOp the engine emits.
STEP_OPS: tuple[str, ...] = (
    "same",
    "create",
    "update",
    "delete",
    "replace",
    "create-replacement",
    "delete-replaced",
    "read",
    "read-replacement",
    "refresh",
    "discard",
    "discard-replaced",
    "remove-pending-replace",
    "import",
    "import-replacement",
    "diff",
    "extend-parameterize",
)
# Steps whose Logical() is true (pkg/resource/deploy/step.go) and so counted in
# changeSummary; the replacement halves are not (ReplaceStep stands for the pair).
LOGICAL_OPS: frozenset[str] = frozenset(
    {"same", "create", "update", "delete", "replace", "read", "import", "diff", "discard"}
)
# Ops the engine counts for every step it takes: a file showing more of them than the
# count was not written by the engine. (A `read` is counted only when its outputs
# changed, pkg/engine/update.go shouldRecordReadStep, so it may show more.)
EXACT_OPS: frozenset[str] = frozenset({"same", "create", "update", "delete", "replace", "import"})
# The halves shown with --show-replacement-steps, each beside its logical `replace`.
HALF_OPS: frozenset[str] = frozenset(
    {"create-replacement", "import-replacement", "read-replacement", "discard-replaced"}
)
REPLACE_OPS: frozenset[str] = frozenset(
    {"replace", "create-replacement", "delete-replaced", "import-replacement"}
)
# Steps after which the resource is no longer in the stack.
GONE_OPS: frozenset[str] = frozenset(
    {"delete", "delete-replaced", "discard", "discard-replaced", "remove-pending-replace"}
)


class PreviewError(ValueError):
    """A preview or state file that cannot be read; the message is one line."""


# ------------------------------------------------------------------ values and paths


def is_unknown(value: Any) -> bool:
    return value == UNKNOWN


def _is_secret_object(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def scrub(value: Any) -> Any:
    """Secrets (state-file objects or the preview's string) become ``"[secret]"``."""
    if _is_secret_object(value):
        return SECRET_MARKER
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of a value with its path (``a.b[0].c``), as the diff writes paths."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from walk(sub, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from walk(sub, f"{path}[{i}]")
    else:
        yield path, value


def unknown_paths(value: Any) -> list[str]:
    return [p for p, v in walk(value) if is_unknown(v)]


def secret_paths(value: Any) -> list[str]:
    return [p for p, v in walk(value) if v == SECRET_MARKER]


def urn_parts(urn: str) -> tuple[str, str, str]:
    """``urn:pulumi:STACK::PROJECT::[PARENT$]TYPE::NAME`` -> (stack, type, name)."""
    parts = urn.split("::")
    if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
        raise ValueError(f"not a Pulumi URN: {urn[:120]!r}")
    stack = parts[0].removeprefix("urn:pulumi:")
    type_ = parts[2].rsplit("$", 1)[-1]
    return stack, type_, "::".join(parts[3:])


# ------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Step:
    """One step of a preview, its states already in plan shape."""

    index: int
    op: str
    urn: str
    type: str
    name: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    diff_reasons: tuple[str, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    detailed_diff: dict[str, dict[str, Any]] = field(default_factory=dict)
    logical: bool | None = None  # the streaming form says; the digest does not


@dataclass
class Preview:
    source: str
    steps: list[Step]
    change_summary: dict[str, int]
    config: dict[str, str]
    env: str | None
    stage: str | None
    diagnostics: list[str] = field(default_factory=list)
    counts_known: bool = True  # False: no changeSummary (the preview did not finish)

    @property
    def unseen(self) -> dict[str, int]:
        """Per op, how many steps the engine counted that the file does not show."""
        shown: dict[str, int] = {}
        for s in self.steps:
            logical = s.logical if s.logical is not None else s.op in LOGICAL_OPS
            if logical:
                shown[s.op] = shown.get(s.op, 0) + 1
        return {
            op: n - shown.get(op, 0)
            for op, n in sorted(self.change_summary.items())
            if n > shown.get(op, 0)
        }

    @property
    def partial(self) -> bool:
        """Some resource of the stack is not in this preview (by the engine's counts)."""
        return not self.counts_known or bool(self.unseen)

    def unseen_text(self) -> str:
        """Which resources the preview could not show, in words (empty when whole)."""
        if not self.counts_known:
            return (
                "it has no changeSummary, so which resources it leaves out is not known "
                "(a preview that did not finish?)"
            )
        parts = [f"{n} `{op}`" for op, n in self.unseen.items()]
        if not parts:
            return ""
        hint = " (unchanged: run with --show-sames)" if "same" in self.unseen else ""
        return "the engine counted " + ", ".join(parts) + f" resource(s) it does not show{hint}"

    def of(self, *ops: str) -> list[Step]:
        return [s for s in self.steps if s.op in ops]

    def old_plan(self, state: dict[str, Any] | None = None) -> dict[str, Any]:
        """The stack before: the state export when given, else every step's oldState."""
        if state is not None:
            return state
        by_urn: dict[str, dict[str, Any]] = {}
        for s in self.steps:
            if s.old is not None:
                by_urn.setdefault(s.old["urn"], s.old)
        return self._plan(by_urn.values())

    def new_plan(self, state: dict[str, Any] | None = None) -> dict[str, Any]:
        """The stack after: the before side with every step applied (newState in, the
        resources a delete step names out)."""
        by_urn = {r["urn"]: r for r in (state or {}).get("resources", [])}
        for s in self.steps:
            if s.op in GONE_OPS:
                if s.old is not None and not any(
                    t.new is not None and t.new["urn"] == s.old["urn"] and t.op not in GONE_OPS
                    for t in self.steps
                ):
                    by_urn.pop(s.old["urn"], None)
                continue
            if s.old is not None and s.new is not None and s.old["urn"] != s.new["urn"]:
                by_urn.pop(s.old["urn"], None)  # moved by an alias
            if s.new is not None:
                by_urn[s.new["urn"]] = s.new
        return self._plan(by_urn.values())

    def _plan(self, resources: Any) -> dict[str, Any]:
        return {
            "env": self.env or "?",
            "stage": self.stage or "?",
            "resources": sorted(resources, key=lambda r: r["urn"]),
        }


# ------------------------------------------------------------------------- loading


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PreviewError(f"{path}: no such file; expected {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PreviewError(
            f"{path}: cannot read it ({type(exc).__name__}); expected {what}"
        ) from None
    try:
        return loads_json(text, "JSON")
    except JsonError as exc:  # invalid JSON, NaN/Infinity, integers past 18 digits
        raise PreviewError(f"{path}: {exc}; expected {what}") from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


class _Where:
    """A place in a file, for one-line errors: ``preview.json: steps[3].newState.type``."""

    def __init__(self, path: Path, place: str = "") -> None:
        self.path, self.place = path, place

    def at(self, key: str | int) -> _Where:
        sub = f"[{key}]" if isinstance(key, int) else (f".{key}" if self.place else key)
        return _Where(self.path, self.place + sub)

    def fail(self, expected: str, got: Any) -> PreviewError:
        return PreviewError(
            f"{self.path}: {self.place or 'top level'}: expected {expected}, got {_kind(got)}"
        )

    def get(
        self, obj: dict[str, Any], key: str, kind: type, expected: str, *, required: bool = False
    ) -> Any:
        value = obj.get(key)
        if value is None:
            if required:
                raise PreviewError(
                    f"{self.path}: {self.at(key).place}: missing; expected {expected}"
                )
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.at(key).fail(expected, value)
        return value


def _resource(state: Any, where: _Where) -> dict[str, Any]:
    """An ``apitype.ResourceV3`` as a plan resource (secrets scrubbed, unknowns kept)."""
    if not isinstance(state, dict):
        raise where.fail("a resource state object (apitype.ResourceV3)", state)
    urn = where.get(state, "urn", str, "a URN string", required=True)
    try:
        _, urn_type, name = urn_parts(urn)
    except ValueError:
        raise PreviewError(
            f"{where.path}: {where.at('urn').place}: expected a URN "
            "urn:pulumi:STACK::PROJECT::TYPE::NAME, got {urn[:80]!r}"
        ) from None
    type_ = where.get(state, "type", str, "a type token string") or urn_type
    inputs = where.get(state, "inputs", dict, "an object of inputs") or {}
    outputs = where.get(state, "outputs", dict, "an object of outputs") or {}
    deps = where.get(state, "dependencies", list, "a list of URNs") or []
    for i, dep in enumerate(deps):
        if not isinstance(dep, str):
            raise where.at("dependencies").at(i).fail("a URN string", dep)
    aliases = where.get(state, "aliases", list, "a list of URNs") or []
    ignore = where.get(state, "ignoreChanges", list, "a list of property paths") or []
    resource_id = state.get("id")
    if resource_id is not None and not isinstance(resource_id, str):
        raise where.at("id").fail("a string id", resource_id)
    return {
        "urn": urn,
        "type": type_,
        "name": name,
        # The event stream writes "" for no parent; the digest leaves the key out.
        "parent": where.get(state, "parent", str, "a parent URN string") or None,
        "id": scrub(resource_id or ""),
        "custom": bool(state.get("custom", False)),
        "external": bool(state.get("external", False)),
        "delete": bool(state.get("delete", False)),
        "pendingReplacement": bool(state.get("pendingReplacement", False)),
        "importId": where.get(state, "importID", str, "an import id string"),
        "inputs": scrub(inputs),
        "outputs": scrub(outputs),
        "dependencies": list(deps),
        "options": {
            "protect": bool(state.get("protect", False)),
            "retainOnDelete": bool(state.get("retainOnDelete", False)),
            "aliases": list(aliases),
            "ignoreChanges": list(ignore),
            # Not in ResourceV3: the engine keeps deleteBeforeReplace out of state.
            "deleteBeforeReplace": None,
        },
    }


def _str_list(step: dict[str, Any], key: str, where: _Where) -> tuple[str, ...]:
    value = where.get(step, key, list, "a list of property names") or []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise where.at(key).at(i).fail("a property name string", item)
    return tuple(value)


def _step(raw: Any, index: int, where: _Where) -> Step:
    if not isinstance(raw, dict):
        raise where.fail("a step object {op, urn, oldState, newState, ...}", raw)
    op = where.get(raw, "op", str, "an op string", required=True)
    if op not in STEP_OPS:
        raise PreviewError(
            f"{where.path}: {where.at('op').place}: unknown op {op[:40]!r}; allowed: "
            + ", ".join(STEP_OPS)
        )
    urn = where.get(raw, "urn", str, "a URN string", required=True)
    try:
        _, type_, name = urn_parts(urn)
    except ValueError:
        raise PreviewError(
            f"{where.path}: {where.at('urn').place}: expected a URN "
            f"urn:pulumi:STACK::PROJECT::TYPE::NAME, got {urn[:80]!r}"
        ) from None
    old = None if raw.get("oldState") is None else _resource(raw["oldState"], where.at("oldState"))
    new = None if raw.get("newState") is None else _resource(raw["newState"], where.at("newState"))
    if op in ("update", "replace", "delete", "delete-replaced", "same") and old is None:
        raise PreviewError(
            f"{where.path}: {where.at('oldState').place}: missing; a {op!r} step has one"
        )
    if (
        op in ("create", "update", "replace", "create-replacement", "same", "read", "import")
        and new is None
    ):
        raise PreviewError(
            f"{where.path}: {where.at('newState').place}: missing; a {op!r} step has one"
        )
    detailed = where.get(raw, "detailedDiff", dict, "an object {path: {kind, inputDiff}}") or {}
    for path, diff in detailed.items():
        if not isinstance(diff, dict) or not isinstance(diff.get("kind"), str):
            raise where.at("detailedDiff").at(path).fail("an object {kind, inputDiff}", diff)
    return Step(
        index=index,
        op=op,
        urn=urn,
        type=(new or old or {}).get("type", type_),
        name=name,
        old=old,
        new=new,
        diff_reasons=_str_list(raw, "diffReasons", where),
        replace_reasons=_str_list(raw, "replaceReasons", where),
        detailed_diff=detailed,
    )


def _env_stage(
    config: dict[str, str], stack_resource: dict[str, Any] | None, stack: str | None
) -> tuple[str | None, str | None]:
    outputs = (stack_resource or {}).get("outputs") or {}

    def known(value: Any) -> str | None:
        return value if isinstance(value, str) and value not in (UNKNOWN, SECRET_MARKER) else None

    env = known(config.get("movies:environment")) or known(outputs.get("environment")) or stack
    stage = known(config.get("movies:stage")) or known(outputs.get("stage"))
    return env, stage


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PreviewError(f"{path}: no such file; expected {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PreviewError(
            f"{path}: cannot read it ({type(exc).__name__}); expected {what}"
        ) from None


def _json_values(text: str, path: Path, what: str) -> list[Any]:
    """One JSON document, or a stream of them (the CLI's one event per line)."""
    decoder, values, i = strict_decoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        try:
            value, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise PreviewError(
                f"{path}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
                f"expected {what}"
            ) from None
        except JsonError as exc:  # NaN/Infinity, integers past 18 digits
            raise PreviewError(f"{path}: {exc}; expected {what}") from None
        except RecursionError:
            raise PreviewError(f"{path}: JSON nests too deeply; expected {what}") from None
        values.append(value)
    if not values:
        raise PreviewError(f"{path}: empty; expected {what}")
    return values


EVENT_KEYS = ("sequence", "timestamp")
WHAT_PREVIEW = "the JSON that `pulumi preview --json` prints"


def load_preview(path: str | Path) -> Preview:
    """Read what ``pulumi preview --json`` printed: the digest, or the event stream."""
    path = Path(path)
    values = _json_values(_read_text(path, WHAT_PREVIEW), path, WHAT_PREVIEW)
    first = values[0]
    if isinstance(first, dict) and any(k in first for k in EVENT_KEYS):
        return _from_events(values, path)
    if len(values) > 1:
        raise PreviewError(
            f"{path}: {len(values)} JSON documents; expected one preview digest, or engine "
            "events ({sequence, timestamp, ...Event}) one per line"
        )
    return _from_digest(first, path)


def _from_digest(doc: Any, path: Path) -> Preview:
    top = _Where(path)
    if not isinstance(doc, dict):
        raise top.fail("a preview digest object {steps, changeSummary, ...}", doc)
    if "steps" not in doc and "changeSummary" not in doc:
        hint = (
            " (this looks like a `pulumi stack export`: pass it as --state)"
            if "deployment" in doc or "checkpoint" in doc
            else ""
        )
        raise PreviewError(
            f"{path}: top level: expected a preview digest with 'steps' and 'changeSummary'{hint}"
        )
    raw_steps = top.get(doc, "steps", list, "a list of steps") or []
    steps = [_step(raw, i, top.at("steps").at(i)) for i, raw in enumerate(raw_steps)]
    summary = _counts(doc, "changeSummary", top)
    config = {
        k: v
        for k, v in (top.get(doc, "config", dict, "an object of config values") or {}).items()
        if isinstance(v, str)
    }
    diagnostics = [
        str(d.get("message", "")).strip()
        for d in (doc.get("diagnostics") or [])
        if isinstance(d, dict) and d.get("severity") in ("error", "warning")
    ]
    return _preview(path, steps, summary, config, diagnostics)


def _counts(doc: dict[str, Any], key: str, where: _Where) -> dict[str, int] | None:
    if doc.get(key) is None:
        return None
    summary = where.get(doc, key, dict, "an object {op: count}")
    for op, count in summary.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise where.at(key).at(op).fail("a count >= 0", count)
    return summary


def _from_events(events: list[Any], path: Path) -> Preview:
    """The streaming form: ``apitype.EngineEvent`` objects (sdk/go/common/apitype/events.go)."""
    steps: list[Step] = []
    by_urn: dict[str, int] = {}
    summary: dict[str, int] | None = None
    config: dict[str, str] = {}
    diagnostics: list[str] = []
    for n, event in enumerate(events):
        where = _Where(path, f"event {n + 1}")
        if not isinstance(event, dict):
            raise where.fail("an engine event object {sequence, timestamp, ...Event}", event)
        if isinstance(event.get("preludeEvent"), dict):
            raw = event["preludeEvent"].get("config") or {}
            config = {k: v for k, v in raw.items() if isinstance(v, str)}
        elif isinstance(event.get("diagnosticEvent"), dict):
            d = event["diagnosticEvent"]
            if d.get("severity") in ("error", "warning") and not d.get("ephemeral"):
                diagnostics.append(str(d.get("prefix", "")) + str(d.get("message", "")).strip())
        elif isinstance(event.get("summaryEvent"), dict):
            summary = _counts(event["summaryEvent"], "resourceChanges", where.at("summaryEvent"))
            summary = summary or {}
        for kind in ("resourcePreEvent", "resOutputsEvent"):
            body = event.get(kind)
            if body is None:
                continue
            w = where.at(kind).at("metadata")
            meta = body.get("metadata") if isinstance(body, dict) else None
            if not isinstance(meta, dict):
                raise w.fail("step metadata {op, urn, old, new, ...}", meta)
            digest_step = {
                "op": meta.get("op"),
                "urn": meta.get("urn"),
                "oldState": meta.get("old"),
                "newState": meta.get("new"),
                "diffReasons": meta.get("diffs"),
                "replaceReasons": meta.get("keys"),
                "detailedDiff": _event_diff(meta.get("detailedDiff"), w.at("detailedDiff")),
            }
            if kind == "resOutputsEvent":
                # The outputs of a step already seen: same step, final states.
                urn = meta.get("urn")
                if isinstance(urn, str) and urn in by_urn:
                    i = by_urn[urn]
                    step = _step(digest_step, i, w)
                    steps[i] = Step(**{**step.__dict__, "logical": steps[i].logical})
                continue
            step = _step(digest_step, len(steps), w)
            step = Step(**{**step.__dict__, "logical": bool(meta.get("logical", False))})
            by_urn[step.urn] = len(steps)
            steps.append(step)
    return _preview(path, steps, summary, config, diagnostics)


def _event_diff(raw: Any, where: _Where) -> dict[str, Any] | None:
    """Events name a diff's kind ``diffKind``; the digest ``kind``."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise where.fail("an object {path: {diffKind, inputDiff}}", raw)
    return {
        k: {"kind": v.get("diffKind"), "inputDiff": v.get("inputDiff", False)}
        if isinstance(v, dict)
        else v
        for k, v in raw.items()
    }


def _check_op_mix(steps: list[Step], summary: dict[str, int] | None, path: Path) -> None:
    """Refuse an op mix the engine cannot write (a hand-made or edited file)."""
    replaced = {s.urn for s in steps if s.op == "replace"}
    for s in steps:
        half = s.op in HALF_OPS or (
            # delete-replaced alone is the engine removing a resource left pending
            # delete by an earlier update; its old state then says delete: true.
            s.op == "delete-replaced" and not (s.old or {}).get("delete")
        )
        if half and s.urn not in replaced:
            raise PreviewError(
                f"{path}: steps[{s.index}]: a {s.op!r} step of {s.name} without the "
                "`replace` step the engine writes beside it; this file was not written by "
                "`pulumi preview --json` (or was edited)"
            )
    if summary is None:
        return
    shown: dict[str, int] = {}
    for s in steps:
        if (s.logical if s.logical is not None else s.op in LOGICAL_OPS) and s.op in EXACT_OPS:
            shown[s.op] = shown.get(s.op, 0) + 1
    for op, n in sorted(shown.items()):
        if n > summary.get(op, 0):
            raise PreviewError(
                f"{path}: changeSummary counts {summary.get(op, 0)} {op!r} but the file shows "
                f"{n} such steps; the engine counts every step it takes, so this file was "
                "not written by `pulumi preview --json` (or was edited)"
            )


def _preview(
    path: Path,
    steps: list[Step],
    summary: dict[str, int] | None,
    config: dict[str, str],
    diagnostics: list[str],
) -> Preview:
    _check_op_mix(steps, summary, path)
    stack_step = next((s for s in steps if s.type == STACK_TYPE), None)
    stack_name = urn_parts(steps[0].urn)[0] if steps else None
    env, stage = _env_stage(config, stack_step and (stack_step.new or stack_step.old), stack_name)
    return Preview(
        str(path),
        steps,
        summary or {},
        config,
        env,
        stage,
        diagnostics,
        counts_known=summary is not None,
    )


def load_state(path: str | Path) -> dict[str, Any]:
    """Read what ``pulumi stack export`` printed, as a plan (pending deletes left out)."""
    path = Path(path)
    return parse_state(_read_json(path, "the JSON that `pulumi stack export` prints"), path)


def parse_state(doc: Any, path: str | Path) -> dict[str, Any]:
    """A deployment already parsed (the Automation API's ``export_stack``), as a plan."""
    path = Path(path)
    top = _Where(path)
    if not isinstance(doc, dict):
        raise top.fail("a deployment object {version, deployment}", doc)
    if "deployment" not in doc and "checkpoint" not in doc:
        hint = " (this looks like a preview: pass it as --preview)" if "steps" in doc else ""
        raise PreviewError(
            f"{path}: top level: expected {{version, deployment}} from `pulumi stack export`{hint}"
        )
    version = doc.get("version")
    if version not in DEPLOYMENT_VERSIONS:
        raise PreviewError(
            f"{path}: version: expected deployment schema 3, or 4 with features "
            f"(what the CLI writes), got {version!r}"
        )
    features = doc.get("features") or []
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise top.at("features").fail("a list of feature names", features)
    unknown = [f for f in features if f not in DEPLOYMENT_FEATURES]
    if unknown:
        # The CLI refuses these too (stack.ErrDeploymentUnsupportedFeatures).
        raise PreviewError(
            f"{path}: features: {', '.join(unknown)} not known; allowed: "
            + ", ".join(DEPLOYMENT_FEATURES)
        )
    if "checkpoint" in doc:  # the file backend's own file (.pulumi/stacks/...)
        checkpoint = top.get(doc, "checkpoint", dict, "a checkpoint {stack, latest}")
        deployment = top.at("checkpoint").get(
            checkpoint, "latest", dict, "a DeploymentV3 object", required=True
        )
        where = top.at("checkpoint").at("latest")
    else:
        deployment = top.get(doc, "deployment", dict, "a DeploymentV3 object", required=True)
        where = top.at("deployment")
    raw = where.get(deployment, "resources", list, "a list of resources") or []
    resources = [_resource(r, where.at("resources").at(i)) for i, r in enumerate(raw)]
    live = [r for r in resources if not r["delete"]]
    stack = next((r for r in live if r["type"] == STACK_TYPE), None)
    stack_name = urn_parts(live[0]["urn"])[0] if live else None
    env, stage = _env_stage({}, stack, stack_name)
    return {
        "env": env or "?",
        "stage": stage or "?",
        "resources": sorted(live, key=lambda r: r["urn"]),
        "source": str(path),
    }


def priceable(plan: dict[str, Any]) -> dict[str, Any]:
    """The resources this stack pays for: not read-only (external) ones, not providers,
    not the ones deleted already and waiting to be recreated (pendingReplacement)."""
    kept = [
        r
        for r in plan["resources"]
        if not r.get("external")
        and not r.get("pendingReplacement")
        and not r["type"].startswith(PROVIDER_PREFIX)
    ]
    return {**plan, "resources": kept}
