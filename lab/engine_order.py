"""The order in which the Pulumi engine applies one update's steps, with their durations.

Pure: no servers, no plans' file format; `lab/move.py` builds the inputs from two plans.
The rules, from pulumi/pulumi at 1b5949891b3cefcb9974752b24a5ecef0acc86c8:

- **Creates and updates as soon as their dependencies are done, in parallel otherwise.** The
  language SDK registers a resource only once the URNs of its parent and of every
  dependency have resolved (sdk/python/lib/pulumi/runtime/resource.py, `prepare_resource`:
  `await dependency.urn.future()`, `await opts.parent.urn.future()`), and the engine answers
  a RegisterResource only when the resource's step has run; the step executor runs the steps
  of independent chains concurrently (pkg/resource/deploy/step_executor.go, "chains must be
  executed serially and antichains can be executed concurrently"). An unchanged resource is
  a "same" step: instant, but its dependents still wait for whatever it waits for.
- **Replacements: create the new one, delete the old one at the end** (step_generator.go,
  `generateStepsFromDiff`: `CreateReplacementStep`, `ReplaceStep`, "note that the delete step
  is generated later on, after all creates/updates finish"), unless delete-before-replace
  (the resource option or the provider's diff), then the old one is deleted first and the
  new one created after it (`DeleteReplacementStep` before `CreateReplacementStep`). This
  model does not eagerly replace the dependents a delete-before-replace drags along.
- **Deletes last, in reverse dependency order, in waves.** When the program has finished,
  `performPostSteps` (deployment_executor.go) runs `GenerateDeletes` and `ScheduleDeletes`
  (step_generator.go): the condemned resources (removed ones and the old halves of
  create-before-delete replacements) are split into antichains by the *old* dependency
  graph, reversed so that a resource is deleted only after everything that depends on it,
  and each antichain runs in parallel only after the previous one has completed ("each list
  must execute completes before the next list can safely begin executing").

The engine's `--parallel` limit is not modelled (unbounded here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Op(StrEnum):
    SAME = "same"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


class Action(StrEnum):
    """What runs on the timeline (a replacement is two actions)."""

    CREATE = "create"
    UPDATE = "update"
    CREATE_REPLACEMENT = "create-replacement"
    DELETE_REPLACED = "delete-replaced"
    DELETE = "delete"


@dataclass(frozen=True)
class Step:
    """One resource's step; durations in seconds (AWS time).

    ``duration_s`` is the create/update/create-replacement; ``delete_s`` the delete (of a
    removed resource, or of the old half of a replacement).
    """

    urn: str
    op: Op
    duration_s: float = 0.0
    delete_s: float = 0.0
    delete_before_replace: bool = False


@dataclass(frozen=True)
class Timed:
    urn: str
    action: Action
    start_s: float
    end_s: float


class OrderError(ValueError):
    pass


def schedule(
    steps: Mapping[str, Step],
    new_deps: Mapping[str, tuple[str, ...]],
    old_deps: Mapping[str, tuple[str, ...]],
) -> list[Timed]:
    """When each step starts and ends, in the engine's order.

    ``new_deps``: every resource of the new program -> the URNs it depends on (parent
    included); ``old_deps``: the same for the old state (deletes are ordered by it). A
    resource of ``new_deps`` with no entry in ``steps`` is unchanged (a "same" step).
    """
    for urn, step in steps.items():
        if step.op == Op.DELETE and urn not in old_deps:
            raise OrderError(f"delete of {urn}: not in the old state")
        if step.op != Op.DELETE and urn not in new_deps:
            raise OrderError(f"{step.op} of {urn}: not in the new program")
        if step.duration_s < 0 or step.delete_s < 0:
            raise OrderError(f"{urn}: negative duration; allowed: seconds >= 0")
    out: list[Timed] = []
    done: dict[str, float] = {}  # urn -> when its registration completed
    visiting: set[str] = set()

    def finish(urn: str) -> float:
        if urn in done:
            return done[urn]
        if urn in visiting:
            raise OrderError(f"dependency cycle through {urn}")
        visiting.add(urn)
        ready = max((finish(d) for d in new_deps.get(urn, ()) if d in new_deps), default=0.0)
        visiting.discard(urn)
        step = steps.get(urn, Step(urn, Op.SAME))
        end = ready
        if step.op == Op.CREATE:
            end = _add(out, urn, Action.CREATE, ready, step.duration_s)
        elif step.op == Op.UPDATE:
            end = _add(out, urn, Action.UPDATE, ready, step.duration_s)
        elif step.op == Op.REPLACE and step.delete_before_replace:
            gone = _add(out, urn, Action.DELETE_REPLACED, ready, step.delete_s)
            end = _add(out, urn, Action.CREATE_REPLACEMENT, gone, step.duration_s)
        elif step.op == Op.REPLACE:
            end = _add(out, urn, Action.CREATE_REPLACEMENT, ready, step.duration_s)
        done[urn] = end
        return end

    for urn in new_deps:
        finish(urn)
    program_end = max(done.values(), default=0.0)
    condemned = {
        urn: (Action.DELETE if s.op == Op.DELETE else Action.DELETE_REPLACED, s.delete_s)
        for urn, s in steps.items()
        if s.op == Op.DELETE or (s.op == Op.REPLACE and not s.delete_before_replace)
    }
    t = program_end
    for wave in delete_waves(set(condemned), old_deps):
        ends = [_add(out, urn, condemned[urn][0], t, condemned[urn][1]) for urn in sorted(wave)]
        t = max(ends, default=t)
    return sorted(out, key=lambda x: (x.start_s, x.end_s, x.urn))


def delete_waves(condemned: set[str], old_deps: Mapping[str, tuple[str, ...]]) -> list[list[str]]:
    """`ScheduleDeletes`: antichains of the condemned set, dependents' wave first."""
    left = set(condemned)
    waves: list[list[str]] = []
    while left:
        wave = sorted(u for u in left if not (set(old_deps.get(u, ())) & left))
        if not wave:
            raise OrderError(f"dependency cycle among deletes: {sorted(left)[:3]}")
        left -= set(wave)
        waves.append(wave)
    waves.reverse()
    return waves


def _add(out: list[Timed], urn: str, action: Action, start: float, seconds: float) -> float:
    out.append(Timed(urn, action, start, start + seconds))
    return start + seconds


def finished(timeline: list[Timed], urn: str, action: Action | None = None) -> float:
    """When ``urn``'s (last) ``action`` ended; KeyError naming it when there is none."""
    ends = [t.end_s for t in timeline if t.urn == urn and (action is None or t.action == action)]
    if not ends:
        raise KeyError(f"no {action or 'step'} of {urn} in the timeline")
    return max(ends)
