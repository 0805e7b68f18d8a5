"""market_bars through Dagster: real bars in, per-partition metadata out, bad bars blocked."""

from datetime import date, timedelta

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, asset, materialize

from quant_assets.assets import market_checks
from quant_assets.assets.market import market_bars
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol, daily_symbol_partitions
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.market_data import FileDropMarketData
from quant_assets.runs import PartitionRange
from quant_assets_tests.checkresults import checks_by_name

CHECKS = [market_checks.market_bars_checks]
DAYS = PartitionRange(DaySymbol(date(2025, 10, 5), "BTC-USDT"), DaySymbol(date(2025, 10, 7), "SOL-USDT"))


@asset(partitions_def=daily_symbol_partitions(), deps=[market_bars])
def downstream_probe() -> None:
    """Stands in for any consumer of bars: it must never run after a failed blocking check."""


def _run(lake_root, folder, instance, rect=DAYS, with_probe=False, selection=None):
    assets = [market_bars, *CHECKS] + ([downstream_probe] if with_probe else [])
    return materialize(
        assets,
        selection=selection,
        resources={
            "lake": LakeResource(root=str(lake_root)),
            "market_data": FileDropMarketData(folder=str(folder), source_name="binance-spot"),
        },
        instance=instance,
        tags=rect.tags,
        raise_on_error=False,
    )


def _checks(result, instance=None) -> dict[str, object]:
    """The run's check results (from the audit op, or recorded by a step that held partitions back)."""
    if instance is None:
        return {e.check_name: e for e in result.get_asset_check_evaluations()}
    return checks_by_name(result, instance)


def materialized_hashes(instance, asset: str = "market_bars") -> dict[str, str]:
    """What Dagster shows materialized, per partition: the newest materialization's file hash
    (recorded in the run, or by a step that held partitions back, through the instance)."""
    records = instance.fetch_materializations(AssetKey(asset), limit=10_000, ascending=True).records
    return {r.asset_materialization.partition: r.asset_materialization.metadata["content_sha256"].value for r in records}


def test_real_bars_materialize_with_metadata_and_pass_every_check(qa_home, drop_folder):
    lake_root = qa_home / "lake"
    with DagsterInstance.ephemeral() as instance:
        result = _run(lake_root, drop_folder, instance, with_probe=True)
        assert result.success
        checks = _checks(result)
        assert set(checks) == set(market_checks.CHECKS)
        assert all(e.passed for e in checks.values()), {n: e.description for n, e in checks.items()}
        mats = result.asset_materializations_for_node("market_bars")
        assert len(mats) == 9  # 3 days x 3 symbols, one event each
        by_partition = {m.partition: m.metadata for m in mats}
        btc = by_partition["2025-10-06|BTC-USDT"]
        assert btc["rows"].value == 288
        assert btc["first_ts"].value == "2025-10-06 00:00:00+00:00"
        lake = ParquetLake(str(lake_root))
        assert btc["content_sha256"].value == lake.file_sha256("market_bars", DaySymbol(date(2025, 10, 6), "BTC-USDT"))
        assert len(result.asset_materializations_for_node("downstream_probe")) == 9

    # The all-time high of 2025-10-06 is in the stored bars (README sanity fact).
    bars = lake.read("market_bars", DaySymbol(date(2025, 10, 6), "BTC-USDT"))
    assert bars["high"].max() == 126199.63
    assert (bars["available_at"] - bars["ts"]).unique().to_list() == [timedelta(minutes=5)]


def test_rematerializing_gives_identical_bytes(qa_home, drop_folder):
    lake = ParquetLake(str(qa_home / "lake"))
    part = DaySymbol(date(2025, 10, 7), "ETH-USDT")
    with DagsterInstance.ephemeral() as instance:
        first = _run(lake.root, drop_folder, instance)
        before = lake.file_sha256("market_bars", part)
        second = _run(lake.root, drop_folder, instance)
    assert before == lake.file_sha256("market_bars", part)
    hashes = [{m.partition: m.metadata["content_sha256"].value for m in r.asset_materializations_for_node("market_bars")} for r in (first, second)]
    assert hashes[0] == hashes[1]


