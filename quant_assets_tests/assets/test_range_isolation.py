"""A bad day never holds the good ones hostage: a range run through the README's command.

A 30-day x 3-symbol file drop (the shipped sample bundle's real Binance bars) whose bars stop
at 18:00 on the last day: one ``quant-assets materialize`` publishes market_bars, feature_matrix
and labels for the 29 complete days of every symbol, holds the last day back as not yet
available ("source ends at 2025-10-31 18:00 UTC"), shows it failed (never materialized) in
Dagster, skips its downstream partitions, and ends with a summary that says "partial" and
exit status 3. Dropping the rest of the day and running again publishes it and its downstream.
A bad bar planted mid-range costs that one partition and its downstream, nothing else.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl
import pytest
from click.testing import CliRunner
from dagster import AssetKey, DagsterInstance, build_schedule_context

from quant_assets.automation.schedules import build_source_schedules
from quant_assets.cli import main
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol, daily_symbol_partitions, days_between
from quant_assets.runs import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, PartitionRange
from quant_assets.symbols import Symbol
from quant_assets_tests.lakeseed import copy_bundle_assets

FIRST, LAST = date(2025, 10, 2), date(2025, 10, 31)
SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
ASSETS = ["market_bars", "feature_matrix", "labels"]
SOURCE_END = datetime(2025, 10, 31, 18, 0, tzinfo=timezone.utc)
SPOT_FILE = "binance_spot_5m.parquet"  # the file name the file source reads by default
MID = DaySymbol(date(2025, 10, 15), "ETH-USDT")  # where the planted bad bar goes


def _range(first: date, last: date) -> str:
    return str(PartitionRange(DaySymbol(first, SYMBOLS[0]), DaySymbol(last, SYMBOLS[-1])))


@pytest.fixture
def drop(qa_home, tmp_path, monkeypatch):
    """The sample bundle's bars for FIRST..LAST as one exchange download (ccxt symbols)."""
    seed = tmp_path / "seed"
    copy_bundle_assets(seed, FIRST, LAST, SYMBOLS, assets=(BARS_ASSET,))
    seeded = ParquetLake(str(seed))
    bars = pl.concat(
        [
            seeded.read(BARS_ASSET, DaySymbol(day, symbol)).with_columns(symbol=pl.lit(Symbol.from_key(symbol).spot))
            for day in days_between(FIRST, LAST)
            for symbol in SYMBOLS
        ]
    ).select("symbol", "ts", "open", "high", "low", "close", "volume")
    folder = tmp_path / "drop"
    folder.mkdir()
    monkeypatch.setenv("QUANT_ASSETS_MARKET_SOURCE", "file")
    monkeypatch.setenv("QUANT_ASSETS_FILE_DROP", str(folder))
    monkeypatch.setenv("QUANT_ASSETS_DERIVATIVES_SOURCE", "bundle")
    monkeypatch.setenv("QUANT_ASSETS_SOCIAL_SOURCE", "bundle")
    return folder, bars


def _materialize(first: date, last: date, select=ASSETS):
    return CliRunner().invoke(main, ["materialize", "--select", ",".join(select), "--partition-range", _range(first, last)])


def _materialized(asset: str) -> set[str]:
    with DagsterInstance.get() as instance:
        return set(instance.get_materialized_partitions(AssetKey(asset)))


def _status(asset: str, parts) -> dict[str, str | None]:
    """Each partition's state as the UI shows it (FAILED, MATERIALIZED, or None: missing)."""
    with DagsterInstance.get() as instance:
        found = instance.get_status_by_partition(AssetKey(asset), [str(p) for p in parts], daily_symbol_partitions())
    return {key: (status.value if status is not None else None) for key, status in found.items()}


