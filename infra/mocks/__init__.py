"""The one Pulumi mocks package, used by the tests and the offline tools alike.

- `registry`: output builders per resource type token and answers per invoke token;
- `aws_outputs`, `invokes`: the builders and answers for what the program declares and calls;
- `engine`: `run_program(...)`, which runs a program under the mocks and records resources,
  options (captured by a stack transformation) and exports.

Another module may register more builders: add `infra/mocks/<name>_outputs.py` using
`@resource_outputs("type:token")` and list it in `_BUILDER_MODULES` below.
"""

from __future__ import annotations

import importlib

from infra.mocks.engine import (
    SECRET,
    MoviesMocks,
    ProgramRun,
    RecordedResource,
    RecordingMonitor,
    run_program,
)
from infra.mocks.registry import ACCOUNT_ID, INVOKE_ANSWERS, RESOURCE_OUTPUTS, MockContext

_BUILDER_MODULES = ("infra.mocks.aws_outputs", "infra.mocks.invokes", "infra.mocks.data_outputs")


def _load_builders() -> None:
    for module in _BUILDER_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # data_outputs.py is optional (the data-tier engineer's extra types); a missing
            # dependency inside an existing module is still an error.
            if exc.name != module:
                raise


_load_builders()

__all__ = [
    "ACCOUNT_ID",
    "INVOKE_ANSWERS",
    "RESOURCE_OUTPUTS",
    "SECRET",
    "MockContext",
    "MoviesMocks",
    "ProgramRun",
    "RecordedResource",
    "RecordingMonitor",
    "run_program",
]
