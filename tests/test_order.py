"""tests/conftest.py's file order for xdist: longest first, by `wall` mark, a server file
without one counted as UNMARKED_SERVER_WALL seconds, the rest after in collection order."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from tests import conftest


def _item(path: str, servers: bool = False, wall: float | None = None):
    marks = {"servers": object() if servers else None}
    if wall is not None:
        marks["wall"] = types.SimpleNamespace(args=(wall,))
    return types.SimpleNamespace(path=Path(path), get_closest_marker=marks.get)


def test_longest_first_with_unmarked_server_files_in_between() -> None:
    items = [
        _item("a_quick.py"),
        _item("b_server_unmarked.py", servers=True),
        _item("c_marked_short.py", wall=conftest.UNMARKED_SERVER_WALL - 1),
        _item("d_marked_long.py", wall=30),
        _item("e_server_marked.py", servers=True, wall=conftest.UNMARKED_SERVER_WALL + 1),
        _item("a_quick.py"),
    ]
    config = types.SimpleNamespace(getoption=lambda *_a, **_k: 4)
    conftest.pytest_collection_modifyitems(config, items)  # type: ignore[arg-type]
    assert [i.path.name for i in items] == [
        "d_marked_long.py",
        "e_server_marked.py",
        "b_server_unmarked.py",
        "c_marked_short.py",
        "a_quick.py",
        "a_quick.py",
    ]


def test_one_process_keeps_the_collection_order() -> None:
    items = [_item("z.py"), _item("a.py", wall=9)]
    config = types.SimpleNamespace(getoption=lambda *_a, **_k: None)
    conftest.pytest_collection_modifyitems(config, items)  # type: ignore[arg-type]
    assert [i.path.name for i in items] == ["z.py", "a.py"]


@pytest.mark.parametrize("walls", [(3.0, 8.0), (8.0, 3.0)])
def test_a_files_longest_mark_counts(walls: tuple[float, float]) -> None:
    items = [_item("x.py", wall=walls[0]), _item("x.py", wall=walls[1]), _item("y.py", wall=5)]
    config = types.SimpleNamespace(getoption=lambda *_a, **_k: 4)
    conftest.pytest_collection_modifyitems(config, items)  # type: ignore[arg-type]
    assert [i.path.name for i in items] == ["x.py", "x.py", "y.py"]
