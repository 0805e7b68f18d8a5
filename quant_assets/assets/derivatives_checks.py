"""Blocking checks on derivatives: a failure stops every downstream asset (the feature matrix).

One op evaluates them all on one read of the run's staged partitions, publishes those that
pass every check and quarantines the rest (``quant_assets.assets.checks``).
"""


import polars as pl
from dagster import AssetCheckExecutionContext, multi_asset_check

from quant_assets.assets.checks import (
    Batch,
    GateCheck,
    Verdict,
    gate_name,
    gate_specs,
    offending_verdict,
    run_gate,
    schema_verdict,
)
from quant_assets.derivatives import quality
from quant_assets.derivatives.frame import DERIVATIVES_ASSET
from quant_assets.resources.lake import LakeResource


def _rule(rule, what: str):
    """A row rule of ``quality`` (offending rows of a frame) as a check."""
    return lambda batch: offending_verdict(rule(batch.rows()), what, batch, time_column="event_time")


def _unknown_metrics(part, stored: pl.DataFrame) -> list[str]:
    if "metric" not in stored.columns:
        return []
    unknown = quality.unknown_metrics(stored.with_columns(symbol=pl.lit(part.symbol)))
    return [f"unknown metric {m}" for m in unknown["metric"].unique().sort().to_list()]


def _unique_and_sorted(batch: Batch) -> Verdict:
    rows = batch.rows()
    offending = pl.concat([quality.duplicate_rows(rows), quality.unsorted_rows(rows)])
    return offending_verdict(offending, "unique and sorted (metric, event_time)", batch, time_column="event_time")


CHECKS = {
    "derivatives_schema": GateCheck(
        "Columns and dtypes match the derivatives schema; every metric is a known one.",
        lambda batch: schema_verdict(batch, extra=_unknown_metrics),
    ),
    "derivatives_unique": GateCheck(
        "No two rows share (metric, event_time) in a partition, and rows are sorted by them.", _unique_and_sorted
    ),
    "derivatives_available_at": GateCheck(
        "available_at >= event_time and equals the metric's rule: funding at its funding "
        "time; mark, basis, OI, long/short and taker one hour after the hour's open. "
        "Hourly metrics sit on the hour.",
        _rule(quality.wrong_availability, "available_at follows the rule"),
    ),
    "derivatives_values_finite": GateCheck(
        "Values are finite unless flagged is_missing (then null); funding is never a missing row.",
        _rule(quality.bad_values, "finite values, missing flagged"),
    ),
    "derivatives_funding_sane": GateCheck(
        f"Every funding rate is within |rate| < {quality.MAX_ABS_FUNDING_RATE} per interval.",
        _rule(quality.insane_funding, "funding rate sane"),
    ),
}


@multi_asset_check(
    name=gate_name(DERIVATIVES_ASSET),
    specs=gate_specs(DERIVATIVES_ASSET, CHECKS),
    description="The derivatives checks on one read of the run's staged rows; publishes the partitions that pass.",
)
def derivatives_checks(context: AssetCheckExecutionContext, lake: LakeResource):
    yield from run_gate(context, lake, DERIVATIVES_ASSET, CHECKS)
