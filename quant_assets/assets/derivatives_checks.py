"""Blocking checks on derivatives: a failure stops every downstream asset (the feature matrix)."""


import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from quant_assets.assets.checks import result_from_offending, schema_check, stored_run
from quant_assets.derivatives import quality
from quant_assets.derivatives.frame import DERIVATIVES_ASSET
from quant_assets.resources.lake import LakeResource


def _result(offending: pl.DataFrame, what: str, checked_rows: int) -> AssetCheckResult:
    return result_from_offending(offending, what, checked_rows, time_column="event_time")


@asset_check(
    asset=DERIVATIVES_ASSET,
    blocking=True,
    description="Columns and dtypes match the derivatives schema; every metric is a known one.",
)
def derivatives_schema(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    def unknown_metrics(part, stored: pl.DataFrame) -> list[str]:
        if "metric" not in stored.columns:
            return []
        unknown = quality.unknown_metrics(stored.with_columns(symbol=pl.lit(part.symbol)))
        return [f"unknown metric {m}" for m in unknown["metric"].unique().sort().to_list()]

    return schema_check(context, lake, DERIVATIVES_ASSET, extra=unknown_metrics)


@asset_check(
    asset=DERIVATIVES_ASSET,
    blocking=True,
    description="No two rows share (metric, event_time) in a partition, and rows are sorted by them.",
)
def derivatives_unique(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, rows = stored_run(context, lake, DERIVATIVES_ASSET)
    offending = pl.concat([quality.duplicate_rows(rows), quality.unsorted_rows(rows)])
    return _result(offending, "unique and sorted (metric, event_time)", rows.height)


@asset_check(
    asset=DERIVATIVES_ASSET,
    blocking=True,
    description=(
        "available_at >= event_time and equals the metric's rule: funding at its funding "
        "time; mark, basis, OI, long/short and taker one hour after the hour's open. "
        "Hourly metrics sit on the hour."
    ),
)
def derivatives_available_at(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, rows = stored_run(context, lake, DERIVATIVES_ASSET)
    return _result(quality.wrong_availability(rows), "available_at follows the rule", rows.height)


@asset_check(
    asset=DERIVATIVES_ASSET,
    blocking=True,
    description="Values are finite unless flagged is_missing (then null); funding is never a missing row.",
)
def derivatives_values_finite(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, rows = stored_run(context, lake, DERIVATIVES_ASSET)
    return _result(quality.bad_values(rows), "finite values, missing flagged", rows.height)


@asset_check(
    asset=DERIVATIVES_ASSET,
    blocking=True,
    description=f"Every funding rate is within |rate| < {quality.MAX_ABS_FUNDING_RATE} per interval.",
)
def derivatives_funding_sane(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, rows = stored_run(context, lake, DERIVATIVES_ASSET)
    return _result(quality.insane_funding(rows), "funding rate sane", rows.height)
