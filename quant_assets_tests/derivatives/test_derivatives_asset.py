"""derivatives through Dagster: real data in, per-partition coverage out, bad rows blocked."""

import shutil
from datetime import date, timedelta

import polars as pl
import pytest
from dagster import AssetKey, BackfillPolicy, DagsterInstance, asset, materialize

from quant_assets.assets import derivatives_checks, market_checks
from quant_assets.assets.derivatives import DERIVATIVES_GROUP, derivatives
from quant_assets.assets.market import market_bars
from quant_assets.derivatives.frame import DERIVATIVES_ASSET, FUNDING, MARK, STAT_METRICS
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol, daily_symbol_partitions
from quant_assets.resources.derivatives_data import FileDropDerivatives
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.market_data import FileDropMarketData
from quant_assets.runs import PartitionRange
from quant_assets_tests.checkresults import checks_by_name
from quant_assets_tests.conftest import SPOT_FIXTURE
from quant_assets_tests.derivatives.binance_fixtures import DERIV_FIXTURES, at

CHECKS = [derivatives_checks.derivatives_checks]
DAYS = PartitionRange(DaySymbol(date(2025, 10, 5), "BTC-USDT"), DaySymbol(date(2025, 10, 7), "SOL-USDT"))
BTC_1006 = DaySymbol(date(2025, 10, 6), "BTC-USDT")


@asset(partitions_def=daily_symbol_partitions(), deps=[derivatives], backfill_policy=BackfillPolicy.single_run())
def derivatives_consumer() -> None:
    """Stands in for the feature matrix: it must never run after a failed blocking check."""


class EarlyMarkDerivatives(FileDropDerivatives):
    """A source with one bug: the 10:00 BTC mark close claims to be known at 10:00."""

    def fetch(self, parts, now, spot_bars):
        frame, meta = super().fetch(parts, now, spot_bars)
        bad = (pl.col("symbol") == "BTC-USDT") & (pl.col("metric") == MARK) & (pl.col("event_time") == at(2025, 10, 6, 10))
        return frame.with_columns(available_at=pl.when(bad).then(pl.col("event_time")).otherwise(pl.col("available_at"))), meta


@pytest.fixture
def folders(tmp_path):
    spot = tmp_path / "spot"
    spot.mkdir()
    shutil.copy(SPOT_FIXTURE, spot / "spot.parquet")
    deriv = tmp_path / "derivatives"
    shutil.copytree(DERIV_FIXTURES, deriv, ignore=shutil.ignore_patterns("binance", "*.py", "*.md"))
    return spot, deriv


def _run(lake_root, folders, instance, source=None, with_bars=True, with_consumer=False, rect=DAYS):
    spot, deriv = folders
    assets = [derivatives, *CHECKS]
    if with_bars:  # with its checks, which publish the bars derivatives read
        assets[:0] = [market_bars, market_checks.market_bars_checks]
    if with_consumer:
        assets.append(derivatives_consumer)
    return materialize(
        assets,
        resources={
            "lake": LakeResource(root=str(lake_root)),
            "market_data": FileDropMarketData(folder=str(spot), source_name="binance-spot"),
            "derivatives_data": source or FileDropDerivatives(folder=str(deriv)),
        },
        instance=instance,
        tags=rect.tags,
        raise_on_error=False,
    )


def _checks(result, instance) -> dict:
    return checks_by_name(result, instance)


def test_asset_definition_shows_group_kinds_description_and_depends_on_bars():
    spec = derivatives.specs_by_key[AssetKey(DERIVATIVES_ASSET)]
    assert spec.group_name == DERIVATIVES_GROUP == "derivatives"
    assert {"polars", "parquet"} <= set(spec.kinds)
    assert "is_missing" in spec.description and "available" in spec.description
    assert [d.asset_key for d in spec.deps] == [AssetKey("market_bars")]
    assert all(spec.blocking for c in CHECKS for spec in c.check_specs)


