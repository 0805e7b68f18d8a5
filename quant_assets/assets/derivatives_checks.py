"""Blocking checks on derivatives: a failure stops every downstream asset (the feature matrix).

One op evaluates them all on one read of the run's staged partitions, publishes those that
pass every check and quarantines the rest (``quant_assets.assets.checks``).
"""

import polars as pl

from quant_assets.assets.checks import (
    AuditCheck,
    Batch,
    Verdict,
    audit_checks,
    offending_verdict,
    row_rule,
    schema_verdict,
)
from quant_assets.derivatives import quality
from quant_assets.derivatives.frame import DERIVATIVES_ASSET


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
    "derivatives_schema": AuditCheck(
        "Columns and dtypes match the derivatives schema; every metric is a known one.",
        lambda batch: schema_verdict(batch, extra=_unknown_metrics),
    ),
    "derivatives_unique": AuditCheck("No two rows share (metric, event_time) in a partition, and rows are sorted by them.", _unique_and_sorted),
    "derivatives_available_at": AuditCheck(
        "available_at >= event_time and equals the metric's rule: funding at its funding "
        "time; mark, basis, OI, long/short and taker one hour after the hour's open. "
        "Hourly metrics sit on the hour.",
        row_rule(quality.wrong_availability, "available_at follows the rule", "event_time"),
    ),
    "derivatives_values_finite": AuditCheck(
        "Values are finite unless flagged is_missing (then null); funding is never a missing row.",
        row_rule(quality.bad_values, "finite values, missing flagged", "event_time"),
    ),
    "derivatives_funding_sane": AuditCheck(
        f"Every funding rate is within |rate| < {quality.MAX_ABS_FUNDING_RATE} per interval.",
        row_rule(quality.insane_funding, "funding rate sane", "event_time"),
    ),
}


derivatives_checks = audit_checks(
    DERIVATIVES_ASSET,
    CHECKS,
    description="The derivatives checks on one read of the run's staged rows; publishes the partitions that pass.",
)
