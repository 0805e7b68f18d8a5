"""Which upstream partitions a run reads: Dagster's partition mapping, not a guess."""

from dagster import AssetExecutionContext

from quant_assets.partitions import DaySymbol, parse_keys


def mapped_upstream(context: AssetExecutionContext, upstream: str) -> list[DaySymbol] | None:
    """The upstream partitions Dagster maps this run to; None when the code location does
    not define ``upstream`` as a partitioned asset (what needed it is then missing)."""
    try:
        return parse_keys(context.asset_partition_keys_for_input(upstream))
    except Exception as error:  # Dagster raises a CheckError for an unpartitioned/undefined input
        if "no asset partitions" in str(error):
            return None
        raise
