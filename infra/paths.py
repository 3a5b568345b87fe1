"""Where the offline tools write: one check of an output directory, one line when it fails.

`--out` naming a file, a path under /proc, or a `build/` that is a dangling or looping
symlink used to end in a traceback (FileExistsError, NotADirectoryError, RuntimeError
"Symlink loop") from deep inside pathlib. `output_dir` turns each into a `PathError` whose
one line names the path and what is allowed, before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path


class PathError(ValueError):
    """An output path that cannot be used; the message is one line naming it."""


def output_dir(path: Path, what: str = "output directory") -> Path:
    """`path`, created if missing, as a directory this process can write into."""
    for part in [path, *path.parents]:
        if part.is_symlink():
            try:
                target = part.resolve(strict=True)
            except RuntimeError:  # Python < 3.13 raises this for a loop
                raise PathError(f"{part}: a symlink loop; allowed: a directory") from None
            except OSError as exc:
                if exc.errno == 40:  # ELOOP (Python 3.13+ raises OSError)
                    raise PathError(f"{part}: a symlink loop; allowed: a directory") from None
                raise PathError(
                    f"{part}: a symlink to {os.readlink(part)}, which does not exist; "
                    "allowed: a directory or a symlink to one"
                ) from None
            if not target.is_dir():
                raise PathError(f"{part}: a symlink to a file ({target}); allowed: a directory")
    if path.exists() and not path.is_dir():
        raise PathError(f"{path}: is a file, not a directory; allowed: a directory ({what})")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PathError(f"{path}: cannot create the {what}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PathError(f"{path}: not writable; allowed: a directory this user can write")
    return path
