"""A killed import leaves nothing a reader trusts, and the next import cleans up after it.

A real process is SIGKILLed at the two moments that matter: with the bundle staged but not
yet renamed into place, and renamed but before its unpacked marker is written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from quant_assets.bundles import unpack as unpack_module
from quant_assets.bundles.limits import BundleLimits
from quant_assets.bundles.unpack import unpack
from quant_assets.bundles.unpacked import UNPACKED_MARKER, UnpackedBundles
from quant_assets.market.bars import BARS_ASSET
from quant_assets_tests.bundles.archives import PARTS

REPO = Path(__file__).parents[2]

# Unpacks a bundle, but stops dead (prints "paused", then sleeps) just before the staging
# folder is renamed into place, or just before the unpacked marker is put in place.
IMPORT_THEN_PAUSE = """
import os, sys, time
from quant_assets.bundles.unpack import unpack

archive, root, pause_at = sys.argv[1:]
real_rename, real_replace = os.rename, os.replace

def pause():
    print("paused", flush=True)
    time.sleep(120)

def rename(src, dst, *args, **kwargs):
    if pause_at == "rename" and os.path.basename(src).startswith(".staging-"):
        pause()
    return real_rename(src, dst, *args, **kwargs)

def replace(src, dst, *args, **kwargs):
    if pause_at == "marker" and os.path.basename(dst) == "LANDED.json":
        pause()
    return real_replace(src, dst, *args, **kwargs)

os.rename, os.replace = rename, replace
unpack(archive, root)
print("unpacked", flush=True)
"""


def _kill_import_at(pause_at: str, archive: Path, root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", IMPORT_THEN_PAUSE, str(archive), str(root), pause_at],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "paused"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("pause_at", ["rename", "marker"])
def test_an_import_killed_before_its_commit_is_ignored_then_cleaned(home, good_bundle, pause_at):
    archive, manifest = good_bundle
    root = home / "bundles"
    _kill_import_at(pause_at, archive, root)

    # What the kill left: a staging folder, or the bundle's folder without its marker.
    left = sorted(p.name for p in root.iterdir() if p.name != ".lock")
    assert len(left) == 1
    if pause_at == "rename":
        assert left[0].startswith(".staging-")
    else:
        assert left[0] == manifest.bundle_id
    assert not (root / left[0] / UNPACKED_MARKER).exists()

    # Readers see no bundle at all.
    readers = UnpackedBundles(str(root))
    assert readers.bundles() == []
    with pytest.raises(FileNotFoundError, match="no imported bundle holds market_bars"):
        readers.read(BARS_ASSET, PARTS)

    # The killed process took its lock with it; the next import clears the leftover and unpacks.
    unpacking = unpack(archive, root, limits=BundleLimits(lock_timeout_s=5))
    assert unpacking.fresh
    assert sorted(p.name for p in root.iterdir()) == [".lock", manifest.bundle_id]
    frame, provenance = readers.read(BARS_ASSET, PARTS)
    assert frame.height == 1152 and {p.bundle_id for p in provenance.values()} == {manifest.bundle_id}


def test_staged_folders_are_synced_before_the_rename(home, good_bundle, monkeypatch):
    events = []
    real_fsync_dir, real_rename = unpack_module.fsync_dir, os.rename
    monkeypatch.setattr(unpack_module, "fsync_dir", lambda path: events.append(("fsync", Path(path))) or real_fsync_dir(path))
    monkeypatch.setattr(os, "rename", lambda src, dst: events.append(("rename", Path(src))) or real_rename(src, dst))
    unpack(good_bundle[0], home / "bundles")

    renames = [i for i, (kind, _) in enumerate(events) if kind == "rename"]
    assert len(renames) == 1
    staging = events[renames[0]][1]
    synced_before = {path for kind, path in events[: renames[0]] if kind == "fsync"}
    staged_folders = {staging / Path(f.path).parent for f in good_bundle[1].files}
    parents = {p for folder in staged_folders for p in [folder, *folder.parents] if staging in [p, *p.parents]}
    assert parents <= synced_before and staging in synced_before
