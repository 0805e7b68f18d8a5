"""DuckDB reads the lake in place, with date and symbol from the hive paths: a local lake,
and an S3 one through the lake's own fsspec client (``lake_root`` in conftest.py)."""

from datetime import date

import polars as pl

from quant_assets.lake.duckdb_views import lake_views
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import split_partitions, with_availability
from quant_assets.partitions import DaySymbol
from quant_assets_tests.conftest import SPOT_FIXTURE


def test_views_see_every_partition_with_hive_columns(lake_root):
    raw = pl.read_parquet(SPOT_FIXTURE).with_columns(symbol=pl.col("symbol").str.replace("/", "-"))
    bars = with_availability(raw, source="binance-spot")
    parts = [DaySymbol(date(2025, 10, d), s) for d in (5, 6, 7) for s in ("BTC-USDT", "ETH-USDT")]
    lake = ParquetLake(lake_root)
    lake.write_many("market_bars", split_partitions(bars, parts))

    con = lake_views(lake_root)
    (total,) = con.execute("select count(*) from market_bars").fetchone()
    assert total == 6 * 288
    (high,) = con.execute("select max(high) from market_bars where symbol = 'BTC-USDT' and date = '2025-10-06'").fetchone()
    assert high == 126199.63  # BTC's all-time high, in the 2025-10-06 partition only
