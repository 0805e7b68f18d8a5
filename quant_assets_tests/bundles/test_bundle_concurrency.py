"""Two bundle commands in one home queue on its lock: one unpacked copy, the right provenance,
and a clear line for the one that waited or gave up; never an OSError, never one import
removing what the other unpacked.

A thread holds the lock while both imports start, so they really overlap every time.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from quant_assets import settings
from quant_assets.bundles.export import write_bundle
from quant_assets.bundles.limits import LOCK_TIMEOUT_ENV
from quant_assets.bundles.lock import bundle_lock
from quant_assets.bundles.unpack import unpack
from quant_assets.bundles.unpacked import UNPACKED_MARKER, UnpackedBundles
from quant_assets.cli.bundle import import_bundle
from quant_assets.market.bars import BARS_ASSET
from quant_assets_tests.bundles.archives import PARTS, bundle_entries, fixture_partitions

WAITING = "waiting for another bundle import or export to finish"
REPO = Path(__file__).parents[2]


@contextmanager
def lock_held_elsewhere(bundles_root: Path):
    """The home's bundle lock, held by another thread until the block ends."""
    taken, done = threading.Event(), threading.Event()

    def hold():
        with bundle_lock(bundles_root, timeout_s=5):
            taken.set()
            done.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        done.set()
        holder.join(10)


def _until(condition, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_two_imports_of_one_bundle_queue_and_unpack_one_copy(home, good_bundle):
    root = home / "bundles"
    unpackings, errors, waited = [], [], []

    def run():
        try:
            unpackings.append(unpack(good_bundle[0], root, on_wait=waited.append))
        except BaseException as err:  # noqa: BLE001 - the assertion below shows it
            errors.append(err)

    with lock_held_elsewhere(root):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        _until(lambda: len(waited) == 2)
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert all(WAITING in line and LOCK_TIMEOUT_ENV in line for line in waited), waited
    assert sorted(unpacking.fresh for unpacking in unpackings) == [False, True]
    assert {unpacking.bundle.unpacked_at for unpacking in unpackings} == {unpackings[0].bundle.unpacked_at}  # the same unpacked copy
    assert sorted(p.name for p in root.iterdir()) == [".lock", good_bundle[1].bundle_id]


def _newer_bundle(tmp_path) -> Path:
    """The fixture with ETH-USDT's two days revised (volume restated): overlaps the good bundle."""
    frames = [(part, frame.with_columns(pl.col("volume") * 2) if part.symbol == "ETH-USDT" else frame) for part, frame in fixture_partitions()]
    path = tmp_path / "newer.tar.gz"
    write_bundle(path, bundle_entries(frames))
    return path


def test_another_process_queues_on_the_lock(home, good_bundle, tmp_path):
    # The lock is an OS lock on a file: a separate process waits for it as a thread does.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    log = tmp_path / "import.err"
    command = [sys.executable, "-c", "from quant_assets.cli import main; main()", "bundle", "import", "--unpack-only"]
    with lock_held_elsewhere(home / "bundles"):
        proc = subprocess.Popen([*command, str(good_bundle[0])], env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
        _until(lambda: WAITING in log.read_text(), timeout_s=120)
        time.sleep(0.5)
        assert proc.poll() is None and not (home / "bundles" / good_bundle[1].bundle_id).exists()
    assert proc.wait(timeout=120) == 0, log.read_text()
    assert [b.bundle_id for b in UnpackedBundles(str(home / "bundles")).bundles()] == [good_bundle[1].bundle_id]


def test_two_imports_at_once_end_with_the_right_provenance(home, good_bundle, tmp_path, capsys):
    # Two overlapping bundles imported through Dagster at the same time.
    newer = _newer_bundle(tmp_path)
    errors, seen = [], []

    def run(archive):
        try:
            import_bundle(archive)
        except BaseException as err:  # noqa: BLE001 - the assertion below shows it
            errors.append(err)

    def both_waiting() -> bool:
        seen.append(capsys.readouterr().err)
        return "".join(seen).count(WAITING) == 2

    with lock_held_elsewhere(home / "bundles"):
        threads = [threading.Thread(target=run, args=(archive,)) for archive in (good_bundle[0], newer)]
        for thread in threads:
            thread.start()
        _until(both_waiting)
    for thread in threads:
        thread.join(120)
    assert errors == []

    # Both unpacked, neither removed the other. Each partition's lake file is the file of the
    # bundle unpacked last that has it, and Dagster's metadata names a bundle holding exactly
    # those bytes (BTC-USDT's are the same in both; ETH-USDT's only in the one that won).
    bundles = UnpackedBundles(settings.home().bundles)
    by_id = {b.bundle_id: b for b in bundles.bundles()}
    assert len(by_id) == 2
    holders = bundles.locate(BARS_ASSET, PARTS)
    with DagsterInstance.get() as instance:
        for part in PARTS:
            lake_file = home / "lake" / BARS_ASSET / f"date={part.day}" / f"symbol={part.symbol}" / "part-0.parquet"
            lake_sha = hashlib.sha256(lake_file.read_bytes()).hexdigest()
            assert lake_sha == holders[part].files[(BARS_ASSET, part)]
            metadata = (
                instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(BARS_ASSET), asset_partitions=[str(part)]), limit=1)
                .records[0]
                .asset_materialization.metadata
            )
            assert metadata["content_sha256"].value == lake_sha
            assert by_id[metadata["bundle_id"].value].files[(BARS_ASSET, part)] == lake_sha
            if part.symbol == "ETH-USDT":
                assert metadata["bundle_id"].value == holders[part].bundle_id


def test_an_import_that_waits_too_long_is_refused_in_one_line(home, good_bundle, cli, monkeypatch):
    monkeypatch.setenv(LOCK_TIMEOUT_ENV, "0.2")
    with lock_held_elsewhere(home / "bundles"):
        result = cli("bundle", "import", good_bundle[0])
        exported = cli("bundle", "export", "--out", home / "out.tar.gz", "--start", "2025-10-06", "--end", "2025-10-07")
    assert result.exit_code == 1, result.output
    waited, refused = result.stderr.strip().splitlines()
    assert WAITING in waited
    assert refused == (
        f"Error: bundle good.tar.gz refused: another bundle import or export held {home / 'bundles' / '.lock'} "
        f"for more than 0.2 s ({LOCK_TIMEOUT_ENV}); nothing was changed, try again when it has finished"
    )
    assert sorted(p.name for p in (home / "bundles").iterdir()) == [".lock"]
    assert exported.exit_code == 1 and "bundle export refused: another bundle import or export held" in exported.stderr
    # Once the lock is free the same import goes through, and unpacking re-enters the lock the
    # command already holds instead of waiting on itself.
    again = cli("bundle", "import", "--unpack-only", good_bundle[0])
    assert again.exit_code == 0 and WAITING not in again.stderr, again.output
    assert (home / "bundles" / good_bundle[1].bundle_id / UNPACKED_MARKER).exists()
