"""infra.program.zones: zones by ID among those offering every instance type."""

from __future__ import annotations

import pytest

from infra.program.zones import Zone, ZoneError, choose_zones, offerings_by_zone

NAMES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
IDS = ["use1-az1", "use1-az2", "use1-az3", "use1-az4"]
OFFERED = {
    "use1-az1": {"t4g.small", "c7g.large"},
    "use1-az2": {"t4g.small", "c7g.large"},
    "use1-az3": {"t3.small"},  # like us-east-1's use1-az3: no Graviton type
    "use1-az4": {"t4g.small", "c7g.large", "t3.small"},
}


def test_a_zone_lacking_a_type_is_skipped_and_name_order_kept() -> None:
    got = choose_zones(NAMES, IDS, OFFERED, ["t4g.small", "c7g.large"], 3)
    assert got == [
        Zone("us-east-1a", "use1-az1"),
        Zone("us-east-1b", "use1-az2"),
        Zone("us-east-1d", "use1-az4"),
    ]


def test_zones_that_all_fit_are_the_first_by_name_so_existing_subnets_stay() -> None:
    got = choose_zones(NAMES, IDS, OFFERED, ["t4g.small"], 2)
    assert [z.name for z in got] == ["us-east-1a", "us-east-1b"]


def test_the_order_of_the_answer_does_not_matter() -> None:
    got = choose_zones(NAMES[::-1], IDS[::-1], OFFERED, ["c7g.large"], 2)
    assert [z.zone_id for z in got] == ["use1-az1", "use1-az2"]


def test_too_few_zones_is_one_line_naming_what_lacks() -> None:
    with pytest.raises(ZoneError) as info:
        choose_zones(NAMES, IDS, OFFERED, ["t3.small"], 3)
    assert str(info.value) == (
        "az_count: 3 zones needed but only 2 offer t3.small (use1-az1 lacks t3.small; "
        "use1-az2 lacks t3.small); allowed: az_count <= 2 or other instance types"
    )


def test_offerings_are_grouped_by_zone() -> None:
    assert offerings_by_zone(["a", "b", "a"], ["z1", "z1", "z2"]) == {
        "z1": {"a", "b"},
        "z2": {"a"},
    }
