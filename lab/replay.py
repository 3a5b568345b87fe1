"""`python -m lab move FROM TO`: the move rehearsed under traffic (issue 21 item 2).

FROM is brought up (tier budgets), warmed, and loaded open-loop with the real request mix
at a share of FROM's measured saturation rate (lab/results/saturation.json); dedicated
writers add watchlist entries and read each one back at once (read-your-writes). While the
load runs, the move's timeline (``lab.move.MovePlan``: the diff's steps in the engine's
order, durations from the impacts) is walked on the lab clock: a step starts at its
scheduled time, scaled, and not before the lab effects of its dependencies are done, and
its effect is applied to the running lab as AWS would:

- Auto Scaling group, rolling refresh: per batch, new API processes start with the new
  stage's configuration (the new launch template), are registered in a spare slot of the
  ALB stand-in's backend, pass its health checks, serve for the rest of the warm-up, then
  an old one is deregistered (drained for the scaled deregistration delay) and stopped;
  launch before terminate when min healthy is 100 %, terminate first otherwise;
- Auto Scaling group, create: the fleet's processes boot for the scaled health check grace
  period (the instance boots; nothing answers), then start and are registered; the step
  lasts until they pass the health checks only when the group waits for ELB capacity;
- listener rule (the search rule), create: searches are forwarded to the search target
  group from the moment the step completes, whatever the group holds then (an ALB answers
  503 for a group with no healthy target; haproxy does the same for a backend with none);
- RDS instance, failover or reboot: the server stops for the step's duration and starts
  again on the same data directory (commits are durable, as in RDS); create of a replica:
  a base backup and a streaming replica, used by API processes launched after it;
- ElastiCache replication group: create starts Redis (used by processes launched after);
  a failover stops it for the step's duration and starts it with its dataset (saved just
  before: ElastiCache promotes a replica that has the data);
- steps with no effect on serving (alarms, IAM, security groups, launch templates, target
  groups, DNS records of the replicas, scaling policies) are listed as control-plane only.

Steps the lab cannot map yet (the single box, a new load balancer and the DNS switch to it,
the dump and restore into RDS, the bucket and distribution with the DNS switch to them) are
named in one line and the move is not rehearsed: nothing is skipped silently.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from infra.review import impacts
from infra.tokens import ResourceType
from lab import alb, cgroups, postgres, redis_server, stack
from lab.crash import Writes, lab_users
from lab.engine_order import Action, Timed
from lab.httpclient import TRANSPORT_ERRORS, RawClient
from lab.move import ASG, LISTENER_RULE, MovePlan, MoveStep, boot_s
from lab.procs import LabError, stop
from lab.state import Registry
from lab.stats import TRANSPORT_ERROR, Sample, is_error, percentile

RDS = ResourceType.RDS_INSTANCE
REDIS_GROUP = ResourceType.ELASTICACHE_REPLICATION_GROUP
# What serves requests; every other type is control plane only for the lab (a step of it
# changes no running server). A step of these types the replay has no effect for is unmapped.
SERVING_TYPES = (
    ASG,
    LISTENER_RULE,
    RDS,
    REDIS_GROUP,
    ResourceType.EC2_INSTANCE,
    ResourceType.EC2_EIP,
    ResourceType.LB_LOAD_BALANCER,
    ResourceType.LB_LISTENER,
    ResourceType.CLOUDFRONT_DISTRIBUTION,
    ResourceType.S3_BUCKET,
)
ROLE_OF_ASG = {"web-asg": "web", "search-asg": "search"}
SPARE_SLOTS = 4  # lab.topology.MAX_API_PROCESSES: a whole web fleet can be relaunched
WRITERS = 4
WRITE_PAUSE_S = 0.2
LAUNCH_MARGIN_S = 8.0
# The split-db runbook's dump and restore run at the lab's own speed (they are real work,
# not a scaled duration): 100k movies took 18 lab s on this machine, shared, in the first
# `--all` run, whose load stopped before the move ended. Lab seconds per 1,000 movies.
DUMP_RESTORE_S_PER_1K_MOVIES = 0.4
FLEET_TIER = "fleet"  # the CPU group of web processes launched during the move
ERROR_GAP_S = 1.0  # errors closer than this (lab s) belong to one error window


@dataclass(frozen=True)
class Effect:
    """What the lab does for one timeline entry; ``kind`` "none" = control plane only."""

    timed: Timed
    step: MoveStep
    kind: str  # refresh | launch | stop-fleet | rule | restart-db | new-replica | new-redis
    #            | restart-redis | none | unmapped


EC2 = ResourceType.EC2_INSTANCE
LB = ResourceType.LB_LOAD_BALANCER
LISTENER = ResourceType.LB_LISTENER
CDN = ResourceType.CLOUDFRONT_DISTRIBUTION
S3_BUCKET = ResourceType.S3_BUCKET
EIP = ResourceType.EC2_EIP


def effect_of(t: Timed, ms: MoveStep) -> Effect:
    kind = "none"
    creates = t.action in (Action.CREATE, Action.CREATE_REPLACEMENT)
    deletes = t.action in (Action.DELETE, Action.DELETE_REPLACED)
    if ms.type == ASG and ms.name in ROLE_OF_ASG:
        if t.action == Action.UPDATE and ms.impact == impacts.ROLLING:
            kind = "refresh"
        elif t.action == Action.CREATE:
            kind = "launch"
        elif t.action == Action.UPDATE:
            kind = "none"  # in place (sizes, policies): nothing restarts
        else:
            kind = "unmapped"
    elif ms.type == LISTENER_RULE:
        if ms.name == "alb-search" and t.action == Action.CREATE:
            kind = "rule"
        elif ms.name == "alb-search-warmup" and t.action == Action.CREATE:
            kind = "none"  # forwards only requests with the warm-up header: no client's
        elif ms.name == "alb-metrics" and t.action == Action.CREATE:
            kind = "with-alb"  # the stand-in answers /metrics from its start (alb-lb)
        else:
            kind = "unmapped"
    elif ms.type == LB and creates:
        kind = "new-alb"  # haproxy, its listener included, starts at the balancer's create
    elif ms.type == LISTENER and creates:
        kind = "with-alb"  # the stand-in's frontend: started with the balancer (above)
    elif ms.type == EC2 and t.action == Action.UPDATE and ms.impact == impacts.REBOOT:
        kind = "box-restart"
    elif ms.type == EC2 and deletes:
        kind = "stop-box"
    elif ms.type == EIP and deletes:
        kind = "none"  # the address goes with the box; the load has moved to the ALB first
    elif ms.type == EIP and creates and ms.name.startswith("network-nat-eip"):
        kind = "none"  # the NAT gateways' addresses: outbound only, nothing the lab serves
    elif ms.type == S3_BUCKET and creates:
        kind = "new-bucket"
    elif ms.type == CDN and creates:
        kind = "new-cdn"
    elif ms.type == RDS:
        if t.action == Action.UPDATE and ms.impact in (impacts.FAILOVER, impacts.REBOOT):
            kind = "restart-db"
        elif t.action == Action.UPDATE and ms.impact in (impacts.IN_PLACE, impacts.IGNORED):
            kind = "none"
        elif t.action == Action.CREATE and ms.name.startswith("database-replica-"):
            kind = "new-replica"
        elif t.action == Action.CREATE and ms.name == "database-primary":
            kind = "new-primary"
        else:
            kind = "unmapped"
    elif ms.type == REDIS_GROUP:
        if t.action == Action.CREATE:
            kind = "new-redis"
        elif t.action == Action.UPDATE and ms.impact in (impacts.FAILOVER, impacts.REBOOT):
            kind = "restart-redis"
        elif t.action == Action.UPDATE and ms.impact in (impacts.IN_PLACE, impacts.IGNORED):
            kind = "none"
        else:
            kind = "unmapped"
    elif ms.type in SERVING_TYPES:
        kind = "unmapped"
    return Effect(t, ms, kind)


def effects(plan: MovePlan) -> list[Effect]:
    return [effect_of(t, plan.steps[t.urn]) for t in plan.timeline]


def unmapped(plan: MovePlan) -> list[str]:
    """`action name (type)` of every step the replay has no effect for."""
    return [
        f"{e.timed.action} {e.step.name} ({e.step.type.split(':')[-1]}, {e.step.impact})"
        for e in effects(plan)
        if e.kind == "unmapped"
    ]


@dataclass(frozen=True)
class Settings:
    env: str = "prod"
    load_share: float = 0.5
    time_scale: float = 5.0  # lab seconds per AWS minute
    movies: int = 100_000
    budgets: bool = True
    before_s: float = 10.0
    after_s: float = 10.0
    warmup_s: float = 3.0
    rate: float | None = None  # requests/s; default load_share x FROM's saturation rate
    # Lab seconds of load past the scaled timeline (x 1.3) for the processes' own start-ups,
    # before the after window; the tests' small moves need less than a full rehearsal.
    launch_margin_s: float = LAUNCH_MARGIN_S
    # Instances per auto-scaled fleet ("web", "search"; lab.topology), FROM's and the new
    # fleets the move launches; default the specs' desired capacity.
    fleet: Mapping[str, int] | None = None
    # Poster objects uploaded at an edge bring-up. The rehearsal's load does not follow the
    # poster redirects (no media request), so none of them is read during a move.
    posters: int = stack.POSTER_OBJECTS

    @property
    def k(self) -> float:
        """Lab seconds per AWS second."""
        return self.time_scale / 60.0


def saturation_rps(stage: str, path: Path | None = None) -> float:
    from lab.results import RESULTS

    path = path or RESULTS / "saturation.json"
    data = json.loads(path.read_text())
    try:
        return float(data["stages"][stage]["measured_rps"])
    except KeyError:
        raise LabError(f"{path}: no measured_rps for stage {stage!r}; run the bench") from None


# --- the running lab and what a step does to it -------------------------------------------


@dataclass
class Lab:
    """The running stage and the configuration new API processes are launched with."""

    reg: Registry
    settings: Settings
    new_stage: str
    new_search_group: alb.TargetGroup | None
    config: dict[str, str] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    log: list[tuple[float, str]] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)
    slots_used: dict[str, int] = field(default_factory=dict)
    launched: int = 0
    entry: str = ""  # where DNS points now: the load and the writers follow it
    restarts: dict[str, int] = field(default_factory=dict)  # EC2 name -> stop/start cycles

    def __post_init__(self) -> None:
        # Steps run in threads and each start or stop rewrites the registry: one at a time
        # (two saves at once race on the registry's temporary file).
        for method in ("save", "add", "remove"):
            setattr(self.reg, method, _locked(self.lock, getattr(self.reg, method)))

    @property
    def ep(self) -> dict[str, Any]:
        return self.reg.endpoints

    @property
    def run_dir(self) -> Path:
        return self.reg.path.parent / "run"  # lab.stack.up's run directory

    def admin(self) -> alb.Admin:
        return alb.Admin(int(self.ep["alb_admin_port"]))

    def set_entry(self, url: str, why: str) -> None:
        self.entry = url
        self.note(f"DNS: the load now goes to {url} ({why})")

    def note(self, text: str) -> None:
        self.log.append((round(time.perf_counter() - self.t0, 2), text))

    def enter(self, tier: str):
        cg = self.ep.get("cgroups")
        if not cg or tier not in cg.get("tiers", {}):
            return None
        groups = cgroups.LabGroups.for_lab(self.reg.path.parent)
        return lambda argv, user: groups.enter_argv(tier, argv, user)

    def group(self, role: str) -> alb.TargetGroup:
        if role == "search" and self.new_search_group is not None:
            return self.new_search_group.scaled(self.ep["alb_time_scale"])
        return alb.TargetGroup(**self.ep["alb_target_groups"][role])

    def launch(self, role: str) -> tuple[str, str, int]:
        """A new API process with the configuration of now, in a free slot: (registry name,
        slot, port). Registered in the ALB stand-in once it answers."""
        with self.lock:
            self.launched += 1
            name = f"{role}-new{self.launched}"
            used = self.slots_used.get(role, 0) + 1
            if used > SPARE_SLOTS:
                raise LabError(f"{role}: no spare ALB slot left ({SPARE_SLOTS})")
            self.slots_used[role] = used
            env = dict(self.config)
        tier = "search" if role == "search" else FLEET_TIER
        port = stack.start_api(self.reg, name, env, None, self.run_dir, self.enter(tier))
        slot = alb.spare_name(role, used)
        self.admin().register(role, slot, port)
        self.note(f"{name} on port {port} registered as {role}/{slot}")
        return name, slot, port

    def wait_up(self, role: str, slot: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.admin().status(role, slot) not in ("UP", "DRAIN") and not (
            self.admin().status(role, slot).startswith("UP")
        ):
            if time.monotonic() > deadline:
                raise LabError(f"{role}/{slot} did not pass its health checks in {timeout:.0f}s")
            time.sleep(0.05)

    def stop_process(self, name: str) -> None:
        with self.lock:
            record = self.reg.get(name)
        stop(record)
        with self.lock:
            self.reg.remove(name)


def _locked(lock: threading.RLock, fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kw: Any) -> Any:
        with lock:
            return fn(*args, **kw)

    return call


def refresh(lab: Lab, role: str, ms_refresh: impacts.Refresh | None) -> None:
    """An instance refresh of the `role` fleet (see the module docstring)."""
    k = lab.settings.k
    old = [(n, n) for n in _servers(lab, role)]
    batches = ms_refresh.batches if ms_refresh else 1
    warm = (ms_refresh.warmup_s if ms_refresh else 0) * k
    launch_first = ms_refresh is None or ms_refresh.full_capacity
    per = math.ceil(len(old) / max(1, batches))
    delay = lab.group(role).deregistration_delay_s
    todo = list(old)
    while todo:
        batch, todo = todo[:per], todo[per:]
        if not launch_first:
            _retire(lab, role, batch, delay)
        started = time.perf_counter()
        new = _in_parallel([lambda: lab.launch(role) for _ in batch])
        for _name, slot, _port in new:
            lab.wait_up(role, slot)
        time.sleep(max(0.0, warm - (time.perf_counter() - started)))
        if launch_first:
            _retire(lab, role, batch, delay)


def _in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    """Instances of one batch launch together (an ASG launches a batch at once)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, len(calls))) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


