"""The lab's state directory (`.lab/`, gitignored) and its registry of processes and
endpoints. The registry is rewritten after every change, so it is never behind the
processes that actually run."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from infra import REPO_ROOT

REPO = REPO_ROOT


def lab_dir() -> Path:
    """`.lab/` at the repo root; `LAB_DIR` moves it (the tests use a temporary one)."""
    return Path(os.environ.get("LAB_DIR") or REPO / ".lab").resolve()


@dataclass
class ProcessRecord:
    name: str
    pid: int
    pgid: int
    started: int  # /proc start time, guards against a recycled pid
    port: int | None
    argv: list[str]
    log: str
    stop_signal: int


@dataclass
class Registry:
    path: Path
    stage: str | None = None
    processes: list[ProcessRecord] = field(default_factory=list)
    endpoints: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path | None = None) -> Registry:
        path = (root or lab_dir()) / "registry.json"
        if not path.is_file():
            return cls(path=path)
        data = json.loads(path.read_text())
        return cls(
            path=path,
            stage=data.get("stage"),
            processes=[ProcessRecord(**p) for p in data.get("processes", [])],
            endpoints=data.get("endpoints", {}),
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "stage": self.stage,
            "processes": [asdict(p) for p in self.processes],
            "endpoints": self.endpoints,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self.path)

    def add(self, record: ProcessRecord) -> None:
        self.processes = [p for p in self.processes if p.name != record.name]
        self.processes.append(record)
        self.save()

    def remove(self, name: str) -> None:
        self.processes = [p for p in self.processes if p.name != name]
        self.save()

    def get(self, name: str) -> ProcessRecord:
        for record in self.processes:
            if record.name == name:
                return record
        known = ", ".join(p.name for p in self.processes) or "none"
        raise KeyError(f"process {name!r} is not in the lab registry; running: {known}")
