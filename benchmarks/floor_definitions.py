"""The Dagster floor: a trivial asset over the same partitions, backfilled the same way.

Whatever this costs is Dagster's own bookkeeping (run start, about two events per
partition); a pipeline cannot be faster than it, so benchmarks report their ratio to it.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    BackfillPolicy,
    Definitions,
    MaterializeResult,
    asset,
    multi_asset_check,
)

from quant_assets.partitions import daily_symbol_partitions, parse_keys


@asset(partitions_def=daily_symbol_partitions(), backfill_policy=BackfillPolicy.single_run())
def floor() -> MaterializeResult:
    return MaterializeResult()


defs = Definitions(assets=[floor])


def mirror_floor(name: str, deps, metadata_keys, run_metadata, check_names):
    """A trivial asset shaped like a real one: the same partitions, ``deps`` (AssetDeps with the
    real asset's partition mappings), BackfillPolicy.single_run, the same per-partition metadata
    keys and run metadata keys with constant values, and the same blocking check specs (one
    multi-asset check passing at once). Returns (asset, [its checks])."""

    @asset(name=name, partitions_def=daily_symbol_partitions(), backfill_policy=BackfillPolicy.single_run(), deps=deps)
    def mirror(context) -> MaterializeResult:
        for part in parse_keys(context.partition_keys):
            context.add_asset_metadata({k: "x" for k in metadata_keys}, partition_key=part.dagster_key)
        return MaterializeResult(metadata={k: 0 for k in run_metadata} | {"run_partitions": len(context.partition_keys)})

    if not check_names:
        return mirror, []

    @multi_asset_check(name=f"{name}_checks", specs=[AssetCheckSpec(f"{name}_{c}", asset=name, blocking=True) for c in check_names])
    def mirror_checks(context):
        for c in check_names:
            yield AssetCheckResult(check_name=f"{name}_{c}", asset_key=name, passed=True)

    return mirror, [mirror_checks]
