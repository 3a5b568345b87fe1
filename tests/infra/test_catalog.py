"""infra.catalog: what a stateful resource holds, for the resources the program declares."""

from __future__ import annotations

from infra import catalog
from infra.review import diff
from tests.plans.fake import plan, res

BUCKET = "aws:s3/bucket:Bucket"


def test_every_planned_bucket_says_what_it_holds(stack_plans) -> None:
    seen = {}
    for doc in stack_plans.values():
        for resource in doc["resources"]:
            if resource["type"] in catalog.BUCKETS:
                seen[resource["name"]] = catalog.holds(resource)
    assert seen["media-bucket"] == "media objects (posters)"
    assert seen["release-artifacts"].startswith("release artifacts")
    assert set(seen) == {"media-bucket", "release-artifacts"}  # a new bucket needs a row


def test_deleting_the_artifacts_bucket_names_release_artifacts_not_posters() -> None:
    artifacts = res(
        BUCKET,
        "release-artifacts",
        {"bucket": "movies-dev-artifacts"},
        parents=("movies:infra:Release",),
    )
    d = diff.diff_plans(plan("edge", [artifacts]), plan("scale-5x", []))
    [line] = diff.loud_lines(d)
    assert "stateful resource removed: release artifacts" in line and "posters" not in line


def test_a_bucket_of_an_unknown_component_falls_back_to_the_type() -> None:
    other = res(BUCKET, "logs", parents=("movies:infra:Observability",))
    assert catalog.holds(other) == "bucket objects"
    assert catalog.holds(res("aws:rds/instance:Instance", "db")) == "PostgreSQL data"
