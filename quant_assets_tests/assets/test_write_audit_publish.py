"""Write, audit, publish through Dagster: a partition that fails a blocking check of
market_bars is never read, by a later run, by export or by SQL.

Bad bars are planted where they really come from (the exchange download the asset reads),
market_bars is materialized (its checks fail), and every reader is then shown the lake.
"""

from __future__ import annotations

from datetime import date

import polars as pl
from click.testing import CliRunner
from dagster import AssetSelection, DagsterInstance

from quant_assets.assets.market import market_bars
from quant_assets.cli import main
from quant_assets.features.lake_io import read_partition, recorded_inputs
from quant_assets.lake.duckdb_views import lake_views
from quant_assets.lake.store import PART_FILE, ParquetLake, sha256_bytes
from quant_assets.partitions import DaySymbol
from quant_assets_tests.assets.test_market_bars import (
    PLANTED,
    _checks,
    _plant,
    _run,
    materialized_hashes,
)
from quant_assets_tests.features import feature_location

BAD = DaySymbol(date(2025, 10, 6), "BTC-USDT")  # where PLANTED puts its bad bar
NEIGHBOUR = DaySymbol(date(2025, 10, 6), "ETH-USDT")


def test_bad_bars_are_quarantined_and_a_separate_feature_run_does_not_read_them(qa_home, drop_folder):
    lake = ParquetLake(str(qa_home / "lake"))
    _plant(drop_folder, PLANTED["duplicate"][1])
    with DagsterInstance.ephemeral() as instance:
        bars_run = _run(lake.root, drop_folder, instance)
        assert not bars_run.success

        # Only the partition that failed is held back; the other eight are published.
        assert BAD not in lake.partitions("market_bars") and len(lake.partitions("market_bars")) == 8
        assert lake.quarantined("market_bars") == [BAD]
        report = lake.quarantine_report("market_bars", BAD)
        assert {f["check"] for f in report["failed_checks"]} == {"bars_unique", "bars_sorted"}
        assert "2025-10-06 12:00" in report["failed_checks"][0]["why"] and report["published_sha256"] is None
        assert report["state"] == "quarantined"
        assert sha256_bytes((lake.quarantine_dir("market_bars", BAD) / PART_FILE).read_bytes()) == report["sha256"]
        # Dagster shows the eight published partitions materialized, each with its published
        # file's hash, and never the quarantined one; the step's failure names it and why.
        hashes = materialized_hashes(instance)
        assert set(hashes) == {str(p) for p in lake.partitions("market_bars")} and str(BAD) not in hashes
        assert hashes[str(NEIGHBOUR)] == lake.file_sha256("market_bars", NEIGHBOUR)
        (failure,) = bars_run.get_step_failure_events()
        message = failure.step_failure_data.user_failure_data.description
        assert message.startswith("market_bars: 8 partitions published, 1 held back (2025-10-06|BTC-USDT quarantined: bars_sorted: ")

        # A separate run of feature_matrix for the same day does not read the bad bars.
        (features_run,) = feature_location.run_features(str(lake.root), (BAD.day, BAD.day), [BAD.symbol], instance)
    assert features_run.success
    frame, kv = read_partition(lake, BAD)
    assert recorded_inputs(kv)["market_bars"] == [date(2025, 10, 5)]  # the published day before, not the bad day
    # Bars after 10-05's last bar are absent, not guessed: the 5m bar features of the day are missing.
    # The absent day leaves every bar window of the day incomplete: flagged missing, not guessed.
    assert frame.height == 288 and frame["bars_5m_missing"].all() and frame["asof_bars"].is_null().all()
    (meta,) = [m.metadata for m in features_run.asset_materializations_for_node("feature_matrix")]
    note = meta["upstream_notes"].value
    assert "market_bars: partitions 2025-10-06 (quarantined: bars_sorted, bars_unique failed, see " in note
    assert "report.json" in note


