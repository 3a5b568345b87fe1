"""`lab up STAGE` and `lab down`: bring a stage's topology up on 127.0.0.1, and take every
process of it down again."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path

from lab import alb, cgroups, nginx, postgres, redis_server, s3
from lab.budgets import LAB_CPU_PER_VCPU, budget_map
from lab.procs import LOOPBACK, Enter, LabError, alive, free_port, pin, run, spawn, stop, wait_until
from lab.state import REPO, Registry, lab_dir
from lab.topology import Topology, topology

APP_DIR = REPO / "app_image"
BUCKET = "movies-lab-media"
SEED = 42
LAB_USERS = 20  # authenticated readers whose keys the load generator uses
POSTER_OBJECTS = 2000  # posters uploaded to S3 at the edge stage: the hottest ranks
DB_POOL_MAX = 10  # each API process's pool per database server (MOVIES_DB_POOL_MAX)


# The interpreter the service's processes run on (`make setup` builds it): the
# dependencies app_image/pyproject.toml declares and nothing else, as on the AMI. The
# development venv (sys.executable) also holds pulumi's packages, which change what the
# service imports (redis-py loads opentelemetry-sdk when it is there).
SERVICE_VENV = REPO / ".venv-app"
SERVICE_PYTHON_ENV = "LAB_SERVICE_PYTHON"  # another interpreter for the service, if set


def service_python() -> str:
    """LAB_SERVICE_PYTHON if set, else the service's venv, else this interpreter (a tree
    where `make setup` has not built .venv-app/ yet still runs the lab)."""
    if os.environ.get(SERVICE_PYTHON_ENV):
        return os.environ[SERVICE_PYTHON_ENV]
    venv = SERVICE_VENV / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def service_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(APP_DIR),
        "PYTHONUNBUFFERED": "1",
        **s3.FAKE_AWS_ENV,
    }
    env.update(extra)
    return env


def movies_api(args: list[str], env: dict[str, str], timeout: float = 900) -> str:
    return run(
        [service_python(), "-m", "movies_api", *args],
        env=service_env(env),
        cwd=APP_DIR,
        timeout=timeout,
    )


# --- the seeded template ----------------------------------------------------------------


def seed_key(movies: int) -> str:
    """Changes whenever the schema or the seed's code does, so a stale template is rebuilt."""
    digest = hashlib.sha256(f"{movies}:{SEED}:{LAB_USERS}".encode())
    pkg = APP_DIR / "movies_api"
    for path in sorted(
        [*pkg.glob("migrations/*.sql"), pkg / "seed.py", pkg / "migrate.py", pkg / "auth.py"]
    ):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return f"{movies}-{digest.hexdigest()[:12]}"


# Where the seeded templates live when not in `.lab/cache/`: the tests' lab directories
# of one parallel run share one (tests/lab/conftest.py), so each template is seeded once
# per run, not once per worker.
TEMPLATES_ENV = "LAB_TEMPLATE_DIR"


def template_dir(movies: int) -> Path:
    base = os.environ.get(TEMPLATES_ENV)
    return (Path(base) if base else lab_dir() / "cache") / f"seed-{seed_key(movies)}"


def _template_ready(target: Path) -> bool:
    return (target / "pgdata" / "PG_VERSION").is_file() and (target / "keys.json").is_file()


def ensure_template(movies: int, say=print) -> Path:
    """A stopped, seeded primary data directory under `.lab/cache/`, built once per seed
    key: every stage (and every bench) copies it instead of seeding again. Processes that
    share the directory build a template one at a time (a lock file beside it), so the
    second finds the first's."""
    target = template_dir(movies)
    if _template_ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _template_ready(target):
            return target
        return _build_template(target, movies, say)


