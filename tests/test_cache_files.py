"""Cache files written by several processes at once (ml.cache_files)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from ml.cache_files import write_atomically


def test_two_writers_of_one_cache_file_both_succeed(tmp_path: Path) -> None:
    """Two web processes building the same prototypes on a fresh machine: with one shared staging
    name the second rename found nothing (FileNotFoundError, a 503 under load); each writer now
    stages its own file, both succeed, and the file is whole."""
    target = tmp_path / "models" / "prototypes-abc.npy"
    rows = np.arange(12, dtype=np.float32).reshape(3, 4)
    started, errors = threading.Barrier(2), []

    def slow_save(staging: Path) -> None:
        started.wait()  # both are inside save at once
        np.save(staging, rows)
        time.sleep(0.05)

    def writer() -> None:
        try:
            write_atomically(target, slow_save)
        except OSError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    np.testing.assert_array_equal(np.load(target), rows)
    assert [path.name for path in target.parent.iterdir()] == [target.name]  # no staging file left