def test_the_published_version_survives_a_failed_rematerialization_byte_identical(qa_home, drop_folder):
    lake = ParquetLake(str(qa_home / "lake"))
    with DagsterInstance.ephemeral() as instance:
        assert _run(lake.root, drop_folder, instance).success
        before = lake.partition_path("market_bars", BAD).read_bytes()
        _plant(drop_folder, PLANTED["nan"][1])
        failed = _run(lake.root, drop_folder, instance)
        # The partitions that passed were re-published unchanged; the audit reported what it did.
        evaluation = _checks(failed, instance)["bars_ohlc_sane"]
        # Dagster still shows the published version of the partition, not the rejected one.
        assert materialized_hashes(instance)[str(BAD)] == sha256_bytes(before)
    assert not failed.success
    assert lake.partition_path("market_bars", BAD).read_bytes() == before
    report = lake.quarantine_report("market_bars", BAD)
    assert report["failed_checks"][0]["check"] == "bars_ohlc_sane"
    assert report["published_sha256"] == sha256_bytes(before) != report["sha256"]
    # SQL over the lake sees the good version: no NaN close on 2025-10-06 12:00.
    nan_closes = lake_views(str(lake.root)).execute("select count(*) from market_bars where symbol = 'BTC-USDT' and isnan(close)").fetchone()
    assert nan_closes == (0,)
    assert evaluation.metadata["partitions_quarantined"].value == 1
    assert evaluation.metadata["partitions_published"].value == 8
    assert evaluation.metadata["failing_partitions"].value == str(BAD)


def test_export_refuses_quarantined_partitions_naming_them(qa_home, drop_folder):
    lake = ParquetLake(str(qa_home / "lake"))
    _plant(drop_folder, PLANTED["gap"][1])
    with DagsterInstance.ephemeral() as instance:
        assert not _run(lake.root, drop_folder, instance).success
    assert lake.quarantined("market_bars") == [BAD]

    out = qa_home / "bars.tar.gz"
    args = ["bundle", "export", "--out", str(out), "--start", "2025-10-05", "--end", "2025-10-07", "--assets", "market_bars"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1 and not out.exists()
    line = refused.output.strip()
    assert "\n" not in line
    assert "1 selected partitions are quarantined" in line and "market_bars 2025-10-06|BTC-USDT" in line
    assert "bars_complete failed" in line and "report.json" in line
    # Leaving it out exports the rest.
    ok = CliRunner().invoke(main, [*args, "--symbols", "ETH-USDT,SOL-USDT"])
    assert ok.exit_code == 0, ok.output
    assert "6 files" in ok.output


def test_an_asset_run_without_its_checks_is_refused_before_writing(qa_home, drop_folder):
    lake_root = qa_home / "lake"
    with DagsterInstance.ephemeral() as instance:
        result = _run(lake_root, drop_folder, instance, selection=AssetSelection.assets(market_bars).without_checks())
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "market_bars is published only after its blocking checks pass" in str(failure.message) + str(failure.cause)
    assert not lake_root.exists() and not (qa_home / "staging").exists()


def test_the_six_bar_checks_share_one_read_of_the_run(qa_home, drop_folder, monkeypatch):
    """One op, one scan of the staged bars for all six checks (each used to read them again)."""
    reads = []
    real = ParquetLake.read_many

    def counted(self, asset, parts, *args, **kwargs):
        reads.append((type(self).__name__, asset))
        return real(self, asset, parts, *args, **kwargs)

    monkeypatch.setattr(ParquetLake, "read_many", counted)
    with DagsterInstance.ephemeral() as instance:
        result = _run(qa_home / "lake", drop_folder, instance)
    assert result.success
    assert len(result.get_asset_check_evaluations()) == 6
    assert reads == [("StagedLake", "market_bars")]


def test_a_staging_left_by_a_killed_run_is_ignored_then_swept_by_the_next_run(qa_home, drop_folder):
    from quant_assets.lake.publish import StagedLake

    lake = ParquetLake(str(qa_home / "lake"))
    with DagsterInstance.ephemeral() as instance:
        first = _run(lake.root, drop_folder, instance)
        assert first.success
        good = lake.partition_path("market_bars", BAD).read_bytes()
        # What a run killed between sealing and publishing leaves: bad bars, staged and sealed.
        killed = StagedLake.begin(lake, first.run_id, "market_bars")
        killed.write("market_bars", BAD, lake.read("market_bars", BAD).with_columns(close=pl.lit(float("nan"))))
        killed.seal()
        assert (lake.staging_root / first.run_id).exists()
        # Nobody reads it: the lake and SQL see the published bars.
        assert lake.partition_path("market_bars", BAD).read_bytes() == good
        assert lake_views(str(lake.root)).execute("select count(*) from market_bars where isnan(close)").fetchone() == (0,)
        # The next staging of this instance removes it: its run is over.
        second = _run(lake.root, drop_folder, instance)
    assert second.success
    assert not (lake.staging_root / first.run_id).exists() and not any(lake.staging_root.iterdir())
    assert lake.partition_path("market_bars", BAD).read_bytes() == good
