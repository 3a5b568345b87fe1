"""Tier CPU budgets: the controller is found (or a one-line error says why not), groups are
made per lab directory with their quotas, processes join them before they exec, and
`lab down` removes every group it made."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.catalog import class_size
from infra.config import load_stack_config
from lab import cgroups, stack
from lab.budgets import LAB_CPU_PER_VCPU, budget_map
from lab.state import Registry

V1_MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup {cpu} cgroup rw,relatime,cpu 0 0
cgroup {acct} cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
"""


def test_no_cpu_controller_is_one_clear_line():
    mounts = "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\nproc /proc proc rw 0 0\n"
    with pytest.raises(cgroups.CgroupError) as err:
        cgroups.detect(mounts)
    message = str(err.value)
    assert "\n" not in message
    assert "cpu.cfs_quota_us" in message and "cpu.max" in message and "--no-budgets" in message


def test_v1_cpu_and_cpuacct_mounted_apart_are_both_found(tmp_path):
    cpu, acct = tmp_path / "cpu", tmp_path / "cpuacct"
    cpu.mkdir()
    acct.mkdir()
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    found = cgroups.detect(V1_MOUNTS.format(cpu=cpu, acct=acct))
    assert found == cgroups.Controller(1, cpu, acct)


def test_v2_with_cpu_enabled_is_found_when_there_is_no_v1(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    found = cgroups.detect(f"cgroup2 {tmp_path} cgroup2 rw,nosuid 0 0\n")
    assert found == cgroups.Controller(2, tmp_path, None)
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    with pytest.raises(cgroups.CgroupError, match="no cgroup CPU controller"):
        cgroups.detect(f"cgroup2 {tmp_path} cgroup2 rw,nosuid 0 0\n")


def test_each_lab_directory_has_its_own_group_name(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cgroups.group_name(a) != cgroups.group_name(b)
    assert cgroups.group_name(a) == cgroups.group_name(tmp_path / "x" / ".." / "a")
    assert cgroups.group_name(a).startswith("movies-lab-")


def test_budgets_keep_the_spec_proportions_at_one_scale():
    cached = budget_map("cached", "prod")
    # prod cached: 2 x c7g.large (2 vCPU) app, db.r7g.large (2), cache.r7g.large (2)
    assert cached == {
        "app": pytest.approx(4 * LAB_CPU_PER_VCPU),
        "alb": None,
        "db-primary": pytest.approx(2 * LAB_CPU_PER_VCPU),
        "redis": pytest.approx(2 * LAB_CPU_PER_VCPU),
    }
    box_type = load_stack_config("prod", "single-box").stage.single_box.instance_type
    box_vcpus = class_size(box_type).vcpus  # the spec's box (sized by python -m infra size)
    assert budget_map("single-box", "prod") == {"box": pytest.approx(box_vcpus * LAB_CPU_PER_VCPU)}
    replicas = budget_map("read-replicas", "prod", replicas_run=2)
    assert replicas["db-replica1"] == replicas["db-replica2"] == replicas["db-primary"]
    assert budget_map("cached", "prod", scale=0.1)["app"] == pytest.approx(0.4)


def _controller_or_skip() -> cgroups.Controller:
    try:
        return cgroups.detect()
    except cgroups.CgroupError as exc:
        pytest.skip(f"no usable cgroup CPU controller here: {exc}")


def _all_group_dirs(groups: cgroups.LabGroups) -> list[Path]:
    c = groups.controller
    roots = [c.cpu_root] + ([c.acct_root] if c.acct_root else [])
    return [p for root in roots for p in root.glob(groups.name + "*")]


def test_groups_get_their_quota_a_process_joins_before_exec_and_nothing_is_left(tmp_path):
    controller = _controller_or_skip()
    groups = cgroups.LabGroups.for_lab(tmp_path, controller)
    groups.create({"app": 0.2, "alb": None})
    try:
        assert groups.quota_cpus("app") == pytest.approx(0.2)
        assert groups.quota_cpus("alb") is None
        # A process that forks a child at once: both must be in the group.
        code = "import subprocess, time; subprocess.Popen(['sleep', '30']); time.sleep(30)"
        argv = groups.enter_argv("app", [sys.executable, "-c", code])
        proc = subprocess.Popen(argv, start_new_session=True)
        try:
            deadline = time.monotonic() + 5
            while len(groups.pids("app")) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.pid in groups.pids("app")  # the wrapper's pid is kept across exec
            assert len(groups.pids("app")) == 2
            assert groups.usage_seconds("app") > 0
        finally:
            os.killpg(proc.pid, 9)
            proc.wait()
    finally:
        groups.remove()
    assert _all_group_dirs(groups) == []
    assert not groups.exists()


def test_a_budget_under_the_kernel_minimum_quota_is_refused(tmp_path):
    controller = _controller_or_skip()
    groups = cgroups.LabGroups.for_lab(tmp_path, controller)
    with pytest.raises(cgroups.CgroupError, match="minimum quota"):
        groups.create({"app": 0.005})  # 1 ms of quota would need a 200 ms period
    assert _all_group_dirs(groups) == []


def test_small_budgets_get_the_shortest_period_that_holds_a_1_ms_quota():
    assert cgroups.period_for(None) == cgroups.period_for(0.5) == cgroups.PERIOD_US
    assert cgroups.period_for(0.1) == cgroups.PERIOD_US  # exactly 1 ms per 10 ms
    period = cgroups.period_for(0.0875)  # scale-5x's 2-vCPU tiers at the ceiling's factor
    assert period == 11_429 and round(0.0875 * period) >= cgroups.MIN_QUOTA_US
    assert cgroups.period_for(0.01) == cgroups.MAX_PERIOD_US


def test_a_budget_under_0_1_cpu_is_held_by_the_kernel(tmp_path):
    controller = _controller_or_skip()
    groups = cgroups.LabGroups.for_lab(tmp_path, controller)
    groups.create({"db": 0.0875, "app": 0.35})
    try:
        assert groups.quota_cpus("db") == pytest.approx(0.0875, rel=1e-3)
        assert groups.quota_cpus("app") == pytest.approx(0.35)
        groups.set_quota("db", None)  # the preload lifts a budget and puts it back
        assert groups.quota_cpus("db") is None
        groups.set_quota("db", 0.0875)
        assert groups.quota_cpus("db") == pytest.approx(0.0875, rel=1e-3)
    finally:
        groups.remove()
    assert _all_group_dirs(groups) == []


def test_removing_one_lab_leaves_another_labs_groups(tmp_path):
    controller = _controller_or_skip()
    mine = cgroups.LabGroups.for_lab(tmp_path / "mine", controller)
    theirs = cgroups.LabGroups.for_lab(tmp_path / "theirs", controller)
    mine.create({"app": 0.1})
    theirs.create({"app": 0.1})
    try:
        mine.remove()
        assert not mine.exists()
        assert theirs.quota_cpus("app") == pytest.approx(0.1)
    finally:
        theirs.remove()
    assert _all_group_dirs(mine) == _all_group_dirs(theirs) == []


@pytest.mark.servers
def test_up_with_budgets_puts_every_tier_in_its_group_and_down_removes_them(lab_root):
    controller = _controller_or_skip()
    reg = stack.up("split-db", movies=300, say=lambda _m: None, budgets=True)
    groups = cgroups.LabGroups.for_lab(lab_root, controller)
    try:
        assert reg.endpoints["cgroups"]["tiers"] == budget_map("split-db", "prod")
        assert groups.tiers() == ["app", "db-primary"]
        by_name = {p.name: p for p in Registry.load(lab_root).processes}
        assert by_name["api1"].pid in groups.pids("app")
        # PostgreSQL runs as `postgres` (as root) and forks its backends inside the group.
        assert by_name["pg-primary"].pid in groups.pids("db-primary")
        assert len(groups.pids("db-primary")) > 1
        assert groups.quota_cpus("db-primary") == pytest.approx(2 * LAB_CPU_PER_VCPU)
    finally:
        stack.down(say=lambda _m: None)
    assert _all_group_dirs(groups) == []
    # A down with nothing up and no groups is fine.
    assert stack.down(say=lambda _m: None) == 0
