"""What runs for a stage: read from the same stage specs as the Pulumi program
(`infra.config.load_stack_config`), scaled to this machine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from infra.config import STAGES, ConfigError, load_stack_config

# Two cores: more API processes than this only adds context switches, not capacity.
MAX_API_PROCESSES = 4
MAX_SEARCH_PROCESSES = 2
MAX_REPLICAS = 2


@dataclass(frozen=True)
class Topology:
    stage: str
    env: str
    # API processes: behind the ALB stand-in one per worker the ASG would run (desired
    # instances x vCPUs, as the boot script runs one uvicorn worker per vCPU), capped; a
    # single box has no balancer: one process with `api_workers` uvicorn workers.
    api_processes: int
    search_processes: int  # scale-5x: the search ASG behind its own target group
    search_path: str
    search_query_key: str
    load_balancer: bool  # the ALB stand-in (haproxy) in front of the API processes
    redis: bool
    replicas: int
    edge: bool  # moto S3 + the nginx CloudFront stand-in
    api_cpus: str | None  # taskset CPU list for the API, None = anywhere
    db_cpus: str | None
    api_workers: int = 1  # uvicorn --workers per API process (the single box's vCPUs)
    # From the environment profile, as infra renders them: the ALB's idle timeout and the
    # service's keep-alive (MOVIES_HTTP_KEEPALIVE_S), which is longer.
    alb_idle_timeout_s: int = 60
    http_keepalive_s: int = 75

    @property
    def describe(self) -> str:
        parts = [f"{self.api_processes} API process(es)"]
        if self.api_workers > 1:
            parts[0] += f" with {self.api_workers} workers"

        if self.search_processes:
            parts.append(f"{self.search_processes} search process(es)")
        parts.append("PostgreSQL primary")
        if self.replicas:
            parts.append(f"{self.replicas} streaming replica(s)")
        if self.load_balancer:
            parts.append("haproxy ALB")
        if self.redis:
            parts.append("Redis")
        if self.edge:
            parts.append("moto S3 + nginx CloudFront")
        if self.api_cpus or self.db_cpus:
            parts.append(f"pinned: API on CPU {self.api_cpus}, PostgreSQL on CPU {self.db_cpus}")
        return ", ".join(parts)


def _cpu_pair() -> tuple[str, str] | None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return str(cpus[-1]), str(cpus[0])


def fleet_processes(instances: int, vcpus_per_instance: int, cap: int) -> int:
    """API processes for a fleet of `instances`: one per uvicorn worker the fleet would run
    (instances x vCPUs), at most `cap` (two cores: more only adds context switches). The
    fleet's CPU is its tier budget (lab/budgets.py), whatever the process count."""
    return max(1, min(instances * vcpus_per_instance, cap))


def topology(
    stage: str, env: str = "prod", pin: bool = True, fleet: Mapping[str, int] | None = None
) -> Topology:
    """The lab topology of one stage; `env` picks the sizes (prod has >= 2 of everything).
    `fleet`: instances per auto-scaled fleet ("web", "search"; lab_scale.fleet_instances),
    default the spec's desired capacity."""
    fleet = fleet or {}
    if stage not in STAGES:
        raise ConfigError(f"stage: unknown {stage!r}; allowed: {', '.join(STAGES)}")
    config = load_stack_config(env, stage)
    spec = config.stage
    api_cpus = db_cpus = None
    pair = _cpu_pair() if pin else None
    if spec.single_box is not None and pair is not None:
        # On one machine "a box" is a CPU: the single box runs API and PostgreSQL on the
        # same core; split-db gives PostgreSQL a core of its own, as RDS gives it a machine.
        api_cpus = pair[0]
        db_cpus = pair[0] if spec.local_postgres else pair[1]
    workers = 1
    if spec.web is not None:
        per = _vcpus(spec.web.instance_type)
        api = fleet_processes(fleet.get("web", spec.web.desired_capacity), per, MAX_API_PROCESSES)
    else:
        api = 1
        if spec.single_box is not None:
            workers = min(_vcpus(spec.single_box.instance_type), MAX_API_PROCESSES)
    search = 0
    if spec.search is not None:
        per = _vcpus(spec.search.instance_type)
        search = fleet_processes(
            fleet.get("search", spec.search.desired_capacity), per, MAX_SEARCH_PROCESSES
        )
    replicas = min(spec.database.read_replicas, MAX_REPLICAS) if spec.database else 0
    return Topology(
        stage=stage,
        env=env,
        api_processes=api,
        search_processes=search,
        search_path=spec.search.path if spec.search else "/movies",
        search_query_key=spec.search.query_key if spec.search else "q",
        load_balancer=spec.web is not None,
        redis=spec.cache is not None,
        replicas=replicas,
        edge=spec.edge is not None,
        api_cpus=api_cpus,
        db_cpus=db_cpus,
        api_workers=workers,
        alb_idle_timeout_s=config.env.alb_idle_timeout_s,
        http_keepalive_s=config.env.http_keepalive_s,
    )


def _vcpus(kind: str) -> int:
    from infra.catalog import class_size

    return max(1, int(class_size(kind).vcpus))
