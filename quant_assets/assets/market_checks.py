"""Blocking quality checks on market_bars: a failure stops every downstream asset."""


from datetime import timedelta

import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from quant_assets.assets.checks import result_from_offending, schema_check, stored_run
from quant_assets.assets.metadata import preview
from quant_assets.market import quality
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.resources.lake import LakeResource
from quant_assets.timegrid import utc_now


@asset_check(asset=BARS_ASSET, blocking=True, description="Columns and dtypes match the bar schema.")
def bars_schema(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    return schema_check(context, lake, BARS_ASSET)


@asset_check(asset=BARS_ASSET, blocking=True, description="No two bars share (symbol, ts).")
def bars_unique(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, bars = stored_run(context, lake, BARS_ASSET)
    return result_from_offending(quality.duplicate_bars(bars), "unique (symbol, ts)", bars.height)


@asset_check(asset=BARS_ASSET, blocking=True, description="Bars are stored in increasing ts order.")
def bars_sorted(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, bars = stored_run(context, lake, BARS_ASSET)
    return result_from_offending(quality.unsorted_bars(bars), "sorted by ts", bars.height)


@asset_check(
    asset=BARS_ASSET,
    blocking=True,
    description="Every ts is on the 5m grid and available_at = ts + 5m.",
)
def bars_on_grid(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, bars = stored_run(context, lake, BARS_ASSET)
    return result_from_offending(quality.off_grid_bars(bars), "on the 5m grid", bars.height)


@asset_check(
    asset=BARS_ASSET,
    blocking=True,
    description="low <= open, close <= high; prices > 0; volume >= 0; no null or NaN.",
)
def bars_ohlc_sane(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, bars = stored_run(context, lake, BARS_ASSET)
    return result_from_offending(quality.insane_ohlc(bars), "OHLC sane", bars.height)


@asset_check(
    asset=BARS_ASSET,
    blocking=True,
    description=(
        "288 bars a day; today only the bars closed so far; on a listing day only from the "
        "first bar. Anything else missing is a gap."
    ),
)
def bars_complete(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    parts, bars = stored_run(context, lake, BARS_ASSET)
    listed_before = _listed_before(parts, bars, lake)
    results = quality.completeness(bars, parts, utc_now(), listed_before)
    gaps = [r for r in results if not r.ok]
    missing = pl.DataFrame(
        [{"symbol": r.partition.symbol, "ts": ts, "problem": "missing bar"} for r in gaps for ts in r.missing],
        schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "problem": pl.String},
    )
    notes = sorted({f"{r.partition}: {r.note}" for r in results if r.note != "complete day"})
    return AssetCheckResult(
        passed=not gaps,
        severity=AssetCheckSeverity.ERROR,
        description="complete" if not gaps else f"{len(gaps)} partitions with gaps, {missing.height} bars missing",
        metadata={
            "partitions_checked": len(parts),
            "bars": bars.height,
            "bars_missing": missing.height,
            "missing_preview": preview(missing, rows=20),
            "partial_days": preview(pl.DataFrame({"partial_day": notes}, schema={"partial_day": pl.String}), rows=20),
        },
    )


def _listed_before(parts: list[DaySymbol], bars: pl.DataFrame, lake: LakeResource) -> dict[DaySymbol, bool]:
    """Did the symbol have bars on the day before each partition?

    Known from this run's own frame when the previous day is in the run, else from the
    stored previous partition. When the previous day was never stored, the history is
    unknown and the day is counted from its first bar, like a listing day (its metadata
    says so): the first stored day of a symbol listed mid-period must not read as a gap.
    """
    with_bars = {
        (day, symbol)
        for day, symbol in bars.select(pl.col("ts").dt.date().alias("day"), "symbol").unique().iter_rows()
    }
    in_run = {(p.day, p.symbol) for p in parts}
    store = lake.lake()
    listed = {}
    for part in parts:
        previous = DaySymbol(part.day - timedelta(days=1), part.symbol)
        key = (previous.day, previous.symbol)
        if key in in_run:
            listed[part] = key in with_bars
        elif store.exists(BARS_ASSET, previous):
            listed[part] = store.read(BARS_ASSET, previous).height > 0
        else:
            listed[part] = False
    return listed
