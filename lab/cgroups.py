"""CPU budgets for the lab's tiers: one cgroup per tier, with a CFS quota.

cgroup v1 (this machine): the `cpu` hierarchy holds the quota (`cpu.cfs_quota_us` over
`cpu.cfs_period_us`) and, where `cpuacct` is mounted apart, a twin group there counts the
CPU time (`cpuacct.usage`). cgroup v2: one group with `cpu.max` ("QUOTA PERIOD") and
`cpu.stat` (`usage_usec`). Kernel docs: Documentation/scheduler/sched-bwc.rst (CFS
bandwidth control) and Documentation/admin-guide/cgroup-v2.rst ("cpu" interface files).

Groups are named per lab state directory (`movies-lab-<hash of LAB_DIR>/<tier>`), so two
labs on one machine (other engineers' tests, a bench) never share or remove each other's.
A process enters its group before it execs (see `enter_argv`), so every child it forks
(PostgreSQL backends, nginx workers) is born inside the budget."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from devservers.process import as_user
from lab.procs import LabError

PREFIX = "movies-lab-"
# A 10 ms period: a tier that used its quota waits at most the rest of one period, so a
# throttled tier adds milliseconds, not the 100 ms of the kernel's default period, to a
# request's latency (the SLO is 100 ms); a side-by-side at 0.1 CPU (lab/variance.py, issue
# 23) found a 100 ms period's p99 four times as spread. The kernel's minimum quota is 1 ms
# (kernel/sched/core.c, min_cfs_quota_period), so a budget under 0.1 CPU gets the shortest
# period that still holds 1 ms of quota: 0.0875 CPU runs 1 ms per 11.4 ms. Past the
# kernel's default 100 ms period a budget (under 0.01 CPU) is refused.
PERIOD_US = 10_000
MIN_QUOTA_US = 1_000
MAX_PERIOD_US = 100_000


def period_for(cpus: float | None, shortest_us: int = PERIOD_US) -> int:
    """The CFS period of a budget of `cpus`: `shortest_us`, or longer when that period
    would hold under MIN_QUOTA_US of quota."""
    if cpus is None or cpus * shortest_us >= MIN_QUOTA_US:
        return shortest_us
    return math.ceil(MIN_QUOTA_US / cpus)


class CgroupError(LabError):
    """No usable cgroup CPU controller, or a group could not be made or removed."""


@dataclass(frozen=True)
class Controller:
    version: int  # 1 or 2
    cpu_root: Path  # v1: the `cpu` hierarchy; v2: the unified hierarchy
    acct_root: Path | None  # v1: the `cpuacct` hierarchy when mounted apart; else None


def _mounts(text: str) -> list[tuple[Path, str, set[str]]]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            out.append((Path(parts[1]), parts[2], set(parts[3].split(","))))
    return out


def detect(mounts_text: str | None = None) -> Controller:
    """The cgroup CPU controller this machine offers, v1 first (this machine), then v2.

    Raises CgroupError (one line) when neither is mounted and writable."""
    if mounts_text is None:
        mounts_text = Path("/proc/self/mounts").read_text()
    mounts = _mounts(mounts_text)
    cpu_root = acct_root = None
    for path, fstype, opts in mounts:
        if fstype != "cgroup":
            continue
        if "cpu" in opts and cpu_root is None:
            cpu_root = path
            if "cpuacct" in opts:
                acct_root = None  # co-mounted: cpuacct.usage sits beside the quota
        elif "cpuacct" in opts and acct_root is None:
            acct_root = path
    if cpu_root is not None and (cpu_root / "cpu.cfs_quota_us").is_file():
        if not os.access(cpu_root, os.W_OK):
            raise CgroupError(
                f"cgroup v1 cpu controller at {cpu_root} is not writable; the lab's tier "
                "budgets need root (or run without budgets: --no-budgets)"
            )
        if (cpu_root / "cpuacct.usage").is_file():
            acct_root = None
        return Controller(1, cpu_root, acct_root)
    for path, fstype, _opts in mounts:
        if fstype != "cgroup2":
            continue
        controllers = path / "cgroup.controllers"
        if controllers.is_file() and "cpu" in controllers.read_text().split():
            if not os.access(path, os.W_OK):
                raise CgroupError(
                    f"cgroup v2 at {path} is not writable; the lab's tier budgets need root "
                    "(or run without budgets: --no-budgets)"
                )
            return Controller(2, path, None)
    raise CgroupError(
        "no cgroup CPU controller: neither cgroup v1 `cpu` (cpu.cfs_quota_us) nor cgroup v2 "
        "with `cpu` in cgroup.controllers (cpu.max) is mounted; the lab's tier budgets need "
        "one (or run without budgets: --no-budgets)"
    )


def group_name(lab_root: Path) -> str:
    """`movies-lab-<10 hex of the LAB_DIR path>`: one name per lab state directory."""
    digest = hashlib.sha256(str(lab_root.resolve()).encode()).hexdigest()[:10]
    return PREFIX + digest


@dataclass(frozen=True)
class LabGroups:
    """The groups of one lab state directory: `<root>/<name>/<tier>` in each hierarchy."""

    controller: Controller
    name: str
    period_us: int = PERIOD_US

    @classmethod
    def for_lab(cls, lab_root: Path, controller: Controller | None = None) -> LabGroups:
        return cls(controller or detect(), group_name(lab_root))

    def _roots(self) -> list[Path]:
        c = self.controller
        return [c.cpu_root] + ([c.acct_root] if c.acct_root is not None else [])

    def top(self, root: Path | None = None) -> Path:
        return (root or self.controller.cpu_root) / self.name

    def tier_dirs(self, tier: str) -> list[Path]:
        return [self.top(root) / tier for root in self._roots()]

    def create(self, budgets: dict[str, float | None]) -> None:
        """One group per tier; a number is its CPU budget (CPUs), None leaves it unlimited
        (measured only). Replaces groups a crashed run of the same lab left behind."""
        self.remove()
        for tier, cpus in budgets.items():
            if cpus is not None and (cpus <= 0 or period_for(cpus, self.period_us) > MAX_PERIOD_US):
                raise CgroupError(
                    f"tier {tier}: budget {cpus:g} CPU is under the kernel's minimum quota "
                    f"({MIN_QUOTA_US} us per {MAX_PERIOD_US} us period = "
                    f"{MIN_QUOTA_US / MAX_PERIOD_US:g} CPU); raise the scale factor"
                )
        try:
            for root in self._roots():
                self.top(root).mkdir(exist_ok=True)
                if self.controller.version == 2:
                    # Children of this group get the cpu interface files only if it is
                    # enabled here (and, by the root, in every ancestor).
                    (self.top(root) / "cgroup.subtree_control").write_text("+cpu")
                for tier in budgets:
                    (self.top(root) / tier).mkdir(exist_ok=True)
            for tier, cpus in budgets.items():
                self.set_quota(tier, cpus)
        except OSError as exc:
            self.remove()
            raise CgroupError(f"cannot create cgroup {self.name}: {exc}") from exc

    @contextlib.contextmanager
    def unbudgeted(self, budgets: Mapping[str, float | None]) -> Iterator[None]:
        """Every tier of `budgets` unlimited inside the block, set back to its budget after
        it, whatever happens (a stage's boot, the bench's preload and warm-up burst)."""
        try:
            self.lift(budgets)
            yield
        finally:
            for tier, cpus in budgets.items():
                self.set_quota(tier, cpus)

    def lift(self, tiers: Iterable[str]) -> None:
        """Every tier of `tiers` unlimited (`unbudgeted` sets them back; the bench's end of
        a stage does not)."""
        for tier in tiers:
            self.set_quota(tier, None)

    def set_quota(self, tier: str, cpus: float | None) -> None:
        """Give `tier` a budget of `cpus` (None: unlimited), over `period_for(cpus)`: the
        one place a quota is written, for both cgroup versions (create and the bench's
        preload, which lifts budgets while it warms the caches)."""
        group = self.top() / tier
        period = period_for(cpus, self.period_us)
        if self.controller.version == 2:
            quota = "max" if cpus is None else str(round(cpus * period))
            (group / "cpu.max").write_text(f"{quota} {period}")
            return
        # Unlimited first: the kernel refuses a period under a quota already set only when
        # the ratio would exceed the parent's; -1 never does.
        (group / "cpu.cfs_quota_us").write_text("-1")
        (group / "cpu.cfs_period_us").write_text(str(period))
        if cpus is not None:
            (group / "cpu.cfs_quota_us").write_text(str(round(cpus * period)))

    def quota_cpus(self, tier: str) -> float | None:
        """The budget as the kernel holds it (CPUs), None when unlimited."""
        group = self.top() / tier
        if self.controller.version == 2:
            quota, period = (group / "cpu.max").read_text().split()
            return None if quota == "max" else int(quota) / int(period)
        quota = int((group / "cpu.cfs_quota_us").read_text())
        period = int((group / "cpu.cfs_period_us").read_text())
        return None if quota < 0 else quota / period

    def procs_files(self, tier: str) -> list[Path]:
        """The files a process writes its pid into to join `tier` (one per hierarchy)."""
        return [d / "cgroup.procs" for d in self.tier_dirs(tier)]

    def enter_argv(self, tier: str, argv: list[str], user: str | None = None) -> list[str]:
        """`argv` wrapped so that the process joins `tier` before it execs: a shell writes
        its own pid (kept across exec) into the group, then execs the command, through
        setpriv when it must run as another user (the pid is written as root, so no group
        file needs to be given away to that user)."""
        files = " ".join(str(f) for f in self.procs_files(tier))
        script = 'for f in $CG; do echo $$ > "$f" || exit 97; done; exec "$@"'
        return ["env", f"CG={files}", "/bin/sh", "-c", script, "sh", *as_user(argv, user)]

    def pids(self, tier: str) -> list[int]:
        try:
            text = (self.top() / tier / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(x) for x in text.split()]

    def usage_seconds(self, tier: str) -> float:
        """CPU time the tier's processes used since the group was made (seconds)."""
        c = self.controller
        if c.version == 2:
            for line in (self.top() / tier / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            raise CgroupError(f"{self.top() / tier}/cpu.stat has no usage_usec")
        acct = (c.acct_root or c.cpu_root) / self.name / tier / "cpuacct.usage"
        return int(acct.read_text()) / 1e9

    def throttled(self, tier: str) -> tuple[int, float]:
        """(periods throttled, seconds throttled) from the tier's cpu.stat."""
        stats = {}
        for line in (self.top() / tier / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                stats[key] = int(value)
        if self.controller.version == 2:
            return stats.get("nr_throttled", 0), stats.get("throttled_usec", 0) / 1e6
        return stats.get("nr_throttled", 0), stats.get("throttled_time", 0) / 1e9

    def tiers(self) -> list[str]:
        top = self.top()
        return sorted(p.name for p in top.iterdir() if p.is_dir()) if top.is_dir() else []

    def exists(self) -> bool:
        return any(self.top(root).exists() for root in self._roots())

    def remove(self, timeout: float = 5.0) -> list[str]:
        """Remove every group of this lab (its processes should be gone already: any left
        are moved to the hierarchy's root first, since a group with tasks cannot be
        removed). Returns the removed directories."""
        removed: list[str] = []
        for root in self._roots():
            top = self.top(root)
            if not top.is_dir():
                continue
            for tier_dir in [p for p in top.iterdir() if p.is_dir()]:
                _rmdir(tier_dir, root, timeout)
                removed.append(str(tier_dir))
            _rmdir(top, root, timeout)
            removed.append(str(top))
        return removed


def _rmdir(group: Path, root: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise CgroupError(f"cannot remove cgroup {group}: {exc.strerror}") from exc
        # Still has tasks (a process that is exiting, or one left behind): move them out.
        try:
            pids = (group / "cgroup.procs").read_text().split()
        except OSError:
            pids = []
        for pid in pids:
            with contextlib.suppress(OSError):
                (root / "cgroup.procs").write_text(pid)
        time.sleep(0.05)
