"""Every shape the engine writes, read as the engine means it.

Studied (pulumi/pulumi at 1b5949891b3cefcb9974752b24a5ecef0acc86c8):
- pkg/display/json.go: PreviewDigest {config, steps, diagnostics, duration, changeSummary,
  maybeCorrupt}, PreviewStep {op, urn, provider, oldState, newState, diffReasons,
  replaceReasons, detailedDiff (always written, null when none)}, all else omitempty;
- pkg/backend/display/json.go (ShowPreviewDigest) and display.go (shouldShow,
  isRootStack, the e.Internal() filter): default providers never appear, the root stack
  always does, sames only with --show-sames, replacement halves only with
  --show-replacement-steps; the streaming form (ShowJSONEvents) is one EngineEvent a line;
- pkg/engine/update.go (previewActions.OnResourceStepPost, isInternalStep,
  shouldRecordReadStep): changeSummary counts logical non-internal steps, shown or not;
- pkg/resource/deploy/step.go: the StepOps and which are Logical();
- sdk/go/common/apitype/core.go (UntypedDeployment {version, features, deployment},
  ResourceV3 incl. pendingReplacement, SecretV1 {sig, ciphertext | plaintext}) and
  events.go (EngineEvent, StepEventMetadata {op, urn, type, old, new, keys, diffs,
  detailedDiff{diffKind, inputDiff}, logical, provider}, SummaryEvent.resourceChanges);
- pkg/resource/stack/deployment.go: version 3, or 4 only with features; supportedFeatures;
- real files: pkg/backend/display/testdata/json-yaml/json.json (an event stream: prelude,
  resourcePreEvent with "logical": true, summaryEvent, cancelEvent) and
  pkg/resource/stack/testdata/checkpoint-v4.json ({"version": 4, "features":
  ["refreshBeforeUpdate"], "checkpoint": {...}}) in pulumi/pulumi at that commit; a real
  `pulumi stack export` response (version 3, "secrets_providers", "custom": false on the
  stack, "propertyDependencies", no "features") quoted in Pulumi's Cloud REST API
  documentation (Export Stack); its repository path was not recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.plans.preview import PreviewError, load_preview, load_state, priceable
from infra.tokens import SECRET_MARKER

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "engine"
SPLIT, DEFAULT = FIX / "preview-dev-split-db.json", FIX / "preview-dev-default-flags.json"
PROD, STATE = FIX / "preview-prod-cached-replacements.json", FIX / "state-dev-single-box.json"
STACK = "urn:pulumi:dev::movies::pulumi:pulumi:Stack::movies-dev"
SIG = "4dabf18193072939515e22adb298388d"


def _write(tmp: Path, doc, name: str = "f.json") -> Path:
    path = tmp / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def test_a_whole_preview_by_the_counts_even_with_only_some_ops_shown() -> None:
    for path in (SPLIT, PROD, FIX / "preview-dev-adopt.json"):
        p = load_preview(path)
        assert not p.partial, (path.name, p.unseen)


def test_default_flags_preview_is_partial_though_the_root_stack_is_a_same_step() -> None:
    p = load_preview(DEFAULT)
    assert any(s.op == "same" for s in p.steps)  # the root stack: always shown
    assert p.partial and p.unseen == {"same": 40}
    assert "40 `same`" in p.unseen_text() and "--show-sames" in p.unseen_text()


def test_no_change_summary_is_partial_not_whole(tmp_path: Path) -> None:
    doc = json.loads(SPLIT.read_text())
    del doc["changeSummary"]
    p = load_preview(_write(tmp_path, doc))
    assert p.partial and "no changeSummary" in p.unseen_text()


def test_replace_halves_without_the_logical_replace_are_refused_as_malformed(tmp_path) -> None:
    doc = json.loads(PROD.read_text())
    doc["steps"] = [s for s in doc["steps"] if s["op"] != "replace"]
    with pytest.raises(PreviewError, match=r"'create-replacement' step of cache-redis without"):
        load_preview(_write(tmp_path, doc))


def test_more_steps_than_the_engine_counted_is_refused(tmp_path: Path) -> None:
    doc = json.loads(SPLIT.read_text())
    doc["changeSummary"]["create"] = 5
    with pytest.raises(PreviewError, match=r"counts 5 'create' but the file shows 6"):
        load_preview(_write(tmp_path, doc))


def test_a_lone_delete_replaced_of_a_pending_delete_is_the_engines(tmp_path: Path) -> None:
    doc = json.loads(SPLIT.read_text())
    old = dict(doc["steps"][4]["oldState"], delete=True)
    doc["steps"].append({"op": "delete-replaced", "urn": old["urn"], "oldState": old,
                         "detailedDiff": None})  # fmt: skip
    assert not load_preview(_write(tmp_path, doc)).partial


def _events(doc: dict) -> list[dict]:
    """The digest's steps as the streaming form writes them (apitype.EngineEvent)."""
    out: list[dict] = [{"sequence": 0, "timestamp": 1, "preludeEvent": {"config": doc["config"]}}]
    logical = {"same", "create", "update", "delete", "replace", "read", "import"}
    for step in doc["steps"]:
        meta = {"op": step["op"], "urn": step["urn"], "type": step["urn"].split("::")[2],
                "old": step.get("oldState"), "new": step.get("newState"),
                "detailedDiff": None, "logical": step["op"] in logical,
                "provider": step.get("provider", "")}  # fmt: skip
        if step.get("replaceReasons"):
            meta["keys"] = step["replaceReasons"]
        out.append({"sequence": len(out), "timestamp": 1, "resourcePreEvent": {"metadata": meta}})
        out.append({"sequence": len(out), "timestamp": 1, "resOutputsEvent": {"metadata": meta}})
    out.append({"sequence": len(out), "timestamp": 2, "summaryEvent": {
        "maybeCorrupt": False, "durationSeconds": 3, "resourceChanges": doc["changeSummary"],
        "PolicyPacks": {}}})  # fmt: skip
    out.append({"sequence": len(out), "timestamp": 2, "cancelEvent": {}})
    return out


