"""Run a Pulumi program under the mocks and record every resource as the engine would see it.

`run_program(program, project=..., stack=..., region=...)` can be called many times in one
process: each run resets the runtime settings and the root stack, installs fresh mocks and a
recording monitor, runs the program, waits for every RPC and output, and returns a
`ProgramRun` with the resources (URN, type, name, parent, id, inputs, outputs,
dependencies, options) and the resolved stack exports.

URNs are the engine's, not the mocks': the recording monitor builds each one with
`infra.plans.urn.engine_urn` (the parent's whole type chain, never the root stack's type), so
the SDK hands the same URN back as every child's `parent` and every dependent's dependency.
Pulumi's own `MockMonitor.make_urn` keeps only the parent's last type (see infra/plans/urn.py).

Resource options never reach `Mocks.new_resource`, so a stack transformation records them
(protect, retainOnDelete, aliases, ignoreChanges, deleteBeforeReplace) keyed by the
resource object; the URNs are matched after the run, and alias URNs are collapsed by the
engine's rule (`alias_urn`), not the SDK's `collapse_alias_to_urn`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc, settings
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from infra import REPO_ROOT
from infra.plans.mocks.registry import INVOKE_ANSWERS, RESOURCE_OUTPUTS, MockContext
from infra.plans.urn import ROOT_STACK_TYPE, alias_urn, engine_urn, stack_urn
from infra.tokens import SECRET_MARKER

STACK_TYPE = ROOT_STACK_TYPE
_CAMEL = re.compile(r"_([a-z0-9])")


class MockInvokeError(KeyError):
    """The program called a data source the mocks do not answer."""


def _camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def plain(value: Any) -> Any:
    """A JSON-ready copy of an engine value: secrets masked, assets by relative path."""
    if is_secret_value(value):
        return SECRET_MARKER
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        path = Path(value.path)
        try:
            shown = str(path.resolve().relative_to(REPO_ROOT))
        except ValueError:
            shown = path.name
        return {"asset": type(value).__name__, "path": shown}
    if isinstance(value, pulumi.StringAsset):
        return {"asset": "StringAsset", "text": value.text}
    if isinstance(value, pulumi.Resource):
        return {"resource": type(value).__name__}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def reveal(value: Any) -> Any:
    """Unwrap secrets (for mocks that must compute from a secret input)."""
    if is_secret_value(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


class MoviesMocks(pulumi_mocks.Mocks):
    """Deterministic outputs per type from the registry; invokes answered or refused loudly."""

    def __init__(self, stack: str, region: str) -> None:
        self.stack = stack
        self.region = region

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        if not args.custom and not args.typ.startswith("pulumi:providers:"):
            return "", {}  # component resources have no id and no provider state
        inputs = dict(args.inputs)
        # pulumi-aws 7: a resource-level `region` input manages the resource in that region
        # (the CloudFront alarms and their topic live in us-east-1): its ARN says so.
        region = inputs.get("region")
        ctx = MockContext(
            self.stack,
            region if isinstance(region, str) and region else self.region,
            args.typ,
            args.name,
        )
        builder = RESOURCE_OUTPUTS.get(args.typ, _generic_outputs)
        computed = builder(ctx, reveal(inputs))
        resource_id = str(computed.pop("id", "") or ctx.physical_id(_short_type(args.typ)))
        if args.resource_id:  # `import_`: the engine keeps the adopted resource's own id
            resource_id = args.resource_id
        state = {**inputs, **computed}
        if "tags" in inputs and "tagsAll" not in state:
            state["tagsAll"] = inputs["tags"]
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list]:
        answer = INVOKE_ANSWERS.get(args.token)
        if answer is None:
            raise MockInvokeError(
                f"no mock answer for invoke {args.token!r}; "
                "register one in infra/plans/mocks/invokes.py"
            )
        ctx = MockContext(self.stack, self.region, args.token, args.token)
        return answer(ctx, reveal(dict(args.args))), []


def _short_type(token: str) -> str:
    name = token.rsplit(":", 1)[-1]
    return re.sub(r"[^a-z0-9]", "", name.lower())[:12] or "res"


def _generic_outputs(ctx: MockContext, inputs: dict[str, Any]) -> dict[str, Any]:
    # Bucket sub-resources (versioning, encryption, ...) are identified by their bucket.
    if ctx.type_token.startswith("aws:s3/") and "bucket" in inputs:
        return {"id": str(inputs["bucket"])}
    return {}


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str]
    options: dict[str, Any] = field(default_factory=dict)

    def to_plan(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "id": self.id,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "dependencies": self.dependencies,
            "options": self.options,
        }


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, keeping what each registration asked for and got back."""

    def __init__(self, mocks: MoviesMocks, project: str) -> None:
        super().__init__(mocks)
        self.stack = mocks.stack
        self.project = project
        self.recorded: dict[str, RecordedResource] = {}
        self.stack_urn: str | None = None

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine's rule from (stack, project, parent's qualified type, type, name); the
        # mocks' own make_urn keeps only the parent's last type and the root stack's.
        return engine_urn(self.stack, self.project, parent or None, type_, name)

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        urn = response.urn
        if request.type == STACK_TYPE:
            self.stack_urn = urn
            return response
        registration = self.resources[urn]
        secret_keys = set(request.additionalSecretOutputs)
        outputs = {
            k: (SECRET_MARKER if k in secret_keys else plain(v))
            for k, v in registration.state.items()
        }
        self.recorded[urn] = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            id=registration.id or "",
            inputs=plain(rpc.deserialize_properties(request.object)) if request.custom else {},
            outputs=outputs if request.custom else {},
            dependencies=sorted(set(request.dependencies)),
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        record = self.recorded.get(request.urn)
        if record is not None and request.HasField("outputs"):
            record.outputs = plain(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


@dataclass
class _CapturedOptions:
    resource: pulumi.Resource
    parent: pulumi.Resource | None
    name: str
    type_: str
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    aliases: list[Any]  # Input[Alias | str], resolved after the run
    import_id: str | None = None


def _resolved(value: Any) -> Any:
    """The value of an `Input` (a plain value, an awaitable or an `Output`)."""
    return _sync_await(pulumi.Output.from_input(value).future())


class OptionsRecorder:
    """A stack transformation that records each resource's options as declared."""

    def __init__(self, stack: str, project: str) -> None:
        self.stack = stack
        self.project = project
        self.captured: list[_CapturedOptions] = []

    def __call__(
        self, args: pulumi.ResourceTransformationArgs
    ) -> pulumi.ResourceTransformationResult | None:
        opts = args.opts
        parent = opts.parent or settings.get_root_resource()
        protect = opts.protect
        if protect is None:  # the SDK inherits protect from the parent after transforms run
            protect = bool(getattr(parent, "_protect", None) or False)
        self.captured.append(
            _CapturedOptions(
                resource=args.resource,
                parent=parent,
                name=args.name,
                type_=args.type_,
                protect=bool(protect),
                retain_on_delete=bool(opts.retain_on_delete),
                delete_before_replace=bool(opts.delete_before_replace),
                ignore_changes=[_camel(p) for p in (opts.ignore_changes or [])],
                aliases=list(opts.aliases or []),
                import_id=opts.import_,
            )
        )
        return None

    def alias_urn(self, cap: _CapturedOptions, alias: Any) -> str | None:
        """One declared alias as the engine collapses it: the SDK sends a string as the URN
        itself and an `Alias` as a spec (`create_alias_spec`: parent `...` = the resource's
        own parent, `None` = no parent); the engine fills the rest from the resource
        (`collapseAliasToUrn`, see infra/plans/urn.py). The engine also derives aliases from
        a parent's aliases (`inheritedChildAlias`); those need the old state and are not
        listed here: the plan records what the program declares."""
        value = _resolved(alias)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if not isinstance(value, pulumi.Alias):
            raise TypeError(f"alias of {cap.name!r}: expected a URN or pulumi.Alias, got {value!r}")

        def given(field: Any, default: str) -> str:
            if field is ... or field is None:
                return default
            resolved = _resolved(field)
            return str(resolved) if resolved else default

        own_parent = str(_resolved(cap.parent.urn)) if cap.parent is not None else None
        no_parent = value.parent is None
        if value.parent is ... or value.parent is None:
            parent = own_parent
        elif isinstance(value.parent, pulumi.Resource):
            parent = str(_resolved(value.parent.urn))
        else:
            parent = str(_resolved(value.parent))
        return alias_urn(
            stack=given(value.stack, self.stack),
            project=given(value.project, self.project),
            name=given(value.name, cap.name),
            type_=given(value.type_, cap.type_),
            parent=parent,
            no_parent=no_parent,
        )

    def by_urn(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = {}
        for cap in self.captured:
            urn = _sync_await(cap.resource.urn.future())
            collapsed = (self.alias_urn(cap, a) for a in cap.aliases)
            aliases = sorted({a for a in collapsed if a is not None})
            result[urn] = {
                "protect": cap.protect,
                "retainOnDelete": cap.retain_on_delete,
                "aliases": aliases,
                "ignoreChanges": sorted(cap.ignore_changes),
                "deleteBeforeReplace": cap.delete_before_replace,
            }
            if cap.import_id:  # only adopted resources carry it: other plans stay as they were
                result[urn]["import"] = cap.import_id
        return result


def default_options() -> dict[str, Any]:
    return {
        "protect": False,
        "retainOnDelete": False,
        "aliases": [],
        "ignoreChanges": [],
        "deleteBeforeReplace": False,
    }


@dataclass
class ProgramRun:
    project: str
    stack: str
    stack_urn: str
    resources: list[RecordedResource]
    exports: dict[str, Any]
    secret_exports: list[str]

    def by_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]


def _resolve_exports(root: pulumi.Resource) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    secrets: list[str] = []
    for name, value in sorted(getattr(root, "outputs", {}).items()):
        output = pulumi.Output.from_input(value)
        resolved = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            secrets.append(name)
            values[name] = SECRET_MARKER
        else:
            values[name] = plain(resolved)
    return values, secrets


def _ensure_event_loop() -> None:
    """The Pulumi SDK schedules its RPCs on the thread's current loop. Code that ran
    before us (an `asyncio.run` in a test or a tool) may have closed it or left none."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


@contextmanager
def _without_stack_traces() -> Iterator[None]:
    """No per-resource stack trace while the program runs under the mocks.

    The SDK (pulumi 3.272, pulumi/runtime/resource.py `register_resource` and
    `read_resource`) calls `_get_stack_trace()` for every resource: `traceback.extract_stack`
    plus a file URI and a protobuf frame per stack frame, ~8% of a plan's CPU. The result
    only fills `RegisterResourceRequest.stackTrace`/`sourcePosition`, which the engine uses
    to show where a resource was declared; neither `MockMonitor` (pulumi/runtime/mocks.py)
    nor `RecordingMonitor` reads them, so no plan changes. The SDK has no setting for it:
    the module function is swapped for this run only and put back after it.
    """
    original = pulumi_resource._get_stack_trace
    pulumi_resource._get_stack_trace = _no_stack_trace
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace = original


def run_program(
    program: Callable[[], None], *, project: str, stack: str, region: str
) -> ProgramRun:
    """Run `program` once under fresh mocks; safe to call repeatedly in one process."""
    with _without_stack_traces():
        return _run_program(program, project=project, stack=stack, region=region)


def _run_program(
    program: Callable[[], None], *, project: str, stack: str, region: str
) -> ProgramRun:
    _ensure_event_loop()
    settings.reset_options(project=project, stack=stack)
    mocks = MoviesMocks(stack, region)
    monitor = RecordingMonitor(mocks, project)
    pulumi_mocks.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    root = settings.get_root_resource()
    recorder = OptionsRecorder(stack, project)
    pulumi.runtime.register_stack_transformation(recorder)
    try:
        program()
        _sync_await(wait_for_rpcs())
        exports, secret_exports = _resolve_exports(root)
        _sync_await(wait_for_rpcs())
        options = recorder.by_urn()
    finally:
        # Leave no root stack behind: the next run (or test) builds its own.
        settings.ROOT.set(None)
    resources = []
    for urn in sorted(monitor.recorded):
        record = monitor.recorded[urn]
        record.options = options.get(urn, default_options())
        resources.append(record)
    root_urn = monitor.stack_urn or stack_urn(stack, project)
    return ProgramRun(project, stack, root_urn, resources, exports, secret_exports)
