"""`python -m infra diff`: what a move changes, and what applying it does.

One package per concern: ``model`` (the entries and the judgement both sources share),
``from_plans`` (two offline plans) and ``from_preview`` (a real ``pulumi preview --json``)
which both build a ``PlanDiff``, ``render`` (text, Markdown, JSON), ``cli`` (argparse).
The names below are the package's public API.
"""

from infra.review.diff.cli import main
from infra.review.diff.from_plans import diff_plans
from infra.review.diff.from_preview import UNKNOWN_TEXT, diff_preview, preview_notes
from infra.review.diff.model import Change, Entry, PlanDiff, PreviewDiff, compare_values
from infra.review.diff.render import (
    as_json,
    describe,
    impact_line,
    loud_lines,
    mask,
    render_markdown,
    render_rich,
    short_type,
    summary_line,
)

__all__ = [
    "UNKNOWN_TEXT",
    "Change",
    "Entry",
    "PlanDiff",
    "PreviewDiff",
    "as_json",
    "compare_values",
    "describe",
    "diff_plans",
    "diff_preview",
    "impact_line",
    "loud_lines",
    "main",
    "mask",
    "preview_notes",
    "render_markdown",
    "render_rich",
    "short_type",
    "summary_line",
]
