"""derivatives: funding, mark/basis, OI, long/short, taker flow per (UTC day, symbol)."""

import polars as pl
from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from quant_assets.assets.checks import staged_writes
from quant_assets.assets.metadata import code_version, lake_asset_metadata, partition_metadata, time_span
from quant_assets.automation.freshness import source_policy
from quant_assets.derivatives.frame import DERIVATIVES_ASSET, coverage, split_partitions
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import daily_symbol_partitions, parse_keys
from quant_assets.resources.derivatives_data import DerivativesSource
from quant_assets.resources.lake import LakeResource
from quant_assets.timegrid import utc_now

DERIVATIVES_GROUP = "derivatives"


def _metadata_value(value):
    return MetadataValue.null() if value is None else value


@asset(
    name=DERIVATIVES_ASSET,
    group_name=DERIVATIVES_GROUP,
    kinds={"polars", "parquet"},
    partitions_def=daily_symbol_partitions(),
    # Same (date, symbol) partition of market_bars: its spot closes give the basis.
    deps=[BARS_ASSET],
    backfill_policy=BackfillPolicy.single_run(),
    freshness_policy=source_policy(DERIVATIVES_ASSET),
    metadata=lake_asset_metadata(DERIVATIVES_ASSET),
    code_version=code_version("quant_assets/assets/derivatives.py", "quant_assets/derivatives"),
    description=(
        "Perpetual-futures data for one UTC day of one symbol, long format "
        "(metric, event_time, available_at, value, is_missing, source): funding_rate "
        "(available at its funding time), 1h mark_close and basis_bps against the spot 5m "
        "close of the same instant, open_interest_usd, long_short_ratio (global accounts), "
        "taker_buy_volume and taker_sell_volume (hourly, stamped at the hour's open, "
        "available when the hour closes). Every closed hour has a row per hourly metric; "
        "when the source has none (exchanges keep ~30 days of statistics) the row is flagged "
        "is_missing with a null value, never filled. Coverage per metric is in the metadata."
    ),
)
def derivatives(context: AssetExecutionContext, lake: LakeResource, derivatives_data: DerivativesSource) -> MaterializeResult:
    parts = parse_keys(context.partition_keys)
    now = utc_now()
    spot_bars = lake.lake().read_many(BARS_ASSET, parts, missing_ok=True)
    spot_days = set() if spot_bars.is_empty() else {(d, s) for d, s in spot_bars.select(pl.col("ts").dt.date(), "symbol").unique().iter_rows()}
    frame, source_meta = derivatives_data.fetch(parts, now, spot_bars)
    # Staged, not published: derivatives_checks publishes the partitions that pass.
    with staged_writes(context, lake, DERIVATIVES_ASSET) as store:
        for part, rows in split_partitions(frame, parts):
            write = store.write(DERIVATIVES_ASSET, part, rows)
            facts = {k: _metadata_value(v) for k, v in coverage(rows, part, now).items()}
            facts["spot_bars"] = "present" if (part.day, part.symbol) in spot_days else "absent: basis flagged missing"
            context.add_asset_metadata(
                partition_metadata(write, rows, {**facts, **source_meta.get(part, {})}, time_column="event_time"),
                partition_key=part.dagster_key,
            )
    missing = int(frame["is_missing"].sum()) if frame.height else 0
    context.log.info("wrote %d derivatives rows (%d flagged missing) in %d partitions", frame.height, missing, len(parts))
    return MaterializeResult(
        metadata={
            "run_rows": frame.height,
            "run_missing_rows": missing,
            "run_partitions": len(parts),
            **{f"run_{k}": v for k, v in time_span(frame, "event_time").items()},
        }
    )
