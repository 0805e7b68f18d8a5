"""Shared glue for asset checks: which partitions a check covers and how it reports."""


from collections.abc import Callable

import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity

from quant_assets.assets.metadata import preview
from quant_assets.lake.schemas import schema_for
from quant_assets.partitions import DaySymbol, parse_keys
from quant_assets.resources.lake import LakeResource


def run_partitions(context: AssetCheckExecutionContext) -> list[DaySymbol]:
    """The partitions the current run materialised; a check covers exactly these.

    Checks run in the same run as their asset, so they see its partition range.
    """
    op_context = context.op_execution_context
    if not op_context.has_partition_key_range:
        raise ValueError("this check only runs together with a partitioned materialisation")
    return parse_keys(op_context.partition_keys)


def stored_run(
    context: AssetCheckExecutionContext, lake: LakeResource, asset_name: str, with_partition_day: bool = False
) -> tuple[list[DaySymbol], pl.DataFrame]:
    """The run's partitions and their stored rows (with ``symbol``), in one lake scan."""
    parts = run_partitions(context)
    return parts, lake.lake().read_many(asset_name, parts, with_partition_day=with_partition_day)


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


def schema_check(
    context: AssetCheckExecutionContext,
    lake: LakeResource,
    asset_name: str,
    extra: Callable[[DaySymbol, pl.DataFrame], list[str]] | None = None,
) -> AssetCheckResult:
    """Every stored partition of the run has the asset's columns and dtypes.

    ``extra(part, frame)`` may name further per-partition problems (e.g. unknown values).
    """
    parts = run_partitions(context)
    store, expected = lake.lake(), schema_for(asset_name)
    problems = []
    for part in parts:
        problems += [f"{part}: {p}" for p in expected.problems(store.read_schema(asset_name, part))]
        if extra is not None:
            problems += [f"{part}: {p}" for p in extra(part, store.read(asset_name, part))]
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description="schema ok" if not problems else "; ".join(problems[:10]),
        metadata={"partitions_checked": len(parts), "problems": len(problems)},
    )


def problems_result(check_name: str, asset_name: str, problems: list[str], partitions: int, what: str) -> AssetCheckResult:
    """One check's result from its list of problem lines (one per offending partition or row)."""
    return AssetCheckResult(
        check_name=check_name,
        asset_key=asset_name,
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description=f"{what}: ok" if not problems else f"{what}: {len(problems)} problems; first: {problems[0]}",
        metadata={"partitions_checked": partitions, "problems": len(problems), "first_problems": "\n".join(problems[:20]) or "none"},
    )
