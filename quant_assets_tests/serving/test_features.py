"""The served feature row is the materialized feature_matrix row, column by column."""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from quant_assets.features import contract
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets_tests import fitted_models
from quant_assets_tests.serving.conftest import SERVED
from serving.features import FeatureServer, partition_of

UTC = timezone.utc
DAY = SERVED[1]
START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
# the day's first and last decision times (the last, D+1 00:00, belongs to day D) and some in between
TIMES = [START + timedelta(minutes=5), START + timedelta(hours=9, minutes=35), START + timedelta(hours=13), START + timedelta(days=1)]


def _stored(store, t):
    frame = store.read(contract.FEATURES_ASSET, DaySymbol(DAY, fitted_models.SYMBOL))
    return frame.filter(pl.col("t") == t).select(contract.COLUMN_NAMES)


def _assert_same(served: pl.DataFrame, stored: pl.DataFrame):
    assert served.height == stored.height == 1
    assert served.schema == stored.schema  # the contract's names, order and dtypes
    different = [c for c in contract.COLUMN_NAMES if not served[c].eq_missing(stored[c]).all()]
    assert different == []


@pytest.mark.parametrize("t", TIMES, ids=lambda t: t.strftime("%dT%H%M"))
def test_served_row_equals_the_materialized_row(home, t):
    store = ParquetLake(str(home / "lake"))
    served = FeatureServer(store).rows([fitted_models.SYMBOL], t)
    assert served["symbol"].to_list() == [fitted_models.SYMBOL]
    assert partition_of(t, fitted_models.SYMBOL).day == DAY
    stored = _stored(store, t)
    assert stored["bars_1d_missing"].to_list() == [False]  # a real, complete row, not two empty ones
    _assert_same(served.drop("symbol"), stored)


def test_bars_fetched_since_the_lake_give_the_same_row(home):
    """The day's bars gone from the lake and handed in as fetched bars: the same row."""
    store = ParquetLake(str(home / "lake"))
    t = TIMES[2]
    stored = _stored(store, t)
    part = DaySymbol(DAY, fitted_models.SYMBOL)
    bars = store.read(BARS_ASSET, part).with_columns(symbol=pl.lit(fitted_models.SYMBOL))
    store.partition_path(BARS_ASSET, part).unlink()
    server = FeatureServer(store)
    without = server.rows([fitted_models.SYMBOL], t)
    assert without["bars_5m_missing"].to_list() == [True]  # the planted gap is seen
    _assert_same(server.rows([fitted_models.SYMBOL], t, fetched_bars=bars).drop("symbol"), stored)


def test_an_s3_lake_serves_the_same_row_and_newest_bar(home, use_s3):
    """The lake in a bucket (moto on loopback): the served row and the sensor's newest closed bar
    are those of the local lake; a partition rewritten in the bucket is read again."""
    from quant_assets.features.inputs import UPSTREAM, mapped_days
    from serving.jobs import newest_closed_bar

    local = ParquetLake(str(home / "lake"))
    remote = ParquetLake(f"{use_s3.fresh_prefix()}/lake")
    for asset in UPSTREAM:
        for day in mapped_days(DAY, asset):
            part = DaySymbol(day, fitted_models.SYMBOL)
            if local.exists(asset, part):
                remote.write_bytes(asset, part, local.read_bytes(asset, part))
    t = TIMES[2]
    server = FeatureServer(remote)
    _assert_same(server.rows([fitted_models.SYMBOL], t).drop("symbol"), _stored(local, t))
    now = t + timedelta(minutes=2)
    assert newest_closed_bar(remote, [fitted_models.SYMBOL], now) == newest_closed_bar(local, [fitted_models.SYMBOL], now) == t

    part = DaySymbol(DAY, fitted_models.SYMBOL)
    cut = local.read(BARS_ASSET, part).filter(pl.col("available_at") < t)  # the bar at t gone
    remote.write(BARS_ASSET, part, cut)
    assert server.rows([fitted_models.SYMBOL], t)["bars_5m_missing"].to_list() == [True], "the rewritten object is read again"
