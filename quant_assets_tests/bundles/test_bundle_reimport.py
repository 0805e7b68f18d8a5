"""Importing bundles over each other: a newer bundle's partitions stay its own, re-importing
an older bundle converges (nothing runs, nothing changes) and says which bundle holds what,
and an import that fails, at verification or at its blocking checks, leaves the published
lake byte-identical."""

from __future__ import annotations

import polars as pl
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from quant_assets.bundles.export import write_bundle
from quant_assets.market.bars import BARS_ASSET
from quant_assets_tests.bundles.archives import PARTS, bundle_entries, fill_lake, fixture_partitions, tree_digest


def _bundle(tmp_path, name, revise=lambda part, frame: frame, symbols=("BTC-USDT", "ETH-USDT")):
    path = tmp_path / name
    frames = [(part, revise(part, frame)) for part, frame in fixture_partitions() if part.symbol in symbols]
    return path, write_bundle(path, bundle_entries(frames))


def _eth_restated(part, frame):
    return frame.with_columns(pl.col("volume") * 2) if part.symbol == "ETH-USDT" else frame


def _provenance(instance) -> dict[str, str]:
    out = {}
    for part in PARTS:
        record = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(BARS_ASSET), asset_partitions=[str(part)]), limit=1).records[0]
        out[str(part)] = record.asset_materialization.metadata["bundle_id"].value
    return out


def test_reimporting_an_older_bundle_converges_and_names_the_holder(home, tmp_path, cli):
    older, old_manifest = _bundle(tmp_path, "older.tar.gz")
    # The newer bundle restates ETH-USDT's two days and holds nothing else.
    newer, new_manifest = _bundle(tmp_path, "newer.tar.gz", _eth_restated, symbols=("ETH-USDT",))
    assert cli("bundle", "import", older).exit_code == 0
    imported = cli("bundle", "import", newer)
    assert imported.exit_code == 0, imported.output
    assert "2 partitions materialized, 0 already in the lake" in imported.stdout

    with DagsterInstance.get() as instance:
        runs_before = len(instance.get_runs())
        provenance = _provenance(instance)
    lake_before = tree_digest(home / "lake")
    eth = [f"{BARS_ASSET} {p}" for p in PARTS if p.symbol == "ETH-USDT"]
    held = f"2 held by bundle {new_manifest.bundle_id}, unpacked later ({', '.join(eth)})"

    for _ in range(2):
        again = cli("bundle", "import", older)
        assert again.exit_code == 0, again.output
        assert f"already unpacked; 0 runs, 0 partitions materialized, 2 already in the lake, {held}" in again.stdout
        assert tree_digest(home / "lake") == lake_before
        with DagsterInstance.get() as instance:
            assert len(instance.get_runs()) == runs_before
            assert _provenance(instance) == provenance
    assert {provenance[str(p)] for p in PARTS if p.symbol == "ETH-USDT"} == {new_manifest.bundle_id}


def test_a_failed_import_leaves_the_lake_byte_identical(home, tmp_path, cli, monkeypatch):
    fill_lake(home / "lake")  # the four partitions, published
    lake_before = tree_digest(home / "lake")
    assert len(lake_before) > 4  # every partition file and folder is hashed

    # Refused at verification: a bundle of days before the first partition day.
    monkeypatch.setenv("QUANT_ASSETS_START_DATE", "2025-10-07")
    refused = cli("bundle", "import", _bundle(tmp_path, "early.tar.gz", _eth_restated)[0])
    assert refused.exit_code == 1 and "refused" in refused.stderr
    assert tree_digest(home / "lake") == lake_before
    monkeypatch.delenv("QUANT_ASSETS_START_DATE")

    # Verified and unpacked, then failing at the materialize step: an hour of bars missing on
    # every partition, which the blocking completeness check catches after the asset ran.
    gappy, _ = _bundle(tmp_path, "gappy.tar.gz", lambda part, frame: frame.filter(pl.col("ts").dt.hour() != 3))
    failed = cli("bundle", "import", gappy)
    assert failed.exit_code == 1 and "bars_complete" in failed.stderr, failed.output
    assert tree_digest(home / "lake") == lake_before
