"""Staging, publication and quarantine of lake partitions (quant_assets.lake.publish).

Readers (the lake's partition listing and reads, DuckDB views) must see a staged partition
only once it is published; checks must see it before; a quarantined one never reaches the
lake and leaves the published version byte-identical. Each test runs on a local lake and on
an S3 one (``lake_root`` in conftest.py), where publishing is a copy, not a rename.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from quant_assets.lake.duckdb_views import lake_views
from quant_assets.lake.publish import StagedLake, sweep_staging
from quant_assets.lake.store import PART_FILE, ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets_tests.bundles.archives import fixture_partitions

PARTS = dict(fixture_partitions())
GOOD, BAD = sorted(PARTS)[:2]


def _stage(lake: ParquetLake, run_id: str, frames: dict) -> StagedLake:
    staged = StagedLake.begin(lake, run_id, BARS_ASSET)
    for part, frame in frames.items():
        staged.write(BARS_ASSET, part, frame)
    staged.seal()
    return staged


def test_staged_partitions_are_invisible_to_readers_until_published(lake, lake_root):
    staged = _stage(lake, "run-1", {GOOD: PARTS[GOOD], BAD: PARTS[BAD]})
    # Staging is a sibling of the lake, under <home>/staging/<run_id>, which no reader scans.
    home = lake_root.removesuffix("/lake")
    assert str(staged.partition_path(BARS_ASSET, GOOD)).startswith(f"{home}/staging/run-1/")
    assert lake.partitions(BARS_ASSET) == [] and not lake.exists(BARS_ASSET, GOOD)
    assert lake.read_many(BARS_ASSET, [GOOD, BAD], missing_ok=True).is_empty()
    assert "market_bars" not in {r[0] for r in lake_views(str(lake.root)).execute("show tables").fetchall()}

    # The checks' view: the run's staged partitions, reopened from the seal in another op.
    audit = StagedLake.sealed(lake, "run-1", BARS_ASSET)
    assert audit.staged == {GOOD, BAD}
    assert audit.read_many(BARS_ASSET, [GOOD, BAD]).height == PARTS[GOOD].height + PARTS[BAD].height
    assert StagedLake.sealed(lake, "another-run", BARS_ASSET) is None

    staged_sha = audit.file_sha256(BARS_ASSET, GOOD)
    publication = audit.publish({BAD: [{"check": "bars_unique", "why": "planted"}]})
    assert publication.published == [GOOD] and publication.quarantined == [BAD]
    assert lake.partitions(BARS_ASSET) == [GOOD]
    assert lake.file_sha256(BARS_ASSET, GOOD) == staged_sha  # a rename or copy: the hash recorded at staging holds
    assert lake_views(str(lake.root)).execute("select count(*) from market_bars").fetchone() == (PARTS[GOOD].height,)
    assert not (lake.staging_root / "run-1").exists()  # nothing left behind
    assert str(lake.staging_root) == f"{home}/staging"


def test_a_failed_version_is_quarantined_with_a_report_and_the_published_one_is_untouched(lake):
    _stage(lake, "run-1", {BAD: PARTS[BAD]})
    StagedLake.sealed(lake, "run-1", BARS_ASSET).publish({})
    before = lake.partition_path(BARS_ASSET, BAD).read_bytes()

    broken = pl.concat([PARTS[BAD], PARTS[BAD].head(1)])  # a duplicated bar
    staged = _stage(lake, "run-2", {BAD: broken})
    staged_sha = staged.file_sha256(BARS_ASSET, BAD)
    StagedLake.sealed(lake, "run-2", BARS_ASSET).publish({BAD: [{"check": "bars_unique", "why": "1 duplicate"}]})

    assert lake.partition_path(BARS_ASSET, BAD).read_bytes() == before
    assert lake.quarantined(BARS_ASSET) == [BAD]
    report = lake.quarantine_report(BARS_ASSET, BAD)
    assert report["run_id"] == "run-2" and report["partition"] == str(BAD)
    assert report["failed_checks"] == [{"check": "bars_unique", "why": "1 duplicate"}]
    assert report["sha256"] == staged_sha
    assert report["published_sha256"] == lake.file_sha256(BARS_ASSET, BAD)
    quarantined = pl.read_parquet((lake.quarantine_dir(BARS_ASSET, BAD) / PART_FILE).read_bytes())
    assert quarantined.height == broken.height
    assert "bars_unique failed" in lake.quarantine_note(BARS_ASSET, BAD)

    # A later version that passes is published and clears the quarantine.
    _stage(lake, "run-3", {BAD: PARTS[BAD]})
    StagedLake.sealed(lake, "run-3", BARS_ASSET).publish({})
    assert lake.quarantined(BARS_ASSET) == [] and lake.quarantine_note(BARS_ASSET, BAD) == ""


def test_the_overlay_reads_other_assets_and_unstaged_days_from_the_published_lake(lake):
    lake.write("derivatives", GOOD, PARTS[GOOD])  # stands in for an upstream asset
    lake.write(BARS_ASSET, GOOD, PARTS[GOOD])
    staged = _stage(lake, "run-1", {BAD: PARTS[BAD]})
    assert staged.partition_path("derivatives", GOOD) == lake.partition_path("derivatives", GOOD)
    assert staged.partition_path(BARS_ASSET, GOOD) == lake.partition_path(BARS_ASSET, GOOD)
    assert staged.partition_path(BARS_ASSET, BAD) != lake.partition_path(BARS_ASSET, BAD)
    assert staged.partitions(BARS_ASSET) == sorted([GOOD, BAD])
    # One staging holds one asset: anything else is a wiring bug, refused.
    with pytest.raises(ValueError, match="staging of market_bars for run run-1 cannot take derivatives"):
        staged.write("derivatives", BAD, PARTS[BAD])
    marker = json.loads((staged.area / "STAGED.json").read_text())
    assert marker == {"asset": BARS_ASSET, "run_id": "run-1", "partitions": [str(BAD)]}


def test_a_killed_runs_staging_is_read_by_nobody_and_swept_once_the_run_is_over(lake, tmp_path):
    from datetime import date

    from quant_assets.bundles.export import export_lake
    from quant_assets.bundles.manifest import BundleError

    # A run killed after sealing, before its audit published: its partitions sit in staging.
    _stage(lake, "killed-run", {GOOD: pl.concat([PARTS[GOOD], PARTS[GOOD].head(1)])})
    assert lake.partitions(BARS_ASSET) == [] and lake.quarantined(BARS_ASSET) == []
    assert lake.read_many(BARS_ASSET, [GOOD], missing_ok=True).is_empty()
    assert lake_views(str(lake.root)).execute("show tables").fetchall() == []
    with pytest.raises(BundleError, match="no stored partitions"):
        export_lake(lake, tmp_path / "out.tar.gz", date(2025, 1, 1), date(2030, 1, 1), assets=[BARS_ASSET])
    # Another run's checks do not audit it either: a run reads its own staging only.
    assert StagedLake.sealed(lake, "another-run", BARS_ASSET) is None

    # Swept only when its run is known to be over: an unknown or running one is kept.
    assert sweep_staging(lake, lambda run_id: False) == []
    assert (lake.staging_root / "killed-run").exists()
    assert sweep_staging(lake, lambda run_id: run_id == "killed-run") == ["killed-run"]
    assert not (lake.staging_root / "killed-run").exists()
