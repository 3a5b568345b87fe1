"""The movies scaling blueprint: Pulumi program, plan layer and offline tools.

The repository root is computed here once; every module that reads a file of the repo
(stage specs, assumptions, templates, build output) starts from `REPO_ROOT`.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Workload, capacity, prices, usage, node classes, measured figures: each file names its source.
ASSUMPTIONS_DIR = REPO_ROOT / "assumptions"
