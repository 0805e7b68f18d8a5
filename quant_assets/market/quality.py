"""Quality rules for 5m bars, as pure functions over a frame with a ``symbol`` column.

Each rule returns the offending rows (empty when the data is clean) with a ``problem``
column, so a failing check can name exactly what is wrong and where.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from quant_assets.market.bars import PRICE_COLUMNS
from quant_assets.partitions import DaySymbol
from quant_assets.timegrid import BAR, BARS_PER_DAY, floor_to_bar

_KEY_COLUMNS = ["symbol", "ts"]


def _offending(frame: pl.DataFrame, mask: pl.Expr, problem: str) -> pl.DataFrame:
    return frame.filter(mask).select(_KEY_COLUMNS).with_columns(problem=pl.lit(problem))


def duplicate_bars(frame: pl.DataFrame) -> pl.DataFrame:
    return _offending(frame, pl.struct(_KEY_COLUMNS).is_duplicated(), "duplicate (symbol, ts)")


def unsorted_bars(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows whose ``ts`` is not after the previous row of the same symbol."""
    previous = pl.col("ts").shift(1).over("symbol")
    return _offending(frame, previous.is_not_null() & (pl.col("ts") <= previous), "ts not increasing")


def off_grid_bars(frame: pl.DataFrame) -> pl.DataFrame:
    on_grid = pl.col("ts").dt.truncate("5m") == pl.col("ts")
    wrong_availability = pl.col("available_at") != pl.col("ts") + BAR
    return pl.concat(
        [
            _offending(frame, ~on_grid, "ts not on the 5m grid"),
            _offending(frame, on_grid & wrong_availability, "available_at != ts + 5m"),
        ]
    )


def insane_ohlc(frame: pl.DataFrame) -> pl.DataFrame:
    checks = [
        (pl.any_horizontal([pl.col(c).is_null() | pl.col(c).is_nan() for c in (*PRICE_COLUMNS, "volume")]), "null or NaN value"),
        (pl.any_horizontal([pl.col(c) <= 0 for c in PRICE_COLUMNS]), "price <= 0"),
        (pl.col("volume") < 0, "volume < 0"),
        (pl.col("high") < pl.col("low"), "high < low"),
        (pl.col("low") > pl.min_horizontal("open", "close"), "low above open or close"),
        (pl.col("high") < pl.max_horizontal("open", "close"), "high below open or close"),
    ]
    return pl.concat([_offending(frame, mask, problem) for mask, problem in checks])


@dataclass(frozen=True)
class Completeness:
    partition: DaySymbol
    bars: int
    expected: int
    missing: list[datetime]
    note: str

    @property
    def ok(self) -> bool:
        return not self.missing


def completeness(
    frame: pl.DataFrame,
    parts: list[DaySymbol],
    now: datetime,
    listed_before: dict[DaySymbol, bool],
) -> list[Completeness]:
    """Compare each partition with the 288 bars a UTC day should hold, honestly.

    - Today: only bars closed by ``now`` are expected.
    - Listing day: when the symbol had no bars on the day before (``listed_before`` is
      False), missing bars before its first bar are the listing, not a gap; a day with no
      bars at all before listing is "not listed yet".
    - Anything else missing is a gap, named by its bar open time.
    """
    by_part = {
        (day, symbol): group["ts"]
        for (day, symbol), group in frame.with_columns(_day=pl.col("ts").dt.date()).group_by(["_day", "symbol"])
    }
    results = []
    last_closed_open = floor_to_bar(now) - BAR
    for part in parts:
        stamps = by_part.get((part.day, part.symbol))
        present = set(stamps.to_list()) if stamps is not None else set()
        grid_end = min(part.end - BAR, last_closed_open)
        grid_start = part.start
        note = "complete day"
        if part.end - BAR > last_closed_open:
            note = "today: bars closed so far"
        if not listed_before.get(part, True):
            if not present:
                results.append(Completeness(part, 0, 0, [], "not listed yet"))
                continue
            grid_start = min(present)
            note = "listing day: from the first bar"
        if grid_end < grid_start:
            results.append(Completeness(part, len(present), 0, [], note))
            continue
        expected = pl.datetime_range(grid_start, grid_end, BAR, eager=True, time_zone="UTC").to_list()
        missing = [ts for ts in expected if ts not in present]
        results.append(Completeness(part, len(present), len(expected), missing, note))
    return results


__all__ = [
    "BARS_PER_DAY",
    "Completeness",
    "completeness",
    "duplicate_bars",
    "insane_ohlc",
    "off_grid_bars",
    "unsorted_bars",
]
