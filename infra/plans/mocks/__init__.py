"""The one Pulumi mocks package, used by the tests and the offline tools alike.

- `registry`: output builders per resource type token and answers per invoke token;
- `aws_outputs`, `invokes`: the builders and answers for what the program declares and calls;
- `engine`: `run_program(...)`, which runs a program under the mocks and records resources,
  options (captured by a stack transformation) and exports.

Another module may register more builders: add `infra/plans/mocks/<name>_outputs.py` using
`@resource_outputs("type:token")` and list it in `_BUILDER_MODULES` below.
"""

from __future__ import annotations

import importlib

from infra.plans.mocks.engine import (
    MoviesMocks,
    ProgramRun,
    RecordedResource,
    RecordingMonitor,
    run_program,
)
from infra.plans.mocks.registry import ACCOUNT_ID, INVOKE_ANSWERS, RESOURCE_OUTPUTS, MockContext

_BUILDER_MODULES = (
    "infra.plans.mocks.aws_outputs",
    "infra.plans.mocks.invokes",
    "infra.plans.mocks.data_outputs",
)


def _load_builders() -> None:
    # Importing a builder module registers its builders (`@resource_outputs`).
    for module in _BUILDER_MODULES:
        importlib.import_module(module)


_load_builders()

__all__ = [
    "ACCOUNT_ID",
    "INVOKE_ANSWERS",
    "RESOURCE_OUTPUTS",
    "MockContext",
    "MoviesMocks",
    "ProgramRun",
    "RecordedResource",
    "RecordingMonitor",
    "run_program",
]
