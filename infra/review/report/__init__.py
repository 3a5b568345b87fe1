"""`python -m infra report`: ``model`` (plans -> StageRows), ``render`` (templates), ``cli``."""

from infra.review.report.cli import main
from infra.review.report.model import StageRow, collect, stage_text
from infra.review.report.render import render

__all__ = ["StageRow", "collect", "main", "render", "stage_text"]
