"""Cache files that several processes may write at once (two web processes building the class
prototypes on a fresh machine): each writes a temporary file of its own beside the target and
renames it into place, so a reader sees the whole file or none, and the last rename wins (the
contents are the same)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, save: Callable[[Path], None]) -> None:
    """Write `path` with `save(temporary path)`; the temporary path has `path`'s suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    staging = Path(name)
    try:
        save(staging)
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)
