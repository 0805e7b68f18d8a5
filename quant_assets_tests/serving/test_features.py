"""The served feature row is the materialised feature_matrix row, column by column."""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from quant_assets.features import contract
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets_tests import modelkit
from quant_assets_tests.serving.conftest import SERVED
from serving.features import FeatureServer, partition_of

UTC = timezone.utc
DAY = SERVED[1]
START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
# the day's first and last decision times (the last, D+1 00:00, belongs to day D) and some in between
TIMES = [START + timedelta(minutes=5), START + timedelta(hours=9, minutes=35), START + timedelta(hours=13), START + timedelta(days=1)]


def _stored(store, t):
    frame = store.read(contract.FEATURES_ASSET, DaySymbol(DAY, modelkit.SYMBOL))
    return frame.filter(pl.col("t") == t).select(contract.COLUMN_NAMES)


def _assert_same(served: pl.DataFrame, stored: pl.DataFrame):
    assert served.height == stored.height == 1
    assert served.schema == stored.schema  # the contract's names, order and dtypes
    different = [c for c in contract.COLUMN_NAMES if not served[c].eq_missing(stored[c]).all()]
    assert different == []


@pytest.mark.parametrize("t", TIMES, ids=lambda t: t.strftime("%dT%H%M"))
def test_served_row_equals_the_materialised_row(home, t):
    store = ParquetLake(str(home / "lake"))
    served = FeatureServer(store).rows([modelkit.SYMBOL], t)
    assert served["symbol"].to_list() == [modelkit.SYMBOL]
    assert partition_of(t, modelkit.SYMBOL).day == DAY
    stored = _stored(store, t)
    assert stored["bars_1d_missing"].to_list() == [False]  # a real, complete row, not two empty ones
    _assert_same(served.drop("symbol"), stored)


def test_bars_fetched_since_the_lake_give_the_same_row(home):
    """The day's bars gone from the lake and handed in as fetched bars: the same row."""
    store = ParquetLake(str(home / "lake"))
    t = TIMES[2]
    stored = _stored(store, t)
    part = DaySymbol(DAY, modelkit.SYMBOL)
    bars = store.read(BARS_ASSET, part).with_columns(symbol=pl.lit(modelkit.SYMBOL))
    store.partition_path(BARS_ASSET, part).unlink()
    server = FeatureServer(store)
    without = server.rows([modelkit.SYMBOL], t)
    assert without["bars_5m_missing"].to_list() == [True]  # the planted gap is seen
    _assert_same(server.rows([modelkit.SYMBOL], t, fetched_bars=bars).drop("symbol"), stored)