def test_the_streaming_form_reads_as_the_digest_does(tmp_path: Path) -> None:
    doc = json.loads(PROD.read_text())
    text = "\n".join(json.dumps(e) for e in _events(doc)) + "\n"
    streamed, digest = load_preview(_write(tmp_path, text)), load_preview(PROD)
    assert [(s.op, s.urn) for s in streamed.steps] == [(s.op, s.urn) for s in digest.steps]
    assert streamed.new_plan() == {**digest.new_plan(), "resources": digest.new_plan()["resources"]}
    assert (streamed.env, streamed.stage, streamed.partial) == ("prod", "cached", False)


def test_a_stream_cut_before_its_summary_is_partial(tmp_path: Path) -> None:
    events = _events(json.loads(SPLIT.read_text()))[:-2]
    p = load_preview(_write(tmp_path, "\n".join(json.dumps(e) for e in events)))
    assert p.partial and not p.counts_known


def test_state_version_4_with_features_and_checkpoint_form(tmp_path: Path) -> None:
    doc = json.loads(STATE.read_text())
    doc["deployment"]["resources"][3]["refreshBeforeUpdate"] = True
    v4 = {"version": 4, "features": ["refreshBeforeUpdate"], "deployment": doc["deployment"]}
    assert len(load_state(_write(tmp_path, v4))["resources"]) == len(load_state(STATE)["resources"])
    checkpoint = {"version": 3, "checkpoint": {"stack": "dev", "latest": doc["deployment"]}}
    assert load_state(_write(tmp_path, checkpoint, "c.json"))["env"] == "dev"
    with pytest.raises(PreviewError, match=r"features: teleport not known; allowed: refresh"):
        load_state(_write(tmp_path, {**v4, "features": ["teleport"]}, "x.json"))
    with pytest.raises(PreviewError, match=r"expected deployment schema 3, or 4 .* got 5"):
        load_state(_write(tmp_path, {**v4, "version": 5}, "y.json"))


