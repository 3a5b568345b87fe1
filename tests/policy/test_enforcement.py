"""Enforcement comes from the pack's config files, read with the CLI's semantics."""

from __future__ import annotations

import pytest
from pulumi_policy import EnforcementLevel

from policies.offline import analyze, enforcement_levels, load_config
from policies.rules import ALL_POLICIES, DEFAULT_ENFORCEMENT
from tests.policy.crafted import resource

MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY


def test_prod_is_mandatory_and_dev_advisory_for_every_rule() -> None:
    prod = enforcement_levels(load_config("prod"))
    dev = enforcement_levels(load_config("dev"))
    # One exception, by prod's config: the default CloudFront certificate is reported, not
    # blocking, until the profile names a domain (docs/policy.md, accepted findings).
    assert {name for name, level in prod.items() if level != MANDATORY} == {
        "cloudfront-own-certificate"
    }
    assert prod["cloudfront-own-certificate"] == ADVISORY
    assert set(dev.values()) == {ADVISORY}
    assert set(prod) == {policy.name for policy in ALL_POLICIES}


def test_no_config_means_the_pack_default_which_is_mandatory() -> None:
    assert DEFAULT_ENFORCEMENT == MANDATORY
    assert set(enforcement_levels({}).values()) == {MANDATORY}


def test_a_policy_entry_overrides_all() -> None:
    levels = enforcement_levels(
        {"all": "advisory", "db-not-public": {"enforcementLevel": "mandatory"}}
    )
    assert levels["db-not-public"] == MANDATORY
    assert levels["required-tags"] == ADVISORY


def test_disabled_policies_do_not_run() -> None:
    public_db = resource("aws:rds/instance:Instance", "db", {"publiclyAccessible": True})
    levels = enforcement_levels({"all": "disabled", "db-not-public": "advisory"})
    found = analyze([public_db], levels)
    assert {v.policy for v in found} == {"db-not-public"}
    assert all(v.level == ADVISORY and not v.mandatory for v in found)


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"all": "blocking"}, "'blocking' is not one of"),
        ({"no-such-rule": "advisory"}, "unknown policies ['no-such-rule']"),
    ],
)
def test_bad_config_is_one_clear_line(config: dict, needle: str) -> None:
    with pytest.raises(ValueError) as error:
        enforcement_levels(config)
    assert needle in str(error.value) and "\n" not in str(error.value)


def test_unknown_environment_has_no_config() -> None:
    with pytest.raises(ValueError, match="no policy config for environment 'staging'"):
        load_config("staging")


def test_policy_names_are_unique_and_valid_for_the_cli() -> None:
    names = [policy.name for policy in ALL_POLICIES]
    assert len(names) == len(set(names))
    assert all(name != "all" and name.replace("-", "").isalnum() for name in names)
