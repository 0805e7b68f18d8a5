"""labels: forward log returns per horizon, gross and net of cost, per (UTC day, symbol).

Kept apart from feature_matrix (invariant 4) and joined to it only for training and
evaluation. A day's labels read bars of days D..D+7 through a partition mapping; days not
materialized yet leave their labels missing and flagged, and a later materialization fills them.
Partitions are staged and published by the labels_checks audit only once both checks pass.
"""

import polars as pl
from dagster import AssetDep, AssetExecutionContext, BackfillPolicy, MaterializeResult, asset

from quant_assets.assets.checks import staged_writes
from quant_assets.assets.metadata import code_version, lake_asset_metadata, partition_metadata
from quant_assets.assets.upstream import mapped_upstream
from quant_assets.automation.conditions import labels_condition
from quant_assets.labels import forward
from quant_assets.labels.costs import cost_from_env
from quant_assets.labels.horizons import HORIZON_NAMES, LOOKAHEAD_DAYS
from quant_assets.market.bars import BAR_SCHEMA, BARS_ASSET
from quant_assets.partitions import daily_symbol_partitions, day_window_mapping, parse_keys
from quant_assets.resources.lake import LakeResource
from quant_assets.timegrid import utc_now

LABELS_GROUP = "labels"


def lookahead_mapping():
    """Labels of day D read bars of days D..D+7 (the bar closing at t + 7d)."""
    return day_window_mapping(0, LOOKAHEAD_DAYS)


@asset(
    name=forward.LABELS_ASSET,
    group_name=LABELS_GROUP,
    kinds={"polars", "parquet"},
    partitions_def=daily_symbol_partitions(),
    backfill_policy=BackfillPolicy.single_run(),
    deps=[AssetDep(BARS_ASSET, partition_mapping=lookahead_mapping())],
    automation_condition=labels_condition(),
    metadata=lake_asset_metadata(forward.LABELS_ASSET),
    code_version=code_version("quant_assets/assets/labels.py", "quant_assets/labels"),
    description=(
        "One row per feature decision time t of one UTC day of one symbol: forward log returns "
        f"ln(close(t+h)/close(t)) for h in {', '.join(HORIZON_NAMES)}, gross and net of the round-trip "
        "cost, each with label_available_at_<h> = t + h. Labels not yet knowable are null and "
        "flagged label_missing_<h>. Never part of feature_matrix; joined only to train and evaluate."
    ),
)
def labels(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    parts = parse_keys(context.partition_keys)
    store = lake.lake()
    cost = cost_from_env()
    bar_parts = mapped_upstream(context, BARS_ASSET) or []
    bars = store.read_many(BARS_ASSET, bar_parts, missing_ok=True)
    if bars.width == 0:  # no bar partition materialized: every label is missing
        bars = pl.DataFrame(schema={"symbol": pl.String(), **BAR_SCHEMA})
    frame = forward.forward_labels(bars, parts, cost.log_cost, now=utc_now())
    by_part = frame.partition_by("partition", as_dict=True, maintain_order=True)
    written = []
    # Staged, not published: labels_checks publishes the partitions that pass.
    with staged_writes(context, lake, forward.LABELS_ASSET) as staged:
        for part in parts:
            rows = by_part[(str(part),)].drop("partition") if (str(part),) in by_part else forward.empty_labels()
            written.append((part, rows, staged.write(forward.LABELS_ASSET, part, rows)))
    for part, rows, write in written:
        cover = forward.coverage(rows)
        pending = [h for h in HORIZON_NAMES if cover[h] < 1.0]
        context.add_asset_metadata(
            partition_metadata(
                write,
                rows,
                {
                    **{f"coverage_{h}": cover[h] for h in HORIZON_NAMES},
                    "complete": not pending,
                    "pending_horizons": ", ".join(pending) or "none",
                    **cost.metadata(),
                },
                time_column=forward.KEY_COLUMN,
            ),
            partition_key=part.dagster_key,
        )
    context.log.info("wrote %d label rows in %d partitions", frame.height, len(parts))
    return MaterializeResult(
        metadata={
            "run_rows": frame.height,
            "run_partitions": len(parts),
            **cost.metadata(),
            **{f"run_coverage_{h}": v for h, v in forward.coverage(frame).items()},
        }
    )
