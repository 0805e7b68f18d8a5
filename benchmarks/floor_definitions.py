"""The Dagster floor: a trivial asset over the same partitions, backfilled the same way.

Whatever this costs is Dagster's own bookkeeping (run start, about two events per
partition); a pipeline cannot be faster than it, so benchmarks report their ratio to it.
"""

from dagster import BackfillPolicy, Definitions, MaterializeResult, asset

from quant_assets.partitions import daily_symbol_partitions


@asset(partitions_def=daily_symbol_partitions(), backfill_policy=BackfillPolicy.single_run())
def floor() -> MaterializeResult:
    return MaterializeResult()


defs = Definitions(assets=[floor])