def _retire(lab: Lab, role: str, batch: list[tuple[str, str]], delay: float) -> None:
    admin = lab.admin()
    threads = [
        threading.Thread(target=admin.deregister, args=(role, slot, delay)) for _n, slot in batch
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, slot in batch:
        lab.stop_process(name)
        lab.note(f"{role}/{slot} drained ({delay:.2f}s) and {name} stopped")


def _servers(lab: Lab, role: str) -> list[str]:
    """The backend's serving targets: the original processes still registered."""
    prefix = "api" if role == "web" else "search"
    names = {p.name for p in lab.reg.processes}
    return [
        r["svname"]
        for r in lab.admin().stats()
        if r.get("pxname") == role and r["svname"] in names and r["svname"].startswith(prefix)
    ]


def launch_fleet(lab: Lab, role: str, inputs: Mapping[str, Any], waits: bool) -> None:
    """A new group: its instances boot (the scaled grace period), then serve."""
    from lab.topology import topology

    topo = topology(lab.new_stage, lab.settings.env, pin=False, fleet=lab.settings.fleet)
    count = topo.api_processes if role == "web" else topo.search_processes

    def boot_and_serve() -> None:
        time.sleep(boot_s(inputs) * lab.settings.k)
        _in_parallel([lambda: lab.launch(role) for _ in range(count)])

    if not waits:
        threading.Thread(target=boot_and_serve, daemon=True).start()
        return
    boot_and_serve()
    # wait_for_elb_capacity: the create returns once the targets pass the health checks.
    deadline = time.monotonic() + 60
    while len(lab.admin().up_servers(role)) < count:
        if time.monotonic() > deadline:
            raise LabError(f"{role}: {count} healthy target(s) not reached in 60 s")
        time.sleep(0.05)


def restart_db(lab: Lab, name: str, seconds: float) -> None:
    """A reboot / failover: the server is away for `seconds` (lab), same data directory."""
    if name == "database-primary":
        proc, port, tier = "pg-primary", lab.ep["primary_port"], "db-primary"
    else:
        i = int(name.rsplit("-", 1)[1])
        if i > len(lab.ep["replica_ports"]):
            raise LabError(f"{name}: the lab runs {len(lab.ep['replica_ports'])} replica(s)")
        proc, port, tier = f"pg-replica{i}", lab.ep["replica_ports"][i - 1], f"db-replica{i}"
    started = time.perf_counter()
    lab.stop_process(proc)
    time.sleep(max(0.0, seconds - (time.perf_counter() - started)))
    postgres.start(
        lab.reg, proc, lab.run_dir / proc, port, lab.run_dir / f"{proc}.log", None, lab.enter(tier)
    )


def new_replica(lab: Lab, name: str) -> None:
    i = int(name.rsplit("-", 1)[1])
    proc = f"pg-replica{i}"
    datadir = lab.run_dir / proc
    postgres.basebackup(lab.ep["primary_port"], datadir)
    from lab.procs import free_port

    port = free_port()
    postgres.start(lab.reg, proc, datadir, port, lab.run_dir / f"{proc}.log", None, None)
    with lab.lock:
        lab.ep.setdefault("replica_ports", []).append(port)
        urls = [u for u in lab.config.get("MOVIES_DATABASE_READER_URLS", "").split(",") if u]
        lab.config["MOVIES_DATABASE_READER_URLS"] = ",".join([*urls, postgres.url(port)])


def new_redis(lab: Lab) -> None:
    from lab.procs import free_port

    port = free_port()
    redis_server.start(lab.reg, "redis", port, lab.run_dir / "redis", None, lab.enter("redis"))
    with lab.lock:
        lab.ep["redis_port"] = port
        lab.config["MOVIES_REDIS_URL"] = redis_server.url(port)


def restart_redis(lab: Lab, seconds: float) -> None:
    """A failover keeps the data (ElastiCache promotes a replica that has it): the lab
    saves the dataset, stops Redis for the step's duration and starts it with the dataset."""
    started = time.perf_counter()
    port, workdir = lab.ep["redis_port"], lab.run_dir / "redis"
    saved = lab.run_dir / "redis-failover.rdb"
    keys = redis_server.snapshot(port, workdir, saved)
    lab.stop_process("redis")
    time.sleep(max(0.0, seconds - (time.perf_counter() - started)))
    redis_server.start(lab.reg, "redis", port, workdir, saved, lab.enter("redis"))
    lab.note(f"redis restarted with its {keys} keys")


def _box_api(lab: Lab) -> str:
    """The box's API process: the single box (and split-db's box) is api1, the entry."""
    return "api1"


def new_primary(lab: Lab) -> None:
    """An RDS primary's create: an empty PostgreSQL server with the database created (the
    runbook's restore fills it)."""
    from lab.procs import free_port

    datadir = lab.run_dir / "pg-rds"
    postgres.initdb(datadir)
    port = free_port()
    postgres.start(
        lab.reg, "pg-rds", datadir, port, lab.run_dir / "pg-rds.log", None,
        lab.enter("db-primary"),
    )  # fmt: skip
    postgres.create_database(port)
    with lab.lock:
        lab.ep["rds_port"] = port
    lab.note(f"RDS primary stand-in (empty) on port {port}")


def box_restart(lab: Lab, name: str) -> None:
    """The provider's stop/start of the box, once per attribute that needs one
    (``Impact.restarts``). Everything on the box stops and starts again: its PostgreSQL,
    and its API if it runs (the split-db runbook has disabled it before the `up`, and the
    old user data keeps it so after the restart: cloud-init runs once per instance)."""
    cycles = max(1, lab.restarts.get(name, 1))
    for i in range(cycles):
        api_up = any(p.name == _box_api(lab) for p in lab.reg.processes)
        if api_up:
            lab.stop_process(_box_api(lab))
        lab.stop_process("pg-primary")
        postgres.start(
            lab.reg, "pg-primary", lab.run_dir / "pg-primary", lab.ep["primary_port"],
            lab.run_dir / "pg-primary.log", None, lab.enter("box"),
        )  # fmt: skip
        if api_up:
            port = stack.start_api(lab.reg, _box_api(lab), dict(lab.config), None, lab.run_dir,
                                   lab.enter("box"))  # fmt: skip
            lab.set_entry(f"http://127.0.0.1:{port}", "the box's Elastic IP: same address")
        lab.note(f"box stop/start {i + 1} of {cycles} (API {'restarted' if api_up else 'off'})")


def new_alb(lab: Lab, new_plan: Mapping[str, Any]) -> None:
    """The ALB's create: the haproxy stand-in starts with an empty web target group (spare
    slots the new fleet's instances fill as they register)."""
    from lab.procs import free_port
    from lab.topology import topology

    k = lab.settings.k
    topo = topology(lab.new_stage, lab.settings.env, pin=False)
    spec = alb.new_spec(
        free_port(), [], alb.target_groups_from_plan(new_plan), (), topo.search_path,
        topo.search_query_key, idle_timeout_s=topo.alb_idle_timeout_s, time_scale=k,
    )  # fmt: skip
    spec = replace(spec, spare_slots=SPARE_SLOTS)
    prefix = lab.run_dir / "alb"
    alb.start(lab.reg, "alb", prefix, spec, enter=lab.enter("alb"))
    with lab.lock:
        lab.ep.update(
            alb_port=spec.port,
            alb_prefix=str(prefix),
            alb_admin_port=spec.admin_port,
            alb_time_scale=k,
            alb_target_groups={"web": asdict(spec.web.group)},
        )
    lab.note(f"ALB stand-in on port {spec.port}, no target yet")


def stop_box(lab: Lab) -> None:
    """The box's delete: its API stops (requests still in flight on it fail)."""
    lab.stop_process(_box_api(lab))
    lab.note("the box is deleted: its API stopped")


def new_bucket(lab: Lab) -> None:
    """The media bucket's create: the S3 stand-in (moto), empty as a new bucket is; new
    API processes get it in their configuration."""
    import boto3

    from lab import s3
    from lab.procs import free_port

    port = free_port()
    s3.start(lab.reg, "s3", port, lab.run_dir / "s3", enter=lab.enter("edge"))
    boto3.client(
        "s3", endpoint_url=s3.endpoint(port), region_name="us-east-1",
        aws_access_key_id="lab", aws_secret_access_key="lab",
    ).create_bucket(Bucket=stack.BUCKET)  # fmt: skip
    with lab.lock:
        lab.ep["s3_port"] = port
        lab.config["MOVIES_MEDIA_BUCKET"] = stack.BUCKET
        lab.config["MOVIES_S3_ENDPOINT_URL"] = s3.endpoint(port)
    lab.note(f"media bucket stand-in on port {port}")


def new_cdn(lab: Lab) -> None:
    """The distribution's create: the nginx CDN stand-in in front of the ALB and the bucket
    (the distribution's origins); new API processes point posters at it."""
    from lab import nginx
    from lab.procs import free_port

    deadline = time.monotonic() + 60
    while "s3_port" not in lab.ep:  # its origin: the bucket's create (its dependency)
        if time.monotonic() > deadline:
            raise LabError("the distribution's bucket origin never started")
        time.sleep(0.05)
    port = free_port()
    prefix = lab.run_dir / "cdn"
    conf = nginx.cdn_conf(prefix, port, lab.ep["alb_port"], lab.ep["s3_port"], stack.BUCKET)
    nginx.start(lab.reg, "cdn", prefix, port, conf, enter=lab.enter("edge"))
    with lab.lock:
        lab.ep["cdn_port"] = port
        lab.config["MOVIES_CDN_BASE_URL"] = f"http://127.0.0.1:{port}/media"
    lab.note(f"CDN stand-in on port {port}")


def apply(lab: Lab, e: Effect, new_plan: Mapping[str, Any]) -> None:
    """The lab effect of one timeline entry; returns when the step is done."""
    ms, k = e.step, lab.settings.k
    seconds = (e.timed.end_s - e.timed.start_s) * k
    if e.kind == "refresh":
        refresh(lab, ROLE_OF_ASG[ms.name], _refresh_of(ms))
    elif e.kind == "launch":
        inputs = _inputs(new_plan, e.timed.urn)
        waits = bool(inputs.get("waitForElbCapacity") or inputs.get("minElbCapacity"))
        launch_fleet(lab, ROLE_OF_ASG[ms.name], inputs, waits)
    elif e.kind == "rule":
        time.sleep(seconds)
        lab.admin().set_search_rule(Path(lab.ep["alb_prefix"]), True)
    elif e.kind == "restart-db":
        restart_db(lab, ms.name, seconds)
    elif e.kind == "new-replica":
        new_replica(lab, ms.name)
    elif e.kind == "new-redis":
        new_redis(lab)
    elif e.kind == "restart-redis":
        restart_redis(lab, seconds)
    elif e.kind == "new-primary":
        new_primary(lab)
    elif e.kind == "box-restart":
        box_restart(lab, ms.name)
    elif e.kind == "new-alb":
        new_alb(lab, new_plan)
    elif e.kind == "stop-box":
        stop_box(lab)
    elif e.kind == "new-bucket":
        new_bucket(lab)
    elif e.kind == "new-cdn":
        new_cdn(lab)
    else:
        time.sleep(seconds)


REFRESHES: dict[str, impacts.Refresh | None] = {}


def _refresh_of(ms: MoveStep) -> impacts.Refresh | None:
    return REFRESHES.get(ms.name)


def _inputs(plan: Mapping[str, Any], urn: str) -> Mapping[str, Any]:
    for r in plan["resources"]:
        if r["urn"] == urn:
            return r.get("inputs") or {}
    raise KeyError(f"{urn} not in the new plan")


def walk(
    lab: Lab,
    plan: MovePlan,
    new_plan: Mapping[str, Any],
    before_deletes: Callable[[Lab], None] | None = None,
) -> dict[str, Any]:
    """The timeline on the lab clock; each step after its dependencies' lab effects.

    ``before_deletes``: a runbook's human step between the program's creates and updates
    and the deletes (the DNS switch to the ALB before the box goes)."""
    es = effects(plan)
    done: dict[tuple[str, str], threading.Event] = {
        (e.timed.urn, e.timed.action): threading.Event() for e in es
    }
    by_urn: dict[str, list[threading.Event]] = {}
    for e in es:
        if e.timed.action not in (Action.DELETE, Action.DELETE_REPLACED):
            by_urn.setdefault(e.timed.urn, []).append(done[(e.timed.urn, e.timed.action)])
    program = [ev for evs in by_urn.values() for ev in evs]
    errors: list[str] = []
    start = time.perf_counter()
    marks: list[dict[str, Any]] = []
    human_done = threading.Event()

    def human() -> None:
        try:
            for ev in program:
                ev.wait()
            if before_deletes is not None:
                began = time.perf_counter() - start
                before_deletes(lab)
                marks.append(
                    {
                        "step": "runbook: before the deletes",
                        "effect": "human",
                        "lab_s": [round(began, 2), round(time.perf_counter() - start, 2)],
                    }
                )
        except Exception as exc:
            errors.append(f"runbook step before the deletes: {exc}")
        finally:
            human_done.set()

    def run(e: Effect) -> None:
        try:
            wait_for = [ev for d in _deps_closure(plan, e.timed.urn) for ev in by_urn.get(d, [])]
            if e.timed.action in (Action.DELETE, Action.DELETE_REPLACED):
                wait_for = [*program, human_done]
            for ev in wait_for:
                ev.wait()
            at = e.timed.start_s * lab.settings.k
            time.sleep(max(0.0, start + at - time.perf_counter()))
            began = time.perf_counter() - start
            apply(lab, e, new_plan)
            if e.kind != "none":
                marks.append(
                    {
                        "step": f"{e.timed.action} {e.step.name}",
                        "effect": e.kind,
                        "aws_s": [e.timed.start_s, e.timed.end_s],
                        "lab_s": [round(began, 2), round(time.perf_counter() - start, 2)],
                    }
                )
        except Exception as exc:  # reported with the move, never hidden
            errors.append(f"{e.timed.action} {e.step.name}: {exc}")
        finally:
            done[(e.timed.urn, e.timed.action)].set()

    threads = [threading.Thread(target=run, args=(e,), daemon=True) for e in es]
    threads.append(threading.Thread(target=human, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "lab_seconds": round(time.perf_counter() - start, 2),
        "steps": sorted(marks, key=lambda m: m["lab_s"][0]),
        "step_errors": errors,
    }


def _deps_closure(plan: MovePlan, urn: str) -> set[str]:
    """Every resource `urn` waits for, through unchanged ones too."""
    seen: set[str] = set()
    todo = list(plan.new_deps.get(urn, ()))
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(plan.new_deps.get(d, ()))
    return seen


# --- the runbooks' human steps (docs/infra.md), done as they say ---------------------------

EDGE_DNS_TTL_AWS_S = 60.0  # the old record's TTL the edge runbook waits out (an assumption:
#                            the TTL is the operator's; 60 s is a common one)


@dataclass(frozen=True)
class Runbook:
    """A move's human steps around its `up`(s); ``phases``: the stack settings it applies
    one after another (the edge cut-over's open then closed), None = one `up`."""

    before_up: Callable[[Lab], None] | None = None
    before_deletes: Callable[[Lab], None] | None = None
    between_phases: Callable[[Lab], None] | None = None
    after_up: Callable[[Lab], None] | None = None
    phases: tuple[str, ...] | None = None


def _pg(tool: str, port: int, *args: str) -> str:
    from lab.procs import run

    return run(
        [str(postgres.pg_bin() / tool), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
         *args],
        timeout=600,
    )  # fmt: skip


def split_db_before_up(lab: Lab) -> None:
    """Runbook steps 1-2: stop the API (no writes from here on: the load is refused), then
    a consistent dump of the box's database."""
    lab.stop_process(_box_api(lab))
    lab.note("runbook 1: API stopped on the box (disabled across the restart)")
    started = time.perf_counter()
    _pg("pg_dump", lab.ep["primary_port"], "-Fc", "-d", postgres.DB_NAME, "-f",
        str(lab.run_dir / "movies.dump"))  # fmt: skip
    lab.note(f"runbook 2: pg_dump -Fc in {time.perf_counter() - started:.1f}s")


def split_db_after_up(lab: Lab) -> None:
    """Runbook steps 4-6: restore into RDS, compare the counts, restart the box with the
    new settings (the API now on RDS), retire the local PostgreSQL."""
    started = time.perf_counter()
    rds, box = lab.ep["rds_port"], lab.ep["primary_port"]
    _pg("pg_restore", rds, "--no-owner", "--no-privileges", "--exit-on-error", "-d",
        postgres.DB_NAME, str(lab.run_dir / "movies.dump"))  # fmt: skip
    counts = [postgres.psql(p, "SELECT count(*) FROM watchlist").strip() for p in (box, rds)]
    if counts[0] != counts[1]:
        raise LabError(f"restore: watchlist rows box {counts[0]} vs RDS {counts[1]}")
    lab.note(f"runbook 4: pg_restore in {time.perf_counter() - started:.1f}s, counts equal")
    with lab.lock:
        lab.config["MOVIES_DATABASE_URL"] = postgres.url(rds)
    # Step 5, `cloud-init clean && reboot`: the box boots with the new user data.
    port = stack.start_api(lab.reg, _box_api(lab), dict(lab.config), None, lab.run_dir,
                           lab.enter("box"))  # fmt: skip
    lab.set_entry(f"http://127.0.0.1:{port}", "the box's Elastic IP: same address")
    lab.note("runbook 5: the box rebooted with RDS settings; API serving")
    lab.stop_process("pg-primary")
    with lab.lock:
        lab.ep["primary_port"] = rds
    lab.note("runbook 6: the local PostgreSQL disabled")


def dns_to_alb(lab: Lab) -> None:
    """ "Point DNS at the ALB first" (before the box is deleted); the load follows at once."""
    lab.set_entry(f"http://127.0.0.1:{lab.ep['alb_port']}", "runbook: DNS to the ALB")


def dns_to_cdn(lab: Lab) -> None:
    """Edge runbook step 2: DNS to the distribution, then wait out the old record's TTL."""
    lab.set_entry(f"http://127.0.0.1:{lab.ep['cdn_port']}", "runbook: DNS to the distribution")
    time.sleep(EDGE_DNS_TTL_AWS_S * lab.settings.k)
    lab.note(f"waited the old record's TTL ({EDGE_DNS_TTL_AWS_S:.0f} AWS s)")


RUNBOOKS: dict[str, Runbook] = {
    "single-box -> split-db": Runbook(before_up=split_db_before_up, after_up=split_db_after_up),
    "split-db -> load-balanced": Runbook(before_deletes=dns_to_alb),
    "read-replicas -> edge": Runbook(between_phases=dns_to_cdn, phases=("open", "closed")),
}


# --- writers: acknowledged writes and read-your-writes -------------------------------------


@dataclass
class WriteLog:
    writes: Writes = field(default_factory=Writes)
    acked_at: list[float] = field(default_factory=list)  # seconds since the load's t0
    stale_reads: list[float] = field(default_factory=list)
    reads: int = 0
    # How each failed write was answered: "503 Retry-After" is the clean refusal the
    # targets ask for; "503" (without the header), "5xx", "transport" are not.
    failed_as: dict[str, int] = field(default_factory=dict)

    def fail(self, how: str) -> None:
        self.writes.failed += 1
        self.failed_as[how] = self.failed_as.get(how, 0) + 1


async def _writer(entry: Callable[[], str], user: tuple[int, str], first: int, movies: int,
                  stop: threading.Event, t0: float, log: WriteLog) -> None:  # fmt: skip
    user_id, key = user
    client = RawClient(timeout=10)
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    movie = first
    try:
        while not stop.is_set():
            body = json.dumps({"movie_id": movie}).encode()
            try:
                resp = await client.request("POST", f"{entry()}/users/me/watchlist", headers, body)
            except TRANSPORT_ERRORS:
                log.fail("transport")
                await asyncio.sleep(WRITE_PAUSE_S)
                continue
            if resp.status in (200, 201):
                log.writes.acknowledged.add((user_id, movie))
                log.writes.responses += 1
                log.acked_at.append(time.perf_counter() - t0)
                try:
                    got = await client.request("GET", f"{entry()}/users/me/watchlist", headers, b"")
                    log.reads += 1
                    items = json.loads(got.body).get("items", []) if got.status == 200 else None
                    if items is not None and movie not in {i["movie"]["id"] for i in items}:
                        log.stale_reads.append(time.perf_counter() - t0)
                except (*TRANSPORT_ERRORS, ValueError):
                    pass
            elif resp.status == 503:
                log.fail("503 Retry-After" if resp.headers.get("retry-after") else "503")
            elif resp.status >= 500:
                log.fail(str(resp.status))
            else:
                log.writes.other[resp.status] = log.writes.other.get(resp.status, 0) + 1
            movie = movie + 97 if movie + 97 <= movies else (movie % 97) + 1
            await asyncio.sleep(WRITE_PAUSE_S)
    finally:
        await client.close()


def writers_thread(
    entry: Callable[[], str], movies: int, t0: float, log: WriteLog, stop: threading.Event
):
    users = lab_users(movies, WRITERS)

    async def main() -> None:
        await asyncio.gather(
            *(_writer(entry, u, 1 + i * 13, movies, stop, t0, log) for i, u in enumerate(users))
        )

    t = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    t.start()
    return t


def missing_writes(port: int, acknowledged: set[tuple[int, int]]) -> int:
    """Acknowledged (user, movie) pairs not on the primary."""
    if not acknowledged:
        return 0
    users = sorted({u for u, _ in acknowledged})
    rows = postgres.psql(
        port,
        "SELECT user_id || ',' || movie_id FROM watchlist WHERE user_id IN ("
        + ",".join(str(u) for u in users)
        + ")",
    )
    present = {tuple(int(x) for x in line.split(",")) for line in rows.split() if "," in line}
    return len(acknowledged - present)


# --- figures ---------------------------------------------------------------------------------


def window(samples: list[Sample], start: float, end: float) -> dict[str, Any]:
    s = [x for x in samples if start <= x.start < end and x.kind != "media"]
    ok = [x.latency * 1000 for x in s if not is_error(x.status)]
    by_status: dict[str, int] = {}
    by_route: dict[str, int] = {}
    for x in s:
        if is_error(x.status):
            st = "transport" if x.status == TRANSPORT_ERROR else str(x.status)
            by_status[st] = by_status.get(st, 0) + 1
            by_route[x.kind] = by_route.get(x.kind, 0) + 1
    return {
        "seconds": round(end - start, 2),
        "offered": len(s),
        "answered": len(ok),
        "errors": len(s) - len(ok),
        "errors_by_status": by_status,
        "errors_by_route": by_route,
        "p50_ms": round(percentile(ok, 50) * 1, 2) if ok else None,
        "p99_ms": round(percentile(ok, 99) * 1, 2) if ok else None,
    }


def errors_by_second(samples: list[Sample], start: float) -> dict[str, dict[str, int]]:
    """Errors per lab second after `start` (the move's start), by route and status: when
    in the move each error happened, to lay beside the steps' lab times."""
    out: dict[str, dict[str, int]] = {}
    for x in samples:
        if x.kind == "media" or not is_error(x.status) or x.start < start:
            continue
        st = "transport" if x.status == TRANSPORT_ERROR else str(x.status)
        cell = out.setdefault(str(int(x.start - start)), {})
        cell[f"{x.kind} {st}"] = cell.get(f"{x.kind} {st}", 0) + 1
    return out


def longest_error_window(samples: list[Sample], gap: float = ERROR_GAP_S) -> float:
    """Lab seconds of the longest run of errors (errors less than `gap` apart)."""
    times = sorted(x.start for x in samples if is_error(x.status))
    best = 0.0
    first = last = None
    for t in times:
        if last is None or t - last > gap:
            first = t
        last = t
        best = max(best, last - first)
    return best


# --- the rehearsal ---------------------------------------------------------------------------


def rehearse(
    old_stage: str,
    new_stage: str,
    old_plan: Mapping[str, Any],
    new_plan: Mapping[str, Any],
    settings: Settings,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """One move under load; the lab must be down. Returns the moves.json entry."""
    from infra.review.diff import diff_plans
    from lab.budgets import budget_map
    from lab.move import move_plan
    from lab.topology import topology

    env = settings.env
    move = f"{old_stage} -> {new_stage}"
    book = RUNBOOKS.get(move, Runbook())
    phases = phases_of(old_stage, new_stage, old_plan, new_plan, book, env)
    plan = move_plan(old_plan, new_plan, f"{env}/{old_stage}", f"{env}/{new_stage}")
    entry: dict[str, Any] = {
        "move": move,
        "env": env,
        "time_scale_lab_s_per_aws_min": settings.time_scale,
        "summary": plan.summary,
    }
    if book.phases:
        entry["phases"] = [f"movies:edgeCutover {p}" for p in book.phases]
    missing = [m for mp, _np in phases for m in unmapped(mp)]
    if missing:
        entry["not_rehearsed"] = "unmapped steps: " + "; ".join(missing)
        say(f"{old_stage} -> {new_stage}: not rehearsed; {entry['not_rehearsed']}")
        return entry
    diff = diff_plans(dict(old_plan), dict(new_plan), allow_all=True)
    REFRESHES.clear()
    REFRESHES.update({e.name: e.impact.refresh for e in diff.entries if e.impact is not None})
    restarts = {e.name: e.impact.restarts for e in diff.entries if e.impact is not None}
    k = settings.k
    new_groups = alb.target_groups_from_plan(new_plan)
    new_topo = topology(new_stage, env, pin=False)

    def hook(spec: alb.AlbSpec) -> alb.AlbSpec:
        search = spec.search
        if search is None and "search" in new_groups:
            search = alb.Backend(new_groups["search"].scaled(k), ())
        return replace(
            spec,
            search=search,
            search_path=new_topo.search_path if search is not None else spec.search_path,
            search_query_key=new_topo.search_query_key,
            spare_slots=SPARE_SLOTS,
            search_rule_switch=spec.search is None and search is not None,
        )

    extra = None
    if settings.budgets:
        extra = budget_map(new_stage, env, fleet=settings.fleet)
        # New instances bring their own CPU (in AWS they are other machines): the web
        # processes a move launches run in their own group, with the new stage's web
        # budget, not in the group of the fleet (or box) they replace. Without it the
        # first `--all` run starved split-db's box while the new fleet started in its
        # group (491 transport errors, p99 8.5 s).
        if "app" in extra:
            extra[FLEET_TIER] = extra["app"]
    reg = stack.up(
        old_stage,
        settings.movies,
        env,
        pin_cpus=False,
        say=say,
        budgets=settings.budgets,
        alb_time_scale=k,
        alb_hook=hook,
        extra_tiers=extra,
        # FROM's groups from the plan in hand (the stage's plan, as `lab move` loads it):
        # the program need not run under the mocks again for them.
        target_groups=alb.target_groups_from_plan(old_plan),
        fleet=dict(settings.fleet) if settings.fleet else None,
        posters=settings.posters,
    )
    try:
        return _under_load(reg, phases, book, restarts, new_stage, new_groups, settings, entry, say)
    finally:
        stack.down(say=lambda _m: None)


def phases_of(old_stage, new_stage, old_plan, new_plan, book, env):
    """[(MovePlan, the plan it reaches)]: one `up`, or the runbook's stack settings in turn
    (the edge cut-over: the stage with movies:edgeCutover open, then closed)."""
    from infra.plans.build import build_plan
    from lab.move import move_plan

    if not book.phases:
        return [(move_plan(old_plan, new_plan, old_stage, new_stage), new_plan)]
    out, prev, prev_label = [], old_plan, old_stage
    for i, phase in enumerate(book.phases):
        last = i == len(book.phases) - 1
        target = new_plan if last else build_plan(env, new_stage, edge_cutover=phase)
        label = f"{new_stage} ({phase})"
        out.append((move_plan(prev, target, prev_label, label), target))
        prev, prev_label = target, label
    return out


def _under_load(reg, phases, book, restarts, new_stage, new_groups, settings, entry, say):
    from lab.load import HotSet, Mix, RequestMaker, preload
    from lab.openloop import OpenLoopConfig, run

    ep = reg.endpoints
    lab = Lab(reg, settings, new_stage, new_groups.get("search"))
    lab.entry = ep["entry"]
    lab.restarts = dict(restarts)
    lab.config = dict(ep["service_env"])
    lab.config["MOVIES_STAGE"] = new_stage
    readers, writer_keys = stack.load_keys(settings.movies)
    maker = RequestMaker(Mix.from_workload(), settings.movies, readers, writer_keys)
    warm = asyncio.run(preload(ep["entry"], HotSet.of(maker, 0.8).paths))
    rate = settings.rate or settings.load_share * saturation_rps(reg.stage or "")
    expected = sum(max((t.end_s for t in mp.timeline), default=0.0) for mp, _ in phases)
    expected *= settings.k
    if book.between_phases is not None:
        expected += EDGE_DNS_TTL_AWS_S * settings.k
    if book.before_up is not None or book.after_up is not None:
        expected += 5.0 + DUMP_RESTORE_S_PER_1K_MOVIES * settings.movies / 1000
    # Lab overhead on top of the scaled timeline: processes start in a few seconds each.
    duration = settings.before_s + expected * 1.3 + settings.launch_margin_s + settings.after_s
    say(
        f"{entry['move']}: {rate:.0f} rps for {settings.warmup_s + duration:.0f}s; move at "
        f"{settings.before_s:.0f}s (timeline {expected:.1f} lab s at "
        f"{settings.time_scale:g} lab s per AWS minute)"
    )
    marks: dict[str, Any] = {}
    log = WriteLog()
    stop_writers = threading.Event()

    def do_move() -> None:
        marks["start"] = time.perf_counter()
        lab.t0 = marks["start"]
        steps: list[dict[str, Any]] = []
        errors: list[str] = []

        def human(name: str, fn: Callable[[Lab], None] | None) -> None:
            if fn is None:
                return
            began = time.perf_counter() - marks["start"]
            try:
                fn(lab)
            except Exception as exc:  # reported with the move, never hidden
                errors.append(f"runbook {name}: {exc}")
            steps.append({"step": f"runbook: {name}", "effect": "human",
                          "lab_s": [round(began, 2),
                                    round(time.perf_counter() - marks["start"], 2)]})  # fmt: skip

        human("before the up", book.before_up)
        for i, (mp, np_) in enumerate(phases):
            if i:
                human("between the phases", book.between_phases)
            offset = time.perf_counter() - marks["start"]
            w = walk(lab, mp, np_, book.before_deletes)
            for m in w["steps"]:
                m["lab_s"] = [round(x + offset, 2) for x in m["lab_s"]]
                if len(phases) > 1:
                    m["phase"] = book.phases[i] if book.phases else i
            steps.extend(w["steps"])
            errors.extend(w["step_errors"])
        human("after the up", book.after_up)
        marks["walk"] = {"steps": steps, "step_errors": errors}
        marks["end"] = time.perf_counter()

    cfg = OpenLoopConfig(
        ep["entry"], rate, duration, warmup=settings.warmup_s, timeout=10.0,
        resolve=lambda: lab.entry,
    )  # fmt: skip
    t_load = time.perf_counter()
    wt = writers_thread(lambda: lab.entry, settings.movies, t_load, log, stop_writers)
    result = run(cfg, maker, [(settings.warmup_s + settings.before_s, do_move)])
    stop_writers.set()
    wt.join(15)
    move_s = marks["end"] - marks["start"]
    b, d = settings.before_s, settings.before_s + move_s
    samples = result.samples
    lost = missing_writes(ep["primary_port"], log.writes.acknowledged)
    la = os.getloadavg()
    entry.update(
        {
            "load": {
                "share_of_saturation": settings.load_share if settings.rate is None else None,
                "rps": round(rate, 1),
                "movies": settings.movies,
                "budgets": settings.budgets,
                "preload": warm.as_dict(),
            },
            "machine_loadavg": [round(x, 2) for x in la],
            "move_lab_s": round(move_s, 2),
            "before": window(samples, 0, b),
            "during": window(samples, b, d),
            "after": window(samples, d, duration),
            "longest_error_window_lab_s": round(longest_error_window(samples), 2),
            "errors_by_move_second": errors_by_second(samples, b),
            "longest_error_window_aws_s": round(longest_error_window(samples) / settings.k, 1),
            "writes": {
                "acknowledged": len(log.writes.acknowledged),
                "failed": log.writes.failed,
                "failed_as": log.failed_as,
                "other": log.writes.other,
                "lost": lost,
                "read_backs": log.reads,
                "stale_reads": len(log.stale_reads),
            },
            "steps": marks["walk"]["steps"],
            "step_errors": marks["walk"]["step_errors"],
            "log": lab.log,
        }
    )
    if move_s > duration - settings.before_s:
        entry["note"] = "the move outlasted the load: the after window is empty"
    return entry


def headline(e: Mapping[str, Any]) -> str:
    if "not_rehearsed" in e:
        return f"{e['move']}: not rehearsed ({e['not_rehearsed']})"
    d, w = e["during"], e["writes"]
    return (
        f"{e['move']} at {e['load']['rps']} rps, {e['time_scale_lab_s_per_aws_min']:g} lab s per "
        f"AWS min: during the move {d['errors']}/{d['offered']} errors by route "
        f"{d['errors_by_route']} by status {d['errors_by_status']}, p50 {d['p50_ms']} p99 "
        f"{d['p99_ms']} ms (before {e['before']['p99_ms']}, after {e['after']['p99_ms']}); "
        f"longest error window {e['longest_error_window_aws_s']} AWS s; writes acknowledged "
        f"{w['acknowledged']}, lost {w['lost']}, stale reads {w['stale_reads']}; "
        f"load average {e['machine_loadavg'][0]}"
    )


def write_moves(path: Path, entries: list[dict[str, Any]], seconds: float) -> None:
    """moves.json: one entry per move; a single move's run replaces that move's entry."""
    from datetime import UTC, datetime

    old: dict[str, Any] = {}
    if path.is_file():
        old = {e["move"]: e for e in json.loads(path.read_text()).get("moves", [])}
    for e in entries:
        old[e["move"]] = {**e, "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    doc = {
        "run_seconds": round(seconds, 1),
        # Each entry has the load average at its end; the machine is shared (other runs
        # may load it): these say how busy it was, they do not make it quiet.
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "shared": True,
        },
        "moves": list(old.values()),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