def test_real_data_materializes_with_coverage_metadata_and_passes_every_check(qa_home, folders):
    lake_root = qa_home / "lake"
    with DagsterInstance.ephemeral() as instance:
        result = _run(lake_root, folders, instance, with_consumer=True)
        assert result.success
        checks = _checks(result, instance)
        assert set(checks) == set(derivatives_checks.CHECKS) | set(market_checks.CHECKS)
        assert all(e.passed for e in checks.values()), {n: e.description for n, e in checks.items()}
        mats = result.asset_materializations_for_node(DERIVATIVES_ASSET)
        assert len(mats) == 9
        assert len(result.asset_materializations_for_node("derivatives_consumer")) == 9

    meta = {m.partition: m.metadata for m in mats}["2025-10-06|BTC-USDT"]
    assert meta["rows"].value == 3 + 24 * 6
    assert meta["rows_funding_rate"].value == 3 and meta["funding_events"].value == 3
    assert meta["funding_interval_hours"].value == 8.0
    assert meta["coverage_mark_close"].value == 1.0 and meta["coverage_basis_bps"].value == 1.0
    for metric in STAT_METRICS:  # October has no statistics in the shipped data: shown, not hidden
        assert meta[f"coverage_{metric}"].value == 0.0 and meta[f"missing_{metric}"].value == 24
    assert meta["first_ts"].value == "2025-10-06 00:00:00+00:00"
    assert meta["last_ts"].value == "2025-10-06 23:00:00+00:00"
    assert meta["spot_bars"].value == "present"
    assert meta["source"].value == "file:binance-usdm"
    lake = ParquetLake(str(lake_root))
    assert meta["content_sha256"].value == lake.file_sha256(DERIVATIVES_ASSET, BTC_1006)

    stored = lake.read(DERIVATIVES_ASSET, BTC_1006)
    funding = stored.filter(pl.col("metric") == FUNDING)
    assert funding["value"].to_list() == [7.672e-05, 9.708e-05, 5.831e-05]
    assert (funding["available_at"] == funding["event_time"]).all()
    mark = stored.filter(pl.col("metric") == MARK)
    assert ((mark["available_at"] - mark["event_time"]) == timedelta(hours=1)).all()
    assert mark.filter(pl.col("event_time") == at(2025, 10, 6, 10))["value"].item() == 123928.97511594


def test_without_market_bars_the_basis_is_flagged_missing(qa_home, folders):
    one = PartitionRange(BTC_1006, BTC_1006)
    with DagsterInstance.ephemeral() as instance:
        result = _run(qa_home / "lake", folders, instance, with_bars=False, rect=one)
    assert result.success
    meta = result.asset_materializations_for_node(DERIVATIVES_ASSET)[0].metadata
    assert meta["coverage_basis_bps"].value == 0.0 and meta["coverage_mark_close"].value == 1.0
    assert meta["spot_bars"].value.startswith("absent")


def _plant_file(folder, name, mutate) -> None:
    path = folder / name
    mutate(pl.read_parquet(path)).write_parquet(path)


BTC_PERP = pl.col("symbol") == "BTC/USDT:USDT"
AT_0800 = pl.col("ts") == at(2025, 10, 6, 8)
FUNDING_FILE = "binance_usdm_funding_rate.parquet"
MARK_FILE = "binance_usdm_mark_1h.parquet"

PLANTED = {
    "available_at_early": ("derivatives_available_at", None),
    "duplicate_funding": ("derivatives_unique", (FUNDING_FILE, lambda f: pl.concat([f, f.filter(BTC_PERP & AT_0800)]))),
    "funding_in_percent": (
        "derivatives_funding_sane",
        (
            FUNDING_FILE,
            lambda f: f.with_columns(funding_rate=pl.when(BTC_PERP & AT_0800).then(pl.col("funding_rate") * 1000).otherwise(pl.col("funding_rate"))),
        ),
    ),
    "infinite_mark": (
        "derivatives_values_finite",
        (MARK_FILE, lambda f: f.with_columns(close=pl.when(BTC_PERP & AT_0800).then(float("inf")).otherwise(pl.col("close")))),
    ),
}


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_planted_bad_row_fails_its_check_and_blocks_downstream(qa_home, folders, planted):
    check_name, plant = PLANTED[planted]
    source = None
    if plant is None:
        source = EarlyMarkDerivatives(folder=str(folders[1]))
    else:
        _plant_file(folders[1], *plant)
    with DagsterInstance.ephemeral() as instance:
        result = _run(qa_home / "lake", folders, instance, source=source, with_consumer=True)
        checks = _checks(result, instance)
    failed = {name for name, e in checks.items() if not e.passed}
    assert failed == {check_name}, {n: e.description for n, e in checks.items()}
    named = str(checks[check_name].metadata["offending_preview"])
    assert "BTC-USDT" in named and "2025-10-06" in named
    assert not result.success
    assert result.asset_materializations_for_node("derivatives_consumer") == []
