"""Build the release artifact the instances install: `python app_image/build.py [--out DIR]`.

`movies-api-<version>.tar.gz` holds one top-level folder with the `movies_api` wheel, a
`requirements.lock` (name==version --hash for every runtime wheel) and a `wheelhouse/` of
those wheels for Amazon Linux 2023 arm64 (manylinux aarch64, CPython 3.11), so instances
in private subnets install with `pip --no-index` and need no package index. The tarball is
reproducible: sorted entries, fixed mtimes and owners.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
REPO_ROOT = APP_DIR.parent
DEFAULT_OUT = REPO_ROOT / "build" / "artifact"
# Graviton instances run Amazon Linux 2023 (glibc 2.34) with python3.11.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64")
PYTHON_VERSION = "3.11"


def version() -> str:
    text = (APP_DIR / "movies_api" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    if match is None:
        raise RuntimeError("app_image/movies_api/__init__.py has no __version__ line")
    return match[1]


def artifact_name() -> str:
    return f"movies-api-{version()}.tar.gz"


def runtime_requirements() -> list[str]:
    """The pinned dependencies from app_image/pyproject.toml."""
    import tomllib

    data = tomllib.loads((APP_DIR / "pyproject.toml").read_text())
    return list(data["project"]["dependencies"])


def build_wheel(dest: Path) -> Path:
    # A fixed SOURCE_DATE_EPOCH makes the wheel's zip timestamps, and so its bytes, stable.
    env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}
    # With `wheel` in this venv (requirements.txt pins it) pip can build in place, which is
    # seconds faster than fetching setuptools into an isolated build environment.
    isolation = (
        [] if importlib.util.find_spec("wheel") is None else ["--no-build-isolation", "--no-index"]
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--disable-pip-version-check", *isolation,
         "--wheel-dir", str(dest), str(APP_DIR)],
        check=True, env=env,
    )  # fmt: skip
    shutil.rmtree(APP_DIR / "build", ignore_errors=True)  # setuptools' scratch dir
    for egg in APP_DIR.glob("*.egg-info"):
        shutil.rmtree(egg, ignore_errors=True)
    wheels = sorted(dest.glob("movies_api-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one movies_api wheel in {dest}, found {wheels}")
    return wheels[0]


def download_wheelhouse(dest: Path, requirements: list[str]) -> None:
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
         *platforms, "--python-version", PYTHON_VERSION, "--implementation", "cp",
         "--dest", str(dest), *requirements],
        check=True,
    )  # fmt: skip


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lock_lines(wheelhouse: Path) -> list[str]:
    lines = []
    for wheel in sorted(wheelhouse.glob("*.whl")):
        name, ver = wheel.name.split("-")[:2]
        lines.append(f"{name.replace('_', '-').lower()}=={ver} --hash=sha256:{_sha256(wheel)}")
    return lines


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def write_tarball(path: Path, top: str, files: dict[str, bytes]) -> None:
    # gzip header mtime 0 as well, so the same inputs give byte-identical tarballs.
    import gzip

    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:  # fmt: skip
        for name in sorted(files):
            _add(tar, f"{top}/{name}", files[name])


def build(out: Path, wheelhouse: bool = True) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="movies-build-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(work / "dist")
        files: dict[str, bytes] = {wheel.name: wheel.read_bytes()}
        requirements = runtime_requirements()
        info: dict[str, object] = {
            "version": version(),
            "wheel": wheel.name,
            "python": PYTHON_VERSION,
            "platforms": list(PLATFORMS),
        }
        if wheelhouse:
            house = work / "wheelhouse"
            download_wheelhouse(house, requirements)
            for whl in sorted(house.glob("*.whl")):
                files[f"wheelhouse/{whl.name}"] = whl.read_bytes()
            lock = lock_lines(house)
            info["wheelhouse"] = len(lock)
        else:
            lock = requirements
            info["wheelhouse"] = 0
        files["requirements.lock"] = ("\n".join(lock) + "\n").encode()
        files["BUILD-INFO.json"] = (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()
        target = out / artifact_name()
        write_tarball(target, f"movies-api-{version()}", files)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument(
        "--no-wheelhouse",
        action="store_true",
        help="skip the arm64 wheelhouse (instances then need a package index)",
    )
    args = parser.parse_args(argv)
    try:
        target = build(args.out, wheelhouse=not args.no_wheelhouse)
    except subprocess.CalledProcessError as exc:
        print(
            f"error: build step failed: {' '.join(map(str, exc.cmd[:6]))} ... "
            f"(exit {exc.returncode})",
            file=sys.stderr,
        )
        return 1
    size = target.stat().st_size
    print(f"built {target} ({size / 1e6:.1f} MB, sha256 {_sha256(target)[:16]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
