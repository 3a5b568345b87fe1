"""The Pulumi program: load the stack's stage and environment, then declare that stage."""

from __future__ import annotations

import pulumi

from infra.config import ConfigError, load_stack_settings
from infra.program.components.release import ReleaseError, require_artifact
from infra.program.composer import declare_stage


def main() -> None:
    settings = pulumi.Config("movies")
    try:
        # movies:edgeCutover is read here only: the offline tools build an edge stage's end
        # state (infra/config.py, "the edge cut-over").
        found = {key: settings.get(key) for key in ("environment", "stage", "edgeCutover")}
        config = load_stack_settings({k: v for k, v in found.items() if v is not None})
        region = pulumi.Config("aws").get("region")
        if region != config.env.region:
            raise ConfigError(
                f"aws:region: {region!r} differs from the {config.env.name} profile's region; "
                f"allowed: {config.env.region!r}"
            )
        artifact = require_artifact()
    except (ConfigError, ReleaseError) as exc:
        # RunError: Pulumi prints the one-line message without a Python traceback.
        raise pulumi.RunError(str(exc)) from None
    declare_stage(config, artifact=artifact)


main()