def test_ciphertext_and_plaintext_secrets_both_become_the_mask(tmp_path: Path) -> None:
    doc = json.loads(STATE.read_text())
    res = doc["deployment"]["resources"][3]
    res["outputs"]["a"] = {SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc"}
    res["outputs"]["b"] = {SIG: "1b47061264138c4ac30d75fd1eb44270", "plaintext": '"hunter2"'}
    plan = load_state(_write(tmp_path, doc))
    text = json.dumps(plan)
    assert "hunter2" not in text and "v1:abc" not in text
    got = next(r for r in plan["resources"] if r["urn"] == res["urn"])["outputs"]
    assert (got["a"], got["b"]) == (SECRET_MARKER, SECRET_MARKER)


def test_a_pending_replacement_is_kept_but_not_priced(tmp_path: Path) -> None:
    doc = json.loads(STATE.read_text())
    res = doc["deployment"]["resources"][3]
    res["pendingReplacement"] = True
    plan = load_state(_write(tmp_path, doc))
    assert res["urn"] in {r["urn"] for r in plan["resources"]}
    assert res["urn"] not in {r["urn"] for r in priceable(plan)["resources"]}


# -------------------------------------------------------------- property: any valid list

_OPS = st.sampled_from(["same", "create", "update", "delete", "replace", "read", "import"])


# Go's encoding/json writes the engine's float64 numbers in exponent form from 1e21 on, so
# an integer literal in engine output has at most 21 digits (infra/jsonfile.py).
_ENGINE_INTS = st.integers(-(10**21) + 1, 10**21 - 1)


@st.composite
def engine_steps(draw) -> dict:
    """A digest the engine could write: steps of distinct resources, counts >= shown."""
    n = draw(st.integers(0, 8))
    steps = [{"op": "same", "urn": STACK, "oldState": {"urn": STACK, "custom": False,
              "type": "pulumi:pulumi:Stack"}, "newState": {"urn": STACK, "custom": False,
              "type": "pulumi:pulumi:Stack"}, "detailedDiff": None}]  # fmt: skip
    for i in range(n):
        op = draw(_OPS)
        urn = f"urn:pulumi:dev::movies::aws:s3/bucket:Bucket::b{i}"
        state = {"urn": urn, "custom": True, "id": f"b{i}", "type": "aws:s3/bucket:Bucket",
                 "inputs": draw(st.dictionaries(st.text(max_size=4), _ENGINE_INTS | st.text(
                     max_size=4) | st.none(), max_size=3))}  # fmt: skip
        step = {"op": op, "urn": urn, "detailedDiff": None}
        if op != "create" and op != "import":
            step["oldState"] = state
        if op != "delete":
            step["newState"] = state
        if op == "replace" and draw(st.booleans()):  # --show-replacement-steps
            steps.append({**step, "op": "create-replacement"})
            steps.append(step)
            steps.append({"op": "delete-replaced", "urn": urn, "oldState": state,
                          "detailedDiff": None})  # fmt: skip
            continue
        steps.append(step)
    counts: dict[str, int] = {}
    for s in steps:
        if s["op"] in ("same", "create", "update", "delete", "replace", "read", "import"):
            counts[s["op"]] = counts.get(s["op"], 0) + 1
    counts["same"] += draw(st.integers(0, 5))  # hidden sames
    return {"config": {"movies:environment": "dev"}, "steps": steps, "changeSummary": counts}


@settings(max_examples=60, deadline=None, derandomize=True)
@given(engine_steps())
def test_any_engine_valid_step_list_is_read_without_a_traceback(doc: dict) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        p = load_preview(_write(Path(tmp), doc))
        hidden = doc["changeSummary"]["same"] - sum(s["op"] == "same" for s in doc["steps"])
        assert p.partial == (hidden > 0)
        p.new_plan()
        p.old_plan()
