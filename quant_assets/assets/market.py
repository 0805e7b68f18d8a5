"""market_bars: 5m OHLCV per (UTC day, symbol), from ccxt or an imported bundle."""

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset

from quant_assets.assets.checks import staged_writes
from quant_assets.assets.metadata import code_version, lake_asset_metadata, partition_metadata, time_span
from quant_assets.automation.freshness import source_policy
from quant_assets.market.bars import BARS_ASSET, split_partitions
from quant_assets.partitions import daily_symbol_partitions, parse_keys
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.market_data import MarketDataSource
from quant_assets.timegrid import utc_now

MARKET_GROUP = "market"


@asset(
    name=BARS_ASSET,
    group_name=MARKET_GROUP,
    kinds={"polars", "parquet"},
    partitions_def=daily_symbol_partitions(),
    # One run covers a whole backfill range: Dagster's per-partition bookkeeping, not the
    # data work, would otherwise dominate.
    backfill_policy=BackfillPolicy.single_run(),
    freshness_policy=source_policy(BARS_ASSET),
    metadata=lake_asset_metadata(BARS_ASSET),
    code_version=code_version("quant_assets/assets/market.py", "quant_assets/market"),
    description=(
        "Closed 5m OHLCV bars for one UTC day of one symbol. `ts` is the bar open time; "
        "`available_at = ts + 5m` is when the bar could first be known. Only closed bars are "
        "stored, so today's partition never holds the bar still forming. A partition is "
        "published only once every blocking check passed; a failing one is quarantined."
    ),
)
def market_bars(context: AssetExecutionContext, lake: LakeResource, market_data: MarketDataSource) -> MaterializeResult:
    parts = parse_keys(context.partition_keys)
    frame, source_meta = market_data.fetch_bars(parts, utc_now())
    # Staged, not published: market_bars_checks publishes the partitions that pass.
    with staged_writes(context, lake, BARS_ASSET) as store:
        for part, bars in split_partitions(frame, parts):
            write = store.write(BARS_ASSET, part, bars)
            context.add_asset_metadata(partition_metadata(write, bars, source_meta.get(part)), partition_key=part.dagster_key)
    context.log.info("wrote %d bars in %d partitions", frame.height, len(parts))
    return MaterializeResult(
        metadata={
            "run_rows": frame.height,
            "run_partitions": len(parts),
            **{f"run_{k}": v for k, v in time_span(frame).items()},
        }
    )
