"""Derivatives from freqtrade/ccxt downloads dropped in a folder (``../shared/data`` layout).

Files are long-format parquet with ``symbol`` in ccxt perpetual form (``BTC/USDT:USDT``) and
``ts`` in UTC:

- funding: ``ts`` (funding time), ``funding_rate``
- mark 1h: ``ts`` (hour open), ``open, high, low, close``
- hourly statistics: ``ts`` (hour open), ``oi_value_usd``, ``global_long_short_account_ratio``,
  ``taker_buy_vol``, ``taker_sell_vol``

Funding and mark are the core of a drop: a configured funding or mark file that does not exist
is an error, never an empty source. The hourly statistics are optional (exchanges serve them
for ~30 days only, many downloads lack them): when that file is not configured or not in the
folder, its metrics become missing rows with coverage 0, as the ccxt and bundle sources report
what they do not serve.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from quant_assets.derivatives.frame import (
    FUNDING,
    LONG_SHORT,
    MARK,
    OBSERVATION_SCHEMA,
    OPEN_INTEREST,
    TAKER_BUY,
    TAKER_SELL,
    empty_observations,
)
from quant_assets.timegrid import TS_DTYPE

FUNDING_COLUMNS = {"funding_rate": FUNDING}
MARK_COLUMNS = {"close": MARK}
STAT_COLUMNS = {
    "oi_value_usd": OPEN_INTEREST,
    "global_long_short_account_ratio": LONG_SHORT,
    "taker_buy_vol": TAKER_BUY,
    "taker_sell_vol": TAKER_SELL,
}


def read_metric_file(
    path: str | Path,
    columns: dict[str, str],
    perps: dict[str, str],
    start: datetime,
    end: datetime,
    source: str,
) -> pl.DataFrame:
    """Observations of ``columns`` (file column -> metric) for the perpetuals ``perps``
    (ccxt symbol -> partition key) with ``start <= ts < end``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"derivatives file {path} does not exist")
    wide = (
        pl.scan_parquet(path)
        .filter(pl.col("symbol").is_in(list(perps)), pl.col("ts") >= start, pl.col("ts") < end)
        .select(
            pl.col("symbol").replace_strict(perps, return_dtype=pl.String),
            pl.col("ts").cast(TS_DTYPE).alias("event_time"),
            *[pl.col(c).cast(pl.Float64) for c in columns],
        )
        .collect()
    )
    if wide.is_empty():
        return empty_observations()
    return (
        wide.unpivot(index=["symbol", "event_time"], on=list(columns), variable_name="metric", value_name="value")
        .with_columns(metric=pl.col("metric").replace_strict(columns, return_dtype=pl.String), source=pl.lit(source))
        .select(list(OBSERVATION_SCHEMA))
    )
