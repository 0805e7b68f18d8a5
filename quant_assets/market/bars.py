"""5m OHLCV bars: schema, construction from ccxt rows, splitting into lake partitions.

``ts`` is the bar's open time (ccxt's convention); a bar is complete, and so knowable, only
at ``available_at = ts + 5m``.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from quant_assets.partitions import DaySymbol, split_by_partition
from quant_assets.timegrid import BAR, TS_DTYPE

BARS_ASSET = "market_bars"

BAR_SCHEMA: dict[str, pl.DataType] = {
    "ts": TS_DTYPE,
    "available_at": TS_DTYPE,
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "source": pl.String(),
}
PRICE_COLUMNS = ("open", "high", "low", "close")


def empty_bars() -> pl.DataFrame:
    return pl.DataFrame(schema=BAR_SCHEMA)


def bars_from_ohlcv(rows: list[list[float]], source: str) -> pl.DataFrame:
    """ccxt ``fetch_ohlcv`` rows ``[ms, open, high, low, close, volume]`` -> bar frame."""
    if not rows:
        return empty_bars()
    raw = pl.DataFrame(rows, schema=["ms", "open", "high", "low", "close", "volume"], orient="row")
    return (
        raw.with_columns(
            ts=pl.from_epoch(pl.col("ms").cast(pl.Int64), time_unit="ms").dt.replace_time_zone("UTC"),
        )
        .with_columns(pl.col("ts").cast(TS_DTYPE))
        .pipe(with_availability, source=source)
    )


def with_availability(frame: pl.DataFrame, source: str | None = None) -> pl.DataFrame:
    """Stamp ``available_at`` and order columns as ``BAR_SCHEMA``; keeps ``symbol`` if present."""
    columns = {"available_at": pl.col("ts") + BAR}
    if source is not None:
        columns["source"] = pl.lit(source)
    out = frame.with_columns(**columns).with_columns([pl.col(name).cast(dtype) for name, dtype in BAR_SCHEMA.items()])
    extra = ["symbol"] if "symbol" in out.columns else []
    return out.select(extra + list(BAR_SCHEMA))


def only_closed(frame: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """Drop the bar still forming: a bar exists only once ``available_at <= now``."""
    return frame.filter(pl.col("available_at") <= now)


def split_partitions(frame: pl.DataFrame, parts: list[DaySymbol]) -> list[tuple[DaySymbol, pl.DataFrame]]:
    """Cut a multi-day, multi-symbol frame into the requested (day, symbol) partitions.

    Every requested partition gets a frame, empty when the source had no bars for it (a
    symbol not listed yet); rows outside the requested partitions are dropped. Rows keep the
    order the source gave: nothing is sorted or de-duplicated here, so a bad source is seen
    by the checks instead of being silently repaired. The lake files do not store
    ``symbol``: it is in the partition path.
    """
    return split_by_partition(frame, parts, "ts", empty_bars())