@pytest.mark.slow
def test_a_source_that_ends_mid_day_costs_that_day_only_and_the_next_run_publishes_it(qa_home, drop):
    folder, bars = drop
    bars.filter(pl.col("ts") < SOURCE_END).write_parquet(folder / SPOT_FILE)
    lake = ParquetLake(str(qa_home / "lake"))
    good = {DaySymbol(d, s) for d in days_between(FIRST, date(2025, 10, 30)) for s in SYMBOLS}
    last_day = {DaySymbol(LAST, s) for s in SYMBOLS}

    result = _materialize(FIRST, LAST)
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # a summary, not a stack trace
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("materialize: partial (exit 3)")
    assert lines[1] == "published: market_bars 87/90, feature_matrix 87/90, labels 87/90"
    for symbol in SYMBOLS:
        assert (
            f"held back: market_bars 2025-10-31|{symbol} not yet available: bars_complete: "
            "source ends at 2025-10-31 18:00 UTC: 72 bars of the day after its end"
        ) in lines
    skipped = "2025-10-31|BTC-USDT, 2025-10-31|ETH-USDT, 2025-10-31|SOL-USDT (their market_bars partitions were held back)"
    assert lines[-2:] == [f"skipped: feature_matrix {skipped}", f"skipped: labels {skipped}"]

    # The lake: every asset's 87 good partitions, nothing of the last day but its report.
    for asset in ASSETS:
        assert set(lake.partitions(asset)) == good, asset
    assert set(lake.quarantined(BARS_ASSET)) == last_day
    report = lake.quarantine_report(BARS_ASSET, DaySymbol(LAST, "BTC-USDT"))
    assert report["state"] == "not yet available" and "source ends at 2025-10-31 18:00 UTC" in report["failed_checks"][0]["why"]
    # Dagster tells the same: the good partitions materialized, the last day not (failed, its
    # reason in the run that held it back; its downstream never ran).
    for asset in ASSETS:
        assert _materialized(asset) == {str(p) for p in good}, asset
    assert set(_status(BARS_ASSET, last_day).values()) == {"FAILED"}
    assert set(_status(BARS_ASSET, good).values()) == {"MATERIALIZED"}

    # Not a data error: the next nightly run asks for that day again, with no person.
    daily, _ = build_source_schedules([BARS_ASSET])
    with DagsterInstance.get() as instance:
        request = daily(build_schedule_context(scheduled_execution_time=datetime(2025, 11, 1, 0, 10, tzinfo=timezone.utc), instance=instance))
    assert (request.partition_key_range.start, request.partition_key_range.end) == ("2025-10-31|BTC-USDT", "2025-10-31|SOL-USDT")

    # The rest of the day arrives; the next run of that day publishes it and its downstream.
    bars.write_parquet(folder / SPOT_FILE)
    again = _materialize(LAST, LAST)
    assert again.exit_code == EXIT_OK, again.output
    assert again.stdout.strip().splitlines()[:2] == ["materialize: ok (exit 0); 1 runs", "published: market_bars 3/3, feature_matrix 3/3, labels 3/3"]
    for asset in ASSETS:
        assert set(lake.partitions(asset)) == good | last_day, asset
        assert _materialized(asset) == {str(p) for p in good | last_day}, asset
    assert lake.quarantined(BARS_ASSET) == []  # the version that passed cleared the report


@pytest.mark.slow
def test_a_bad_bar_mid_range_skips_only_that_partitions_downstream(qa_home, drop):
    folder, bars = drop
    first, last = date(2025, 10, 13), date(2025, 10, 17)
    at = datetime(2025, 10, 15, 12, 0, tzinfo=timezone.utc)
    planted = (pl.col("symbol") == "ETH/USDT") & (pl.col("ts") == at)
    bars.with_columns(close=pl.when(planted).then(float("nan")).otherwise(pl.col("close"))).write_parquet(folder / SPOT_FILE)

    result = _materialize(first, last)
    assert result.exit_code == EXIT_PARTIAL, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[1] == "published: market_bars 14/15, feature_matrix 14/15, labels 14/15"
    assert any(
        line.startswith(f"held back: market_bars {MID} quarantined: bars_ohlc_sane: OHLC sane: 1 offending rows, first 2025-10-15 12:00:00+00:00")
        for line in lines
    ), lines
    lake = ParquetLake(str(qa_home / "lake"))
    rest = {DaySymbol(d, s) for d in days_between(first, last) for s in SYMBOLS} - {MID}
    for asset in ASSETS:
        assert set(lake.partitions(asset)) == rest, asset
        assert _materialized(asset) == {str(p) for p in rest}, asset
    assert lake.quarantined(BARS_ASSET) == [MID]
    assert lines[-2:] == [
        f"skipped: feature_matrix {MID} (their market_bars partitions were held back)",
        f"skipped: labels {MID} (their market_bars partitions were held back)",
    ]


def test_a_run_that_fails_for_another_reason_exits_1_naming_its_step_in_one_line(qa_home, drop):
    folder, _ = drop  # nothing dropped: the source itself fails
    result = _materialize(LAST, LAST, select=["market_bars"])
    assert result.exit_code == EXIT_FAILED, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "materialize: failed (exit 1); 1 runs"
    (failed,) = [line for line in lines if line.startswith("failed: ")]
    assert "market_bars: " in failed and "binance_spot_5m.parquet" in failed and "Traceback" not in result.output


def test_a_bad_range_or_asset_is_one_line(qa_home, drop):
    bad_range = CliRunner().invoke(main, ["materialize", "--select", "market_bars", "--partition-range", "2025-10-02|BTC-USDT"])
    assert bad_range.exit_code == 1 and "expected FIRST...LAST" in bad_range.output and "Traceback" not in bad_range.output
    unknown = _materialize(LAST, LAST, select=["market_bar"])
    assert unknown.exit_code == 1 and "--select: market_bar is not an asset here" in unknown.output
