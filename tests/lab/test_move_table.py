"""The measured column of docs/infra.md's move table (lab/move_table.py) from a small
hand-made moves.json."""

from __future__ import annotations

import pytest

from lab.move_table import TableError, measured_cell, render, replace_table

DECLARED = [
    ("single-box", "split-db", "dev a", "prod a"),
    ("split-db", "load-balanced", "dev b", "prod b"),
    ("load-balanced", "cached", "dev c", "prod c"),
]


def _window(errors, offered, routes=None, statuses=None):
    return {
        "errors": errors,
        "offered": offered,
        "errors_by_route": routes or {},
        "errors_by_status": statuses or {},
    }


MOVES = {
    "moves": [
        {
            "move": "single-box -> split-db",
            "env": "prod",
            "time_scale_lab_s_per_aws_min": 5.0,
            "during": _window(7, 100, {"movie": 5, "write": 2}, {"transport": 7}),
            "after": _window(1, 50, {"movie": 1}, {"503": 1}),
            "longest_error_window_aws_s": 42.5,
            "writes": {"acknowledged": 30, "lost": 0, "failed": 2},
        },
        {"move": "split-db -> load-balanced", "env": "prod", "not_rehearsed": "no ALB"},
        {
            "move": "load-balanced -> cached",
            "env": "dev",  # a dev rehearsal is not the prod column's
            "time_scale_lab_s_per_aws_min": 5.0,
            "during": _window(0, 10),
            "after": _window(0, 10),
            "longest_error_window_aws_s": 0,
            "writes": {"acknowledged": 3, "lost": 0},
        },
    ]
}


def test_each_move_gets_its_figures_or_says_it_was_not_rehearsed():
    lines = render(DECLARED, MOVES)
    assert lines[0].startswith("| move | dev | prod | measured")
    assert lines[2] == (
        "| `single-box` → `split-db` | dev a | prod a | 8 errors of 150 requests "
        "(movie 6, write 2; transport 7, 503 1); longest error window 42.5 AWS s; writes "
        "lost 0 of 30 acknowledged, 2 refused or failed (at 5 lab s per AWS min) |"
    )
    assert lines[3].endswith("| prod b | not rehearsed (no ALB) |")
    assert lines[4].endswith("| prod c | not rehearsed |")


def test_a_missing_figure_is_named():
    bad = {**MOVES["moves"][0]}
    del bad["writes"]
    with pytest.raises(TableError, match=r"single-box -> split-db.*writes"):
        measured_cell(bad)


def test_the_table_is_replaced_in_its_section_and_the_rest_kept():
    text = (
        "# t\n\n## What each stage move does\n\nintro\n\n| move | dev | prod |\n|---|---|---|\n"
        "| `single-box` → `split-db` | x | y |\n\nafter the table\n\n## Next\n"
    )
    out = replace_table(text, render(DECLARED[:1], MOVES))
    assert "intro\n\n| move | dev | prod | measured" in out
    assert "| x | y |" not in out
    assert out.endswith("(at 5 lab s per AWS min) |\n\nafter the table\n\n## Next\n")
    with pytest.raises(TableError, match="no table"):
        replace_table("## What each stage move does\n\nno table\n", [])