def _build_template(target: Path, movies: int, say) -> Path:
    say(f"seeding {movies:,} movies into a template cluster (once per schema/seed change)")
    work = target.with_name(target.name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    reg = Registry(path=work / "registry.json")
    started = time.perf_counter()
    try:
        postgres.initdb(work / "pgdata")
        port = free_port()
        postgres.start(reg, "pg-seed", work / "pgdata", port, work / "postgres.log")
        postgres.create_database(port)
        env = {"MOVIES_DATABASE_URL": postgres.url(port)}
        movies_api(["migrate"], env)
        movies_api(
            [
                "seed",
                "--count",
                str(movies),
                "--seed",
                str(SEED),
                "--users",
                str(LAB_USERS),
                "--keys-out",
                str(work / "keys.json"),
            ],
            env,
        )
        # Every movie gets a poster key; the edge stage uploads the hottest ones to S3.
        postgres.psql(port, "UPDATE movies SET poster_key = 'posters/' || id || '/lab.jpg'")
        postgres.psql(port, "VACUUM ANALYZE movies")
        postgres.psql(port, "CHECKPOINT")
    finally:
        for record in reversed(reg.processes):
            stop(record)
    (work / "registry.json").unlink(missing_ok=True)
    (work / "seed.json").write_text(
        json.dumps(
            {"movies": movies, "seed": SEED, "seconds": round(time.perf_counter() - started, 1)}
        )
    )
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    say(f"template ready in {time.perf_counter() - started:.0f}s: {target}")
    return target


def load_keys(movies: int) -> tuple[list[str], list[str]]:
    """(reader keys, writer keys) the seed created for the lab's users."""
    keys = json.loads((template_dir(movies) / "keys.json").read_text())
    readers = [v["api_key"] for v in keys.values() if v["role"] == "reader"]
    writers = [v["api_key"] for v in keys.values() if v["role"] == "writer"]
    return readers, writers


# --- up / down --------------------------------------------------------------------------


def running(reg: Registry) -> list[str]:
    return [p.name for p in reg.processes if alive(p)]


def up(
    stage: str,
    movies: int = 100_000,
    env: str = "prod",
    pin_cpus: bool = True,
    say=print,
    service_overrides: dict[str, str] | None = None,
    redis_preload: Path | None = None,
    budgets: bool = False,
    scale: float = LAB_CPU_PER_VCPU,
    alb_time_scale: float = 1.0,
    fleet: dict[str, int] | None = None,
    alb_hook: Callable[[alb.AlbSpec], alb.AlbSpec] | None = None,
    extra_tiers: Mapping[str, float | None] | None = None,
    target_groups: Mapping[str, alb.TargetGroup] | None = None,
    posters: int = POSTER_OBJECTS,
) -> Registry:
    """Bring `stage` up; `redis_preload` is an RDB the stage's Redis starts with (the
    bench carries the cache from one stage to the next, as `pulumi up` keeps ElastiCache).

    With `budgets`, every tier runs in its own CPU cgroup with the stage spec's vCPUs x
    `scale` (lab/budgets.py); CPU pinning is then off (the budgets replace it). `fleet`:
    instances per auto-scaled fleet (infra/capacity/lab_scale.py `fleet_instances`; the
    bench's ceiling mode), default the spec's desired capacity.

    `alb_time_scale` (lab seconds per AWS second) scales the ALB stand-in's health-check
    interval and timeout and its deregistration delay (lab/alb.py); 1 = AWS's own times.

    For `lab move` (lab/replay.py): `alb_hook` rewrites the ALB stand-in's spec before it
    starts (spare target slots, a search rule switched at runtime); `extra_tiers` are CPU
    groups created with the stage's (the tiers of the next stage, which the move starts
    processes in), only with `budgets`; `target_groups`: the stage's ALB target groups read
    from its plan where the caller has it in hand (default: the program run under the mocks
    for them, lab/alb.py `program_target_groups`, a second or more of CPU). `posters`: the
    poster objects uploaded at an edge stage (the hottest ranks; the bucket is made either
    way)."""
    topo = topology(stage, env, pin=pin_cpus and not budgets, fleet=fleet)
    root = lab_dir()
    reg = Registry.load(root)
    if running(reg):
        raise LabError(f"the lab is already up (stage {reg.stage}); run `python -m lab down`")
    groups = None
    tier_cpus: dict[str, float | None] = {}
    if budgets:
        groups = cgroups.LabGroups.for_lab(root)  # raises where no controller is usable
        tier_cpus = budget_map(stage, env, scale, replicas_run=topo.replicas, fleet=fleet)
        tier_cpus = {**dict(extra_tiers or {}), **tier_cpus}
    template = ensure_template(movies, say)
    shutil.rmtree(root / "run", ignore_errors=True)
    run_dir = root / "run"
    run_dir.mkdir(parents=True)
    reg = Registry(path=root / "registry.json", stage=stage)
    reg.endpoints = {"topology": asdict(topo), "movies": movies, "template": str(template)}
    reg.endpoints["fleet"] = dict(fleet or {})
    if groups is not None:
        reg.endpoints["cgroups"] = {
            "name": groups.name,
            "version": groups.controller.version,
            "period_us": groups.period_us,
            "lab_cpu_per_vcpu": scale,
            "tiers": tier_cpus,
        }
    reg.save()
    try:
        if groups is not None:
            groups.create(tier_cpus)  # refuses a budget the kernel cannot hold, first
        # Every tier boots unbudgeted and gets its budget once the stage answers: the
        # budgets scale the serving CPU of AWS's tiers, not their boot (an instance boots,
        # and RDS restores, at full speed before it takes traffic), and under a 0.09-CPU
        # budget the API's imports alone took ~7 s and PostgreSQL's start and
        # pg_basebackup seconds more. Nothing is measured before the budgets are back.
        with groups.unbudgeted(tier_cpus) if groups is not None else contextlib.nullcontext():
            _bring_up(
                reg,
                topo,
                template,
                run_dir,
                say,
                service_overrides or {},
                redis_preload,
                groups,
                alb_time_scale,
                alb_hook,
                target_groups,
                posters,
            )
            if groups is not None:
                settle(groups, list(tier_cpus), say)
    except BaseException:
        say("bring-up failed; taking down what started")
        down(say=lambda _m: None)
        raise
    return reg


# Boot is over when the stage's tiers, unbudgeted, use under this much CPU together over
# one SETTLE_WINDOW_S (uvicorn's spawned workers import the app after the first answers
# /healthz; PostgreSQL's startup checkpoint; moto's first requests).
SETTLE_CPUS = 0.05
SETTLE_WINDOW_S = 0.5
SETTLE_BOUND_S = 30.0


def settle(groups: cgroups.LabGroups, tiers: list[str], say=print) -> float:
    """Wait until the tiers' boot work is done (their CPU under SETTLE_CPUS), at most
    SETTLE_BOUND_S; the seconds waited."""
    started = time.perf_counter()
    while True:
        before = sum(groups.usage_seconds(t) for t in tiers)
        time.sleep(SETTLE_WINDOW_S)
        used = sum(groups.usage_seconds(t) for t in tiers) - before
        waited = time.perf_counter() - started
        if used / SETTLE_WINDOW_S < SETTLE_CPUS:
            return waited
        if waited >= SETTLE_BOUND_S:
            say(f"tiers still busy after {waited:.0f}s of boot ({used / SETTLE_WINDOW_S:.2f} CPU)")
            return waited


def _bring_up(
    reg: Registry,
    topo: Topology,
    template: Path,
    run_dir: Path,
    say,
    overrides: dict[str, str],
    redis_preload: Path | None,
    groups: cgroups.LabGroups | None = None,
    alb_time_scale: float = 1.0,
    alb_hook: Callable[[alb.AlbSpec], alb.AlbSpec] | None = None,
    target_groups: Mapping[str, alb.TargetGroup] | None = None,
    posters: int = POSTER_OBJECTS,
) -> None:
    ep = reg.endpoints

    def enter(tier: str) -> Enter | None:
        if groups is None:
            return None
        return lambda argv, user: groups.enter_argv(tier, argv, user)

    app_tier = "box" if "box" in ep.get("cgroups", {}).get("tiers", {}) else "app"
    db_tier = "box" if app_tier == "box" else "db-primary"
    t = time.perf_counter()
    primary = run_dir / "pg-primary"
    postgres.copy_datadir(template / "pgdata", primary)
    ep["primary_port"] = port = free_port()
    postgres.start(
        reg,
        "pg-primary",
        primary,
        port,
        run_dir / "pg-primary.log",
        topo.db_cpus,
        enter=enter(db_tier),
    )
    ep["replica_ports"] = []
    for i in range(1, topo.replicas + 1):
        datadir = run_dir / f"pg-replica{i}"
        postgres.basebackup(port, datadir)
        rport = free_port()
        postgres.start(
            reg,
            f"pg-replica{i}",
            datadir,
            rport,
            run_dir / f"pg-replica{i}.log",
            enter=enter(f"db-replica{i}"),
        )
        if not postgres.in_recovery(rport):
            raise LabError(f"pg-replica{i} on port {rport} is not in recovery")
        ep["replica_ports"].append(rport)
    env = {
        "MOVIES_DATABASE_URL": postgres.url(port),
        "MOVIES_DATABASE_READER_URLS": ",".join(postgres.url(p) for p in ep["replica_ports"]),
        "MOVIES_STAGE": topo.stage,
        "MOVIES_DB_POOL_MAX": str(DB_POOL_MAX),
        # As the instances' user data sets it: longer than the ALB's idle timeout.
        "MOVIES_HTTP_KEEPALIVE_S": str(topo.http_keepalive_s),
    }
    if topo.redis:
        ep["redis_port"] = rport = free_port()
        redis_server.start(
            reg, "redis", rport, run_dir / "redis", redis_preload, enter=enter("redis")
        )
        ep["redis_preloaded_keys"] = redis_server.dbsize(rport) if redis_preload else 0
        env["MOVIES_REDIS_URL"] = redis_server.url(rport)
    if topo.edge:
        ep["s3_port"] = sport = free_port()
        s3.start(reg, "s3", sport, run_dir / "s3", enter=enter("edge"))
        count = min(posters, ep["movies"])
        seconds = _upload_posters(sport, ep["movies"], count)
        say(f"uploaded {count} posters to moto in {seconds:.1f}s")
        ep["cdn_port"] = free_port()
        env["MOVIES_MEDIA_BUCKET"] = BUCKET
        env["MOVIES_S3_ENDPOINT_URL"] = s3.endpoint(sport)
        env["MOVIES_CDN_BASE_URL"] = f"http://{LOOPBACK}:{ep['cdn_port']}/media"
    env.update(overrides)
    ep["api_ports"] = [
        start_api(reg, f"api{i}", env, topo.api_cpus, run_dir, enter(app_tier), topo.api_workers)
        for i in range(1, topo.api_processes + 1)
    ]
    ep["search_ports"] = [
        start_api(reg, f"search{i}", env, topo.api_cpus, run_dir, enter("search"))
        for i in range(1, topo.search_processes + 1)
    ]
    entry = f"http://{LOOPBACK}:{ep['api_ports'][0]}"
    if topo.load_balancer:
        ep["alb_port"] = aport = free_port()
        spec = alb.new_spec(
            aport,
            [(f"api{i}", p) for i, p in enumerate(ep["api_ports"], 1)],
            alb.checked_target_groups(topo.env, topo.stage, target_groups)
            if target_groups is not None
            else alb.program_target_groups(topo.env, topo.stage),
            [(f"search{i}", p) for i, p in enumerate(ep["search_ports"], 1)],
            topo.search_path,
            topo.search_query_key,
            idle_timeout_s=topo.alb_idle_timeout_s,
            time_scale=alb_time_scale,
        )
        if alb_hook is not None:
            spec = alb_hook(spec)
        alb.start(reg, "alb", run_dir / "alb", spec, enter=enter("alb"))
        ep["alb_prefix"] = str(run_dir / "alb")
        ep["alb_admin_port"] = spec.admin_port
        ep["alb_time_scale"] = alb_time_scale
        ep["alb_target_groups"] = {
            b.group.role: asdict(b.group) for b in (spec.web, spec.search) if b is not None
        }
        entry = f"http://{LOOPBACK}:{aport}"
    if topo.edge:
        origin = ep.get("alb_port") or ep["api_ports"][0]
        conf = nginx.cdn_conf(run_dir / "cdn", ep["cdn_port"], origin, ep["s3_port"], BUCKET)
        nginx.start(reg, "cdn", run_dir / "cdn", ep["cdn_port"], conf, enter=enter("edge"))
        entry = f"http://{LOOPBACK}:{ep['cdn_port']}"
    ep["entry"] = entry
    ep["service_env"] = env
    reg.save()
    say(f"{topo.stage} up in {time.perf_counter() - t:.1f}s: {topo.describe}; entry {entry}")


def start_api(
    reg: Registry,
    name: str,
    env: dict[str, str],
    cpus: str | None,
    run_dir: Path,
    enter: Enter | None = None,
    workers: int = 1,
) -> int:
    port = free_port()
    record = spawn(
        reg,
        name,
        [
            *pin(cpus),
            service_python(),
            "-m",
            "movies_api",
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            *(["--workers", str(workers)] if workers > 1 else []),
        ],
        log=run_dir / f"{name}.log",
        env=service_env(env),
        cwd=APP_DIR,
        port=port,
        enter=enter,
    )
    wait_until(lambda: healthy(port), f"{name} /healthz on port {port}", 60, record)
    return port


def healthy(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/healthz", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def _upload_posters(port: int, movies: int, count: int) -> float:
    """Poster objects for the hottest ranks (moto keeps objects in memory, so this runs at
    every edge bring-up; a few thousand small objects take seconds, 100k would take minutes)."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    from lab.load import ZipfSampler

    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint(port),
        region_name="us-east-1",
        aws_access_key_id="lab",
        aws_secret_access_key="lab",
    )
    client.create_bucket(Bucket=BUCKET)
    body = b"\xff\xd8\xff" + bytes(2045)  # a 2 kB stand-in JPEG: the bytes are not measured
    ids = ZipfSampler(movies, 1.0).ids[:count]  # count <= movies (the caller's min)

    def put(movie_id: int) -> None:
        # CloudFront reads the private bucket through OAC (SigV4-signed requests); nginx
        # cannot sign, so the objects are public-read and only the CDN stand-in is pointed
        # at moto (the bucket is reachable on 127.0.0.1 only anyway).
        client.put_object(
            ACL="public-read",
            Bucket=BUCKET,
            Key=f"posters/{movie_id}/lab.jpg",
            Body=body,
            ContentType="image/jpeg",
            CacheControl="public, max-age=86400",
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, ids))
    return time.perf_counter() - started


def down(say=print) -> int:
    """Stop every registered process group, newest first; returns how many were running."""
    reg = Registry.load()
    count = 0
    for record in reversed(reg.processes):
        if alive(record):
            count += 1
        stop(record)
        reg.remove(record.name)
    reg.stage = None
    reg.endpoints = {}
    reg.save()
    removed = remove_groups()
    extra = f"; removed cgroup {removed}" if removed else ""
    say(f"lab down: stopped {count} process group(s){extra}")
    return count


def remove_groups() -> str | None:
    """Remove this lab's cgroups (every tier), whether or not the registry knows them:
    the name comes from the lab directory, so a crashed `up` leaves nothing behind either.
    Returns the group's name if there was one."""
    try:
        groups = cgroups.LabGroups.for_lab(lab_dir())
    except cgroups.CgroupError:
        return None  # no controller: nothing can have been made
    if not groups.exists():
        return None
    groups.remove()
    return groups.name


def status() -> int:
    reg = Registry.load()
    if not reg.processes:
        print("lab: nothing is up")
        return 0
    print(f"lab: stage {reg.stage}; entry {reg.endpoints.get('entry', '-')}")
    for p in reg.processes:
        state = "running" if alive(p) else "GONE"
        print(f"  {p.name:<12} pid {p.pid:<7} port {p.port or '-':<6} {state}")
    return 0
