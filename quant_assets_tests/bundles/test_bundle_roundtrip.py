"""Export a lake, import it elsewhere: same bytes, Dagster provenance, and nothing twice.

The round trip and the failed import run with the lake in a local folder and in an S3
bucket (``place_lake``): export reads, import writes, checks and rolls back through it.
"""

from __future__ import annotations

import hashlib
import importlib
import json

import polars as pl
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from quant_assets.assets.checks import ROLLED_BACK_TAG
from quant_assets.bundles.export import export_lake, write_bundle
from quant_assets.bundles.importer import BUNDLE_ID_TAG
from quant_assets.bundles.manifest import Manifest, schema_strings
from quant_assets.bundles.unpack import verify_and_unpack
from quant_assets.bundles.unpacked import UnpackedBundles
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BAR_SCHEMA, BARS_ASSET
from quant_assets.partitions import daily_symbol_partitions
from quant_assets_tests.bundles.archives import (
    PARTS,
    bundle_entries,
    fill_lake,
    fixture_partitions,
    lake_digest,
    read_archive,
    tree_digest,
)


def _lake_bytes(lake: ParquetLake) -> dict[str, bytes]:
    return {str(p): lake.partition_path(BARS_ASSET, p).read_bytes() for p in lake.partitions(BARS_ASSET)}


def test_export_import_roundtrip(home, place_lake, tmp_path, monkeypatch, cli):
    source = fill_lake(place_lake(home))
    originals = _lake_bytes(source)
    archive = tmp_path / "out" / "bundle.tar.gz"

    exported = cli("bundle", "export", "--out", archive, "--start", "2025-10-06", "--end", "2025-10-07")
    assert exported.exit_code == 0, exported.output
    manifest, _ = read_archive(archive)
    assert manifest["bundle_id"] in exported.stdout and "4 files, 1152 rows" in exported.stdout

    # A fresh home, as on the machine without a network.
    target = tmp_path / "offline"
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(target))
    monkeypatch.setenv("DAGSTER_HOME", str(target / "dagster"))
    target_lake = place_lake(target)
    imported = cli("bundle", "import", archive)
    assert imported.exit_code == 0, imported.output
    assert "1 runs, 4 partitions materialized" in imported.stdout and "6 checks passed" in imported.stdout

    lake = ParquetLake(target_lake)
    assert _lake_bytes(lake) == originals

    archive_sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    unpacked = json.loads((target / "bundles" / manifest["bundle_id"] / "LANDED.json").read_text())
    assert unpacked["bundle_sha256"] == archive_sha

    with DagsterInstance.get() as instance:
        key = AssetKey(BARS_ASSET)
        assert instance.get_materialized_partitions(key) == {str(p) for p in PARTS}
        for part in PARTS:
            record = instance.fetch_materializations(AssetRecordsFilter(asset_key=key, asset_partitions=[str(part)]), limit=1).records[0]
            metadata = record.asset_materialization.metadata
            assert metadata["bundle_id"].value == manifest["bundle_id"]
            assert metadata["bundle_sha256"].value == archive_sha
            assert metadata["content_sha256"].value == hashlib.sha256(originals[str(part)]).hexdigest()
            run = instance.get_run_by_id(record.run_id)
            assert run.tags[BUNDLE_ID_TAG] == manifest["bundle_id"]
        runs_before = len(instance.get_runs())

    # Re-import: verified again, then nothing unpacks, nothing runs, nothing changes.
    before = lake_digest(target_lake), tree_digest(target / "bundles")
    again = cli("bundle", "import", archive)
    assert again.exit_code == 0, again.output
    assert "already unpacked" in again.stdout and "0 runs" in again.stdout and "4 already in the lake" in again.stdout
    assert (lake_digest(target_lake), tree_digest(target / "bundles")) == before
    with DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == runs_before


def test_manifest_describes_every_file(home, tmp_path):
    lake = fill_lake(home / "lake")
    manifest = export_lake(lake, tmp_path / "b.tar.gz", PARTS[0].day, PARTS[-1].day)
    assert [f.partition for f in manifest.files] == PARTS
    for entry in manifest.files:
        assert entry.rows == 288
        assert entry.schema == schema_strings(BAR_SCHEMA)
        assert entry.sha256 == lake.file_sha256(BARS_ASSET, entry.partition)
        assert entry.bytes == lake.partition_path(BARS_ASSET, entry.partition).stat().st_size
    # What was written is what the manifest in the archive says, and it parses back equal.
    raw, files = read_archive(tmp_path / "b.tar.gz")
    assert Manifest.from_json(json.dumps(raw)) == manifest
    assert sorted(files) == [f.path for f in manifest.files]


