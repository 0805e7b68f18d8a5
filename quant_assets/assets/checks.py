"""Shared glue for asset checks: which partitions a check covers and how it reports."""


import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity

from quant_assets.assets.metadata import preview
from quant_assets.partitions import DaySymbol, parse_keys


def run_partitions(context: AssetCheckExecutionContext) -> list[DaySymbol]:
    """The partitions the current run materialised; a check covers exactly these.

    Checks run in the same run as their asset, so they see its partition range.
    """
    op_context = context.op_execution_context
    if not op_context.has_partition_key_range:
        raise ValueError("this check only runs together with a partitioned materialisation")
    return parse_keys(op_context.partition_keys)


def result_from_offending(
    offending: pl.DataFrame, what: str, checked_rows: int, time_column: str = "ts"
) -> AssetCheckResult:
    """Pass when nothing offends; otherwise fail naming the rows (symbol, time, problem)."""
    passed = offending.is_empty()
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=f"{what}: ok" if passed else f"{what}: {offending.height} offending rows",
        metadata={
            "rows_checked": checked_rows,
            "offending_rows": offending.height,
            "offending_preview": preview(offending.sort("symbol", time_column), rows=20),
        },
    )
