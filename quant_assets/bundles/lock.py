"""One bundle command at a time per home: imports and exports take a file lock first.

An import stages, commits and materializes; an export reads the lake an import writes. Two
of them at once could rename over each other's unpacked bundle or record the wrong provenance,
so they queue on ``<bundles root>/.lock``. The lock is re-entrant within a thread (the CLI
holds it across unpacking and materializing, and unpacking takes it again), and it is an OS lock
(``flock``): a killed holder releases it with its process, so a crash never wedges a home.

The lock is local, and so is what it guards: the home's unpacked bundles, and the lake as this
home writes it. With the lake in an object store (``QUANT_ASSETS_LAKE_ROOT=s3://...``) that
several homes (machines) share, it serialises one home's bundle commands only; S3 offers no
lock to queue on. Across homes, each partition is still replaced whole (one PUT or one
server-side copy) and the last writer of a partition wins, but an import's all-or-nothing
restore (``rollback.py``) would put back the files it set aside over another home's writes
of the same partitions made meanwhile, and an export running then may mix partitions from
before and after an import. So a shared lake takes bundle imports from one home at a time
(one operator machine); reads, including exports of a lake nobody is importing into, may
run anywhere.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock, Timeout

from quant_assets.bundles.limits import LOCK_TIMEOUT_ENV
from quant_assets.bundles.manifest import BundleError

LOCK_NAME = ".lock"


def lock_path(bundles_root: str | os.PathLike) -> Path:
    return Path(bundles_root) / LOCK_NAME


@contextmanager
def bundle_lock(bundles_root: str | os.PathLike, timeout_s: float, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the home's bundle lock; tell ``on_wait`` once if another command holds it, and
    refuse with a ``BundleError`` after ``timeout_s`` seconds of waiting."""
    path = lock_path(bundles_root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A singleton per path: the same thread taking it again re-enters instead of
        # deadlocking on its own flock; other threads and processes wait.
        lock = FileLock(path, is_singleton=True)
        if not _acquired(lock, 0):
            if on_wait:
                on_wait(f"waiting for another bundle import or export to finish (lock {path}, at most {timeout_s:g} s, {LOCK_TIMEOUT_ENV})")
            if not _acquired(lock, timeout_s):
                raise BundleError(
                    f"another bundle import or export held {path} for more than {timeout_s:g} s "
                    f"({LOCK_TIMEOUT_ENV}); nothing was changed, try again when it has finished"
                )
    except OSError as err:
        raise BundleError(f"cannot take the bundle lock {path}: {err.strerror or err}") from None
    try:
        yield
    finally:
        lock.release()


def _acquired(lock: FileLock, timeout_s: float) -> bool:
    try:
        lock.acquire(timeout=timeout_s)
    except Timeout:
        return False
    return True