def test_bundle_id_comes_from_content(tmp_path):
    first = write_bundle(tmp_path / "a.tar.gz", bundle_entries())
    second = write_bundle(tmp_path / "b.tar.gz", reversed(bundle_entries()))
    assert first.bundle_id == second.bundle_id
    frames = fixture_partitions()
    frames[0] = (frames[0][0], frames[0][1].head(100))
    assert write_bundle(tmp_path / "c.tar.gz", bundle_entries(frames)).bundle_id != first.bundle_id
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_export_selects_days_symbols_and_refuses_nothing(home, tmp_path, cli):
    fill_lake(home / "lake")
    out = tmp_path / "btc.tar.gz"
    result = cli("bundle", "export", "--out", out, "--start", "2025-10-07", "--end", "2025-10-30", "--symbols", "BTC/USDT")
    assert result.exit_code == 0, result.output
    manifest, files = read_archive(out)
    assert list(files) == ["lake/market_bars/date=2025-10-07/symbol=BTC-USDT/part-0.parquet"]

    empty = cli("bundle", "export", "--out", tmp_path / "none.tar.gz", "--start", "2025-11-01", "--end", "2025-11-02")
    assert empty.exit_code == 1 and "nothing to export" in empty.stderr
    assert not (tmp_path / "none.tar.gz").exists()


def test_unpack_only_unpacks_for_the_bundle_source(home, good_bundle, cli, monkeypatch):
    path, manifest = good_bundle
    # --unpack-only skips the universe check: the benchmark backfills later with its own settings.
    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", "SOL-USDT")
    result = cli("bundle", "import", "--unpack-only", path)
    assert result.exit_code == 0, result.output
    assert "not materialized" in result.stdout
    assert not (home / "lake").exists() and not (home / "dagster").exists()
    frame, provenance = UnpackedBundles(str(home / "bundles")).read(BARS_ASSET, PARTS)
    assert frame.height == 1152 and frame["high"].max() == 126199.63  # BTC's all-time high that day
    assert {p.bundle_id for p in provenance.values()} == {manifest.bundle_id}


def test_unpacking_twice_is_a_no_op_and_reports_progress(home, good_bundle):
    path, manifest = good_bundle
    calls = []
    first = verify_and_unpack(path, home / "bundles", progress=lambda *a: calls.append(a))
    assert calls[-1][:2] == (4, 4) and [c[0] for c in calls] == [1, 2, 3, 4]
    before = tree_digest(home / "bundles")
    second = verify_and_unpack(path, home / "bundles")
    assert second.unpacked_at == first.unpacked_at and tree_digest(home / "bundles") == before
    assert first.files == {(BARS_ASSET, f.partition): f.sha256 for f in manifest.files}


def test_import_fails_when_a_blocking_check_fails(home, place_lake, tmp_path, cli):
    # Verification only vouches for the bytes; a day with missing bars is caught by the
    # same blocking check that guards ingested data, and the import says so.
    frames = fixture_partitions()
    part, frame = frames[0]
    frames[0] = (part, frame.filter(~pl.col("ts").dt.hour().is_in([3])))
    path = tmp_path / "gappy.tar.gz"
    write_bundle(path, bundle_entries(frames))
    lake_root = place_lake(home)
    result = cli("bundle", "import", path)
    assert result.exit_code == 1
    assert "checks failed" in result.stderr and "bars_complete" in result.stderr
    assert "the lake was left as it was (Dagster shows the 3 partitions it had recorded failed)" in result.stderr
    # The run had written all four partitions before the check failed; none is left behind.
    assert lake_digest(lake_root) == {}
    # The failing version went to the lake's quarantine (in the bucket, for an S3 lake).
    assert ParquetLake(lake_root).quarantined(BARS_ASSET) == [part]
    # Dagster does not go on showing the three partitions the import published, then rolled
    # back, as materialized: a run tagged with why records them failed.
    with DagsterInstance.get() as instance:
        published_then_rolled_back = instance.get_materialized_partitions(AssetKey(BARS_ASSET))
        assert len(published_then_rolled_back) == 3 and str(part) not in published_then_rolled_back
        status = instance.get_status_by_partition(AssetKey(BARS_ASSET), [str(p) for p, _ in frames], daily_symbol_partitions())
        assert {key: s.value for key, s in status.items()} == {str(p): "FAILED" for p, _ in frames}
        markers = [run for run in instance.get_runs() if ROLLED_BACK_TAG in run.tags]
        assert markers and all(run.is_failure and run.tags[ROLLED_BACK_TAG].startswith("rolled back: bundle ") for run in markers)


def test_long_imports_and_exports_show_progress(home, good_bundle, tmp_path, cli, monkeypatch):
    # Progress is time-throttled; with no interval every file is reported on stderr.
    # (quant_assets.cli's `bundle` attribute is the click group, so fetch the module itself.)
    monkeypatch.setattr(importlib.import_module("quant_assets.cli.bundle"), "PROGRESS_EVERY_S", 0.0)
    result = cli("bundle", "import", "--unpack-only", good_bundle[0])
    assert result.exit_code == 0, result.output
    assert [line.split(" (")[0] for line in result.stderr.splitlines()] == [f"import: {i}/4 files" for i in range(1, 5)]
    fill_lake(home / "lake")
    exported = cli("bundle", "export", "--out", tmp_path / "again.tar.gz", "--start", "2025-10-06", "--end", "2025-10-07")
    assert exported.exit_code == 0, exported.output
    assert "export: 4 files (read market_bars 2025-10-07|ETH-USDT)" in exported.stderr
    assert "export: 4/4 files" in exported.stderr
