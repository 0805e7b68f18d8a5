"""The upstream frames the feature matrix reads, and which partitions of them a day needs.

Upstream schemas are fixed by their assets; here they are only named, so that an absent
source (no partition materialized for the range) is an empty frame of the right shape and
its features come out missing and flagged rather than failing or being filled.

Lookback: a feature partition ``(D, symbol)`` reads the upstream partitions of days
``D - LOOKBACK_DAYS .. D + ahead`` of the same symbol, where ``ahead`` is the number of
later days that can hold a record already available at the day's last decision time
``D+1 00:00`` (see :data:`AHEAD_DAYS`). The Dagster asset declares exactly this as a
partition mapping per upstream; :func:`mapped_days` is the same rule for code without a
Dagster context (the audit, the benchmark's bare-polars run), and a test holds the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from quant_assets.derivatives.frame import AVAILABILITY_DELAY, DERIVATIVES_ASSET
from quant_assets.derivatives.frame import DERIVATIVES_SCHEMA as LAKE_DERIVATIVES_SCHEMA
from quant_assets.features.contract import LATENT_DIM
from quant_assets.market.bars import BAR_SCHEMA, BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.text.latents import TEXT_LATENTS_ASSET, TOWERS, LatentSpec, latent_columns, latent_schema
from quant_assets.timegrid import BAR, TS_DTYPE

BARS = BARS_ASSET
DERIVATIVES = DERIVATIVES_ASSET
TEXT_LATENTS = TEXT_LATENTS_ASSET
UPSTREAM = (BARS, DERIVATIVES, TEXT_LATENTS)

LOOKBACK_DAYS = 1
# The shortest delay from a record's partition stamp (DAY_COLUMN) to its available_at.
MIN_AVAILABILITY_DELAY = {BARS: BAR, DERIVATIVES: min(AVAILABILITY_DELAY.values()), TEXT_LATENTS: BAR}
# A record stamped in day D+1 is available by D+1 00:00 only if it is stamped exactly at
# midnight and known at once (a funding rate): then day D+1's partition holds a record the
# last row of day D must see. Any positive delay (under a day) keeps it in day D.
AHEAD_DAYS = {asset: 1 if delay <= timedelta(0) else 0 for asset, delay in MIN_AVAILABILITY_DELAY.items()}
SERIES = "series"  # one independent time series per feature partition (see compute)


def _with_symbol(schema: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    """An upstream lake schema as the features read it: ``symbol`` (from the partition path)
    first, and without ``source``, which no feature uses."""
    return {"symbol": pl.String(), **{c: t for c, t in schema.items() if c != "source"}}


BARS_SCHEMA = _with_symbol(BAR_SCHEMA)
DERIVATIVES_SCHEMA = _with_symbol(LAKE_DERIVATIVES_SCHEMA)
# The contract fixes the latent sizes (LATENT_DIM per tower), whatever the text_latents
# settings: latents of another size lack some of these columns and ``conform`` refuses them.
_LATENT_SPEC = LatentSpec(post_dims=LATENT_DIM, comment_dims=LATENT_DIM)
LATENT_COLUMNS = [c for tower in TOWERS for c in latent_columns(tower, LATENT_DIM)]
LATENTS_SCHEMA = _with_symbol(latent_schema(_LATENT_SPEC))
SCHEMAS = {BARS: BARS_SCHEMA, DERIVATIVES: DERIVATIVES_SCHEMA, TEXT_LATENTS: LATENTS_SCHEMA}
# The column that decides which lake partition (UTC day) a record belongs to.
DAY_COLUMN = {BARS: "ts", DERIVATIVES: "event_time", TEXT_LATENTS: "ts"}


def conform(asset: str, frame: pl.DataFrame | None) -> pl.DataFrame:
    """The columns the features use, cast to their schema; an absent source is an empty frame."""
    wanted = SCHEMAS[asset]
    if frame is None or frame.width == 0:
        return pl.DataFrame(schema=wanted)
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(f"{asset} input lacks columns {missing}")
    return frame.select([pl.col(c).cast(t) for c, t in wanted.items()])


@dataclass
class Inputs:
    """Upstream frames with a ``symbol`` column, plus which day partitions each came from."""

    bars: pl.DataFrame
    derivatives: pl.DataFrame
    latents: pl.DataFrame

    def __post_init__(self):
        self.bars = conform(BARS, self.bars)
        self.derivatives = conform(DERIVATIVES, self.derivatives)
        self.latents = conform(TEXT_LATENTS, self.latents)

    def frame(self, asset: str) -> pl.DataFrame:
        return {BARS: self.bars, DERIVATIVES: self.derivatives, TEXT_LATENTS: self.latents}[asset]


def mapped_days(day: date, asset: str, first_day: date | None = None) -> list[date]:
    """Days of ``asset`` a feature partition of ``day`` reads (those before ``first_day`` do not exist)."""
    days = [day + timedelta(days=k) for k in range(-LOOKBACK_DAYS, AHEAD_DAYS[asset] + 1)]
    return [d for d in days if first_day is None or d >= first_day]


def all_mapped_days(day: date, first_day: date | None = None) -> dict[str, list[date]]:
    """:func:`mapped_days` of every upstream asset."""
    return {asset: mapped_days(day, asset, first_day) for asset in UPSTREAM}


def mapped_parts(parts: list[DaySymbol], asset: str, first_day: date | None = None) -> list[DaySymbol]:
    return sorted({DaySymbol(d, p.symbol) for p in parts for d in mapped_days(p.day, asset, first_day)})


def decision_grid(part: DaySymbol, now: datetime | None = None) -> list[datetime]:
    """The 288 decision times of a partition: closes of the day's bars, ``D 00:05 .. D+1 00:00``."""
    return decision_grid_series(part, now).to_list()


def decision_grid_series(part: DaySymbol, now: datetime | None = None) -> pl.Series:
    """``decision_grid`` as a ``TS_DTYPE`` series (compared column to column, no Python datetimes)."""
    times = pl.datetime_range(part.start + BAR, part.end, BAR, eager=True, time_zone="UTC").alias("t")
    return times if now is None else times.filter(times <= now)


def series_name(part: DaySymbol, cutoff: datetime | None = None) -> str:
    return str(part) if cutoff is None else f"{part}@{cutoff.isoformat()}"


def per_series(
    asset: str,
    frame: pl.DataFrame,
    plan: pl.DataFrame,
) -> pl.DataFrame:
    """Give every series its own copy of exactly the upstream days it reads.

    ``plan`` has one row per (series, symbol, day) the series reads and its ``cutoff``: only
    records with ``available_at <= cutoff`` are kept (a partition's last decision time, or a
    decision time ``t`` for the prefix-invariance recompute). The ``symbol`` column is
    replaced by ``series``.
    """
    keyed = frame.with_columns(_day=pl.col(DAY_COLUMN[asset]).dt.date())
    joined = plan.join(keyed, left_on=["symbol", "day"], right_on=["symbol", "_day"], how="inner")
    joined = joined.filter(pl.col("available_at") <= pl.col("cutoff"))
    keep = [c for c in SCHEMAS[asset] if c != "symbol"]
    return joined.select(SERIES, *keep)


def read_plan(series_days: list[tuple[str, str, date, datetime]]) -> pl.DataFrame:
    """(series, symbol, day, cutoff) rows -> plan frame for :func:`per_series`."""
    return pl.DataFrame(
        series_days,
        schema={SERIES: pl.String(), "symbol": pl.String(), "day": pl.Date(), "cutoff": TS_DTYPE},
        orient="row",
    )
