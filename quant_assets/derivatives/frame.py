"""The ``derivatives`` lake asset: long-format rows and their time semantics.

One row per (metric, event_time) per (UTC day, symbol) partition:

- ``funding_rate``: ``event_time`` is the funding time; the realised rate is known then, so
  ``available_at = event_time``. The interval (8h, 4h, 1h) varies by pair and over time,
  so funding has no expected grid: a funding row is never a "missing" row.
- ``mark_close`` (1h mark-price candle), ``open_interest_usd``, ``long_short_ratio``,
  ``taker_buy_volume``, ``taker_sell_volume``: hourly, stamped at the hour's OPEN (as the
  exchange stamps them), known when the hour closes: ``available_at = event_time + 1h``.
- ``basis_bps``: ``(mark_close / spot_close - 1) * 1e4`` with the spot 5m bar that closes
  when the mark hour closes (opened at ``event_time + 55m``); ``available_at = event_time + 1h``.

Every hourly slot that is complete at ``now`` has a row. When the source has no value for
it (the exchange keeps ~30 days of OI statistics; the spot bar is absent) the row says so:
``is_missing = true`` and ``value = null``. Nothing is filled with zeros or carried forward.
A partition holds the rows whose ``event_time`` falls on its UTC day, sorted by
``(metric, event_time)``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from quant_assets.partitions import DaySymbol, split_by_partition
from quant_assets.timegrid import BAR, TS_DTYPE

DERIVATIVES_ASSET = "derivatives"

FUNDING = "funding_rate"
MARK = "mark_close"
BASIS = "basis_bps"
OPEN_INTEREST = "open_interest_usd"
LONG_SHORT = "long_short_ratio"
TAKER_BUY = "taker_buy_volume"
TAKER_SELL = "taker_sell_volume"

HOUR = timedelta(hours=1)
# The spot 5m bar that closes when a mark hour closes opened 55 minutes into that hour.
SPOT_BAR_OFFSET = HOUR - BAR

# Hourly metrics have an expected slot for every hour that has closed; funding does not.
HOURLY_METRICS: tuple[str, ...] = (MARK, BASIS, OPEN_INTEREST, LONG_SHORT, TAKER_BUY, TAKER_SELL)
STAT_METRICS: tuple[str, ...] = (OPEN_INTEREST, LONG_SHORT, TAKER_BUY, TAKER_SELL)
METRICS: tuple[str, ...] = (FUNDING, *HOURLY_METRICS)

# How long after ``event_time`` a metric's value can first be known.
AVAILABILITY_DELAY: dict[str, timedelta] = {FUNDING: timedelta(0), **{m: HOUR for m in HOURLY_METRICS}}

DERIVATIVES_SCHEMA: dict[str, pl.DataType] = {
    "metric": pl.String(),
    "event_time": TS_DTYPE,
    "available_at": TS_DTYPE,
    "value": pl.Float64(),
    "is_missing": pl.Boolean(),
    "source": pl.String(),
}

# What a source hands over before availability and the missing-slot grid are applied.
OBSERVATION_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "metric": pl.String(),
    "event_time": TS_DTYPE,
    "value": pl.Float64(),
    "source": pl.String(),
}

_ROW_ORDER = ["symbol", "metric", "event_time"]


def empty_derivatives(with_symbol: bool = False) -> pl.DataFrame:
    schema = {"symbol": pl.String(), **DERIVATIVES_SCHEMA} if with_symbol else DERIVATIVES_SCHEMA
    return pl.DataFrame(schema=schema)


def empty_observations() -> pl.DataFrame:
    return pl.DataFrame(schema=OBSERVATION_SCHEMA)


def observations(symbol: str, metric: str, stamps_ms: list[int], values: list, source: str) -> pl.DataFrame:
    """Build observation rows from epoch-ms stamps and values (``None`` for "no value")."""
    if metric not in METRICS:
        raise ValueError(f"unknown derivatives metric {metric!r}; known: {', '.join(METRICS)}")
    if not stamps_ms:
        return empty_observations()
    return pl.DataFrame(
        {
            "symbol": [symbol] * len(stamps_ms),
            "metric": [metric] * len(stamps_ms),
            "event_time": pl.Series(stamps_ms, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")).cast(TS_DTYPE),
            "value": pl.Series([None if v is None else float(v) for v in values], dtype=pl.Float64),
            "source": [source] * len(stamps_ms),
        },
        schema=OBSERVATION_SCHEMA,
    )


def availability_rule() -> pl.Expr:
    """``available_at`` as the time-semantics rule gives it, from ``metric`` and ``event_time``."""
    delay = pl.lit(timedelta(0))
    for metric, lag in AVAILABILITY_DELAY.items():
        if lag:
            delay = pl.when(pl.col("metric") == metric).then(pl.lit(lag)).otherwise(delay)
    return (pl.col("event_time") + delay).cast(TS_DTYPE)


def stamp(obs: pl.DataFrame) -> pl.DataFrame:
    """Observations -> rows: ``available_at`` by the rule, no-value rows flagged missing.

    A null or NaN value is "the source has no value" (flagged, value null). Funding has no
    expected grid, so a funding observation without a value is dropped rather than kept
    as a missing row.
    """
    unknown = sorted(set(obs["metric"].unique().to_list()) - set(METRICS)) if obs.height else []
    if unknown:
        raise ValueError(f"unknown derivatives metrics {unknown}")
    no_value = pl.col("value").is_null() | pl.col("value").is_nan()
    return (
        obs.filter(~(no_value & (pl.col("metric") == FUNDING)))
        .with_columns(is_missing=no_value)
        .with_columns(
            value=pl.when(pl.col("is_missing")).then(None).otherwise(pl.col("value")),
            available_at=availability_rule(),
        )
        .select("symbol", *DERIVATIVES_SCHEMA)
    )


def with_basis(obs: pl.DataFrame, spot_bars: pl.DataFrame) -> pl.DataFrame:
    """Add ``basis_bps`` rows for every ``mark_close`` observation.

    The spot price is the close of the 5m bar (``symbol``, ``ts``, ``close``, ``source``,
    as ``market_bars`` stores them) opened at ``event_time + 55m``: it closes at the same
    instant as the mark hour, so basis is known exactly when the mark close is. No spot
    bar, or no mark value: the basis row has no value (and becomes a missing row).
    """
    mark = obs.filter(pl.col("metric") == MARK)
    if mark.is_empty():
        return obs
    if spot_bars.is_empty():
        spot = pl.DataFrame(schema={"symbol": pl.String(), "spot_ts": TS_DTYPE, "spot_close": pl.Float64(), "spot_source": pl.String()})
    else:
        spot = spot_bars.select(
            "symbol",
            pl.col("ts").cast(TS_DTYPE).alias("spot_ts"),
            pl.col("close").cast(pl.Float64).alias("spot_close"),
            pl.col("source").alias("spot_source"),
        )
    basis = (
        mark.with_columns(spot_ts=pl.col("event_time") + SPOT_BAR_OFFSET)
        .join(spot, on=["symbol", "spot_ts"], how="left")
        .select(
            "symbol",
            metric=pl.lit(BASIS),
            event_time="event_time",
            value=(pl.col("value") / pl.col("spot_close") - 1.0) * 1e4,
            source=pl.col("source") + pl.lit("+spot:") + pl.col("spot_source").fill_null("none"),
        )
    )
    return pl.concat([obs, basis.select(list(OBSERVATION_SCHEMA))], how="vertical")


def _parts_frame(parts: list[DaySymbol]) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": [p.symbol for p in parts], "_day": [p.day for p in parts]},
        schema={"symbol": pl.String(), "_day": pl.Date()},
    )


def last_closed_hour(now: datetime) -> datetime:
    """Open time of the newest hour that has closed at ``now``."""
    floor = now.replace(minute=0, second=0, microsecond=0)
    return floor - HOUR


def expected_slots(parts: list[DaySymbol], now: datetime) -> pl.DataFrame:
    """(symbol, event_time) of every hourly slot of ``parts`` that has closed at ``now``."""
    newest = last_closed_hour(now)
    rows = [(p.symbol, p.start, min(p.end - HOUR, newest)) for p in parts]
    spans = pl.DataFrame(rows, schema={"symbol": pl.String(), "first": TS_DTYPE, "last": TS_DTYPE}, orient="row").filter(
        pl.col("last") >= pl.col("first")
    )
    if spans.is_empty():
        return pl.DataFrame(schema={"symbol": pl.String(), "event_time": TS_DTYPE})
    return (
        spans.select("symbol", event_time=pl.datetime_ranges("first", "last", interval="1h", time_zone="UTC"))
        .explode("event_time")
        .with_columns(pl.col("event_time").cast(TS_DTYPE))
    )


def complete_grid(rows: pl.DataFrame, parts: list[DaySymbol], now: datetime, source: str) -> pl.DataFrame:
    """Add an explicit missing row for every closed hourly slot that has no row at all."""
    slots = expected_slots(parts, now)
    grid = slots.join(pl.DataFrame({"metric": list(HOURLY_METRICS)}), how="cross")
    absent = grid.join(rows.select("symbol", "metric", "event_time"), on=["symbol", "metric", "event_time"], how="anti")
    missing = absent.select(
        "symbol",
        "metric",
        "event_time",
        available_at=availability_rule(),
        value=pl.lit(None, dtype=pl.Float64),
        is_missing=pl.lit(True),
        source=pl.lit(source),
    )
    return pl.concat([rows.select("symbol", *DERIVATIVES_SCHEMA), missing.select("symbol", *DERIVATIVES_SCHEMA)])


def in_partitions(frame: pl.DataFrame, parts: list[DaySymbol]) -> pl.DataFrame:
    """Keep the rows whose (symbol, event_time's UTC day) is one of ``parts``."""
    return frame.with_columns(_day=pl.col("event_time").dt.date()).join(_parts_frame(parts), on=["symbol", "_day"], how="semi").drop("_day")


def only_available(frame: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """A record exists only once it could be known: ``available_at <= now``."""
    return frame.filter(pl.col("available_at") <= now)


def assemble(obs: pl.DataFrame, parts: list[DaySymbol], now: datetime, source: str) -> pl.DataFrame:
    """Observations of any number of symbols and days -> the asset's rows (with ``symbol``).

    Keeps the requested partitions and what is available at ``now``, flags every closed
    hourly slot without data as missing (``source`` names who was asked), and sorts by
    (symbol, metric, event_time). Duplicates are kept, so a bad source is seen by the checks.
    """
    rows = only_available(in_partitions(stamp(obs), parts), now)
    return complete_grid(rows, parts, now, source).sort(_ROW_ORDER, maintain_order=True)


def complete_stored(frame: pl.DataFrame, parts: list[DaySymbol], now: datetime, source: str) -> pl.DataFrame:
    """Already-built rows (a bundle): drop what is not available yet, flag newly closed slots."""
    rows = only_available(in_partitions(frame, parts), now)
    return complete_grid(rows, parts, now, source).sort(_ROW_ORDER, maintain_order=True)


def split_partitions(frame: pl.DataFrame, parts: list[DaySymbol]) -> list[tuple[DaySymbol, pl.DataFrame]]:
    """Cut a multi-partition frame (with ``symbol``) into per-partition frames without ``symbol``.

    Every requested partition gets a frame (empty when nothing is known for it); rows keep
    their order.
    """
    rows = frame.select("symbol", *DERIVATIVES_SCHEMA)  # only the lake columns are stored
    return split_by_partition(rows, parts, "event_time", empty_derivatives())


def coverage(rows: pl.DataFrame, part: DaySymbol, now: datetime) -> dict[str, float | int | None]:
    """Per-metric facts for one partition's rows: row counts, missing slots, coverage.

    Coverage of an hourly metric is the share of the partition's closed hourly slots that
    hold a value (``None`` while no slot has closed yet). Funding has no expected grid: it
    reports the number of funding events and the interval between them.
    """
    expected = expected_slots([part], now).height
    counts = {
        metric: (int(n), int(m))
        for metric, n, m in rows.group_by("metric").agg(pl.len().alias("n"), pl.col("is_missing").sum().alias("m")).iter_rows()
    }
    out: dict[str, float | int | None] = {"expected_hourly_slots": expected}
    for metric in METRICS:
        n, m = counts.get(metric, (0, 0))
        out[f"rows_{metric}"] = n
        if metric == FUNDING:
            continue
        out[f"missing_{metric}"] = m
        out[f"coverage_{metric}"] = round((n - m) / expected, 6) if expected else None
    funding = rows.filter(pl.col("metric") == FUNDING)["event_time"].sort()
    out["funding_events"] = funding.len()
    gaps = funding.diff().drop_nulls()
    out["funding_interval_hours"] = gaps.median().total_seconds() / 3600 if gaps.len() else None
    return out
