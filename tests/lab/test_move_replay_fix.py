"""`lab move` under traffic with the fix (the search rule waits for the search fleet, which
waits for healthy targets): no search error before, during or after the move, and no
acknowledged write lost. Today's plans: test_move_replay.py; the rehearsal itself:
move_rehearsal.py (a file of its own so xdist can run the two rehearsals side by side)."""

from __future__ import annotations

import pytest

from tests.lab.move_rehearsal import check_the_search_rule

pytestmark = pytest.mark.wall(30)  # seconds alone (tests/conftest.py)


@pytest.mark.servers
@pytest.mark.parametrize("fix", [True], ids=["with-the-fix"])
def test_the_search_rule_without_the_fix_serves_errors_with_it_none(lab_root, stack_plan, fix):
    # The two plans it needs, not the session's 14 (`stack_plans` built them all first).
    check_the_search_rule(stack_plan("prod", "edge"), stack_plan("prod", "scale-5x"), fix)