def _plant(folder, mutate) -> None:
    path = folder / "spot.parquet"
    frame = pl.read_parquet(path)
    mutate(frame).write_parquet(path)


BTC = pl.col("symbol") == "BTC/USDT"
AT = pl.col("ts") == pl.datetime(2025, 10, 6, 12, 0, time_zone="UTC")

PLANTED = {
    "duplicate": ("bars_unique", lambda f: pl.concat([f, f.filter(BTC & AT)])),
    "gap": ("bars_complete", lambda f: f.filter(~(BTC & AT))),
    "nan": ("bars_ohlc_sane", lambda f: f.with_columns(close=pl.when(BTC & AT).then(float("nan")).otherwise(pl.col("close")))),
    "high_below_low": ("bars_ohlc_sane", lambda f: f.with_columns(high=pl.when(BTC & AT).then(pl.col("low") - 1).otherwise(pl.col("high")))),
    "off_grid": ("bars_on_grid", lambda f: f.with_columns(ts=pl.when(BTC & AT).then(pl.col("ts") + pl.duration(minutes=2)).otherwise(pl.col("ts")))),
}


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_planted_bad_bar_fails_its_check_and_blocks_downstream(qa_home, drop_folder, planted):
    check_name, mutate = PLANTED[planted]
    _plant(drop_folder, mutate)
    with DagsterInstance.ephemeral() as instance:
        result = _run(qa_home / "lake", drop_folder, instance, with_probe=True)
        checks = _checks(result, instance)
    failed = {name for name, e in checks.items() if not e.passed}
    assert check_name in failed, {n: e.description for n, e in checks.items()}
    evaluation = checks[check_name]
    named = str(evaluation.metadata.get("offending_preview") or evaluation.metadata.get("missing_preview"))
    assert "BTC-USDT" in named and "2025-10-06 12:0" in named
    assert not result.success
    assert result.asset_materializations_for_node("downstream_probe") == []


def test_wrong_dtype_written_to_the_lake_fails_the_schema_check(qa_home, drop_folder, monkeypatch):
    """A writer bug (volume stored as Float32) is caught from the stored files' footers."""
    from quant_assets.assets import market

    real_split = market.split_partitions

    def float32_volume(frame, parts):
        return [(part, bars.with_columns(pl.col("volume").cast(pl.Float32))) for part, bars in real_split(frame, parts)]

    monkeypatch.setattr(market, "split_partitions", float32_volume)
    with DagsterInstance.ephemeral() as instance:
        result = _run(qa_home / "lake", drop_folder, instance, with_probe=True)
        schema = _checks(result, instance)["bars_schema"]
    assert not schema.passed
    assert "2025-10-05|BTC-USDT: column volume is Float32, expected Float64" in schema.description
    assert result.asset_materializations_for_node("downstream_probe") == []


def test_a_single_partition_run_is_checked_and_published(qa_home, drop_folder):
    """One day of one symbol, as the automation sensor or the UI launches it (a partition key,
    not a range): the checks cover that partition and publish it."""
    part = DaySymbol(date(2025, 10, 6), "ETH-USDT")
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [market_bars, *CHECKS],
            resources={
                "lake": LakeResource(root=str(qa_home / "lake")),
                "market_data": FileDropMarketData(folder=str(drop_folder), source_name="binance-spot"),
            },
            instance=instance,
            partition_key=str(part),
            raise_on_error=False,
        )
    assert result.success
    checks = _checks(result)
    assert set(checks) == set(market_checks.CHECKS) and all(e.passed for e in checks.values())
    assert ParquetLake(str(qa_home / "lake")).read("market_bars", part).height == 288
