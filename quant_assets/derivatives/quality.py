"""Quality rules for derivatives rows, as pure functions over a frame with ``symbol``.

Each rule returns the offending rows (empty when the data is clean) as
``symbol, metric, event_time, problem``, so a failing check names exactly what is wrong.
"""

from __future__ import annotations

import polars as pl

from quant_assets.derivatives.frame import FUNDING, HOURLY_METRICS, METRICS, availability_rule

# Realised funding beyond 5% per interval has never been a real print; it is a unit or
# parsing error (a percentage read as a fraction, a basis-points field).
MAX_ABS_FUNDING_RATE = 0.05

_KEY_COLUMNS = ["symbol", "metric", "event_time"]


def _offending(frame: pl.DataFrame, mask: pl.Expr, problem: str) -> pl.DataFrame:
    return frame.filter(mask).select(_KEY_COLUMNS).with_columns(problem=pl.lit(problem))


def unknown_metrics(frame: pl.DataFrame) -> pl.DataFrame:
    return _offending(frame, ~pl.col("metric").is_in(list(METRICS)), "unknown metric")


def duplicate_rows(frame: pl.DataFrame) -> pl.DataFrame:
    return _offending(frame, pl.struct(_KEY_COLUMNS).is_duplicated(), "duplicate (symbol, metric, event_time)")


def unsorted_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows not after the previous row of their partition in (metric, event_time) order."""
    part = [pl.col("symbol"), pl.col("event_time").dt.date()]
    prev_metric = pl.col("metric").shift(1).over(part)
    prev_time = pl.col("event_time").shift(1).over(part)
    out_of_order = prev_metric.is_not_null() & (
        (pl.col("metric") < prev_metric) | ((pl.col("metric") == prev_metric) & (pl.col("event_time") <= prev_time))
    )
    return _offending(frame, out_of_order, "not sorted by (metric, event_time)")


def wrong_availability(frame: pl.DataFrame) -> pl.DataFrame:
    """``available_at`` earlier than ``event_time``, or not what the metric's rule gives;
    hourly metrics off the hour grid."""
    hourly = pl.col("metric").is_in(list(HOURLY_METRICS))
    return pl.concat(
        [
            _offending(frame, pl.col("available_at") < pl.col("event_time"), "available_at before event_time"),
            _offending(
                frame,
                (pl.col("available_at") >= pl.col("event_time")) & (pl.col("available_at") != availability_rule()),
                "available_at differs from the metric's rule",
            ),
            _offending(frame, hourly & (pl.col("event_time").dt.truncate("1h") != pl.col("event_time")), "hourly metric not on the hour"),
        ]
    )


def bad_values(frame: pl.DataFrame) -> pl.DataFrame:
    """A value must be finite unless the row is flagged missing, and null when it is."""
    missing = pl.col("is_missing")
    return pl.concat(
        [
            _offending(frame, missing.is_null(), "is_missing is null"),
            _offending(frame, ~missing & pl.col("value").is_null(), "null value not flagged missing"),
            _offending(frame, ~missing & pl.col("value").is_not_null() & ~pl.col("value").is_finite(), "value not finite"),
            _offending(frame, missing & pl.col("value").is_not_null(), "missing row carries a value"),
            _offending(frame, missing & (pl.col("metric") == FUNDING), "funding row flagged missing (funding has no grid)"),
        ]
    )


def insane_funding(frame: pl.DataFrame) -> pl.DataFrame:
    rate = pl.col("value")
    return _offending(
        frame,
        (pl.col("metric") == FUNDING) & rate.is_not_null() & ~(rate.abs() < MAX_ABS_FUNDING_RATE),
        f"|funding rate| >= {MAX_ABS_FUNDING_RATE}",
    )
