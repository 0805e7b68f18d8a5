"""feature_matrix: one row per symbol per 5m decision time, all sources joined as-of.

Thin glue: which partitions to read comes from Dagster's partition mapping, the data work
from ``quant_assets.features`` (vectorised over every partition of the run), the column
contract from ``quant_assets.features.contract``.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import polars as pl
from dagster import (
    AssetDep,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MultiPartitionMapping,
    asset,
)

from quant_assets.assets.checks import staged_writes
from quant_assets.assets.metadata import code_version, lake_asset_metadata, written_facts
from quant_assets.assets.upstream import mapped_upstream
from quant_assets.automation.conditions import features_condition
from quant_assets.features import compute as feature_compute
from quant_assets.features import contract
from quant_assets.features.inputs import AHEAD_DAYS, LOOKBACK_DAYS, UPSTREAM, mapped_days
from quant_assets.features.lake_io import read_inputs, write_partition
from quant_assets.features.provenance import input_hashes
from quant_assets.partitions import DaySymbol, daily_symbol_partitions, day_lookback_mapping, parse_keys
from quant_assets.resources.lake import LakeResource
from quant_assets.timegrid import utc_now

FEATURES_GROUP = "features"
WRITE_THREADS = 8


def lookback_mapping(upstream: str) -> MultiPartitionMapping:
    """Feature day D of a symbol reads days D-LOOKBACK_DAYS..D+AHEAD_DAYS[upstream] of
    ``upstream`` for the same symbol (``inputs.mapped_days``).

    Days that do not exist (before the first partition, after today) are dropped, not an
    error, and the features that needed them come out missing and flagged.
    """
    return day_lookback_mapping(LOOKBACK_DAYS, AHEAD_DAYS[upstream])


def _partition_stats(frame: pl.DataFrame) -> dict[str, dict]:
    """Per-partition facts for the metadata, computed once over the whole run."""
    aggs = [pl.len().alias("rows"), pl.col("t").min().alias("first_t"), pl.col("t").max().alias("last_t")]
    for source, flags in contract.FLAGS_BY_SOURCE.items():
        aggs.append(pl.any_horizontal([pl.col(f) for f in flags]).sum().alias(f"rows_with_missing_{source}"))
        aggs.append(pl.col(contract.ASOF_COLUMNS[source]).max().alias(f"newest_{source}_available_at"))
    stats = frame.group_by("partition").agg(aggs)
    return {row.pop("partition"): row for row in stats.iter_rows(named=True)}


@asset(
    name=contract.FEATURES_ASSET,
    group_name=FEATURES_GROUP,
    kinds={"polars", "parquet"},
    partitions_def=daily_symbol_partitions(),
    backfill_policy=BackfillPolicy.single_run(),
    deps=[AssetDep(upstream, partition_mapping=lookback_mapping(upstream)) for upstream in UPSTREAM],
    automation_condition=features_condition(),
    metadata=lake_asset_metadata(contract.FEATURES_ASSET),
    code_version=code_version("quant_assets/assets/features.py", "quant_assets/features"),
    description=(
        "One row per 5m decision time t (a bar's close) for one UTC day of one symbol: bar "
        "features over trailing windows, derivatives and text joined as-of on available_at, "
        "explicit missing flags, and per source the newest available_at used. Columns follow "
        f"the feature contract v{contract.SCHEMA_VERSION} (quant_assets.features.contract)."
    ),
)
def feature_matrix(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    clock = [time.perf_counter()]

    def lap() -> float:
        clock.append(time.perf_counter())
        return round(clock[-1] - clock[-2], 3)

    parts = parse_keys(context.partition_keys)
    store = lake.lake()
    mapped = {upstream: mapped_upstream(context, upstream) for upstream in UPSTREAM}
    timings = {"mapping_s": lap()}
    inputs, absent, file_shas = read_inputs(store, {a: keys or [] for a, keys in mapped.items()})
    timings["read_s"] = lap()
    mapped_sets = {a: (None if keys is None else set(keys)) for a, keys in mapped.items()}
    read = {a: (keys or set()) - set(absent[a]) for a, keys in mapped_sets.items()}
    upstream_days: dict[DaySymbol, dict[str, list[date]]] = {
        p: {a: [d for d in mapped_days(p.day, a) if DaySymbol(d, p.symbol) in read[a]] for a in UPSTREAM} for p in parts
    }
    frame = feature_compute.features_for_partitions(inputs, parts, upstream_days, now=utc_now())
    stats = _partition_stats(frame)
    timings["compute_s"] = lap()
    hashes = input_hashes(inputs, parts, upstream_days, file_shas)
    timings["input_hashes_s"] = lap()
    by_part = frame.partition_by("partition", as_dict=True, maintain_order=True)
    empty = contract.empty()
    # Staged, not published: feature_matrix_checks publishes the partitions that pass.
    with staged_writes(context, lake, contract.FEATURES_ASSET) as staged:

        def write(part: DaySymbol):
            rows = by_part.get((str(part),))
            return write_partition(staged, part, empty if rows is None else rows.drop("partition"), upstream_days[part], hashes[part])

        # Many small atomic writes (write, fsync, rename): concurrent, results in partition order.
        with ThreadPoolExecutor(WRITE_THREADS) as pool:
            writes = list(pool.map(write, parts))
    for part, write in zip(parts, writes):
        name = str(part)
        notes = []
        for upstream in UPSTREAM:
            if mapped_sets[upstream] is None:
                notes.append(f"{upstream}: not defined in this code location, its features are missing")
                continue
            wanted = [d for d in mapped_days(part.day, upstream) if DaySymbol(d, part.symbol) in mapped_sets[upstream]]
            gone = [d for d in wanted if d not in upstream_days[part][upstream]]
            if gone:
                # A partition whose blocking checks failed is quarantined, never read: say so.
                why = [store.quarantine_note(upstream, DaySymbol(d, part.symbol)) for d in gone]
                listed = ", ".join(d.isoformat() + (f" ({w})" if w else "") for d, w in zip(gone, why))
                notes.append(f"{upstream}: partitions {listed} not materialized, their features are missing")
        facts = stats.get(name, {"rows": 0})
        context.add_asset_metadata(
            {
                **{k: (str(v) if v is not None and not isinstance(v, int) else v) for k, v in facts.items() if v is not None},
                **written_facts(write),
                **contract.metadata(),
                "inputs_read": "; ".join(f"{a}: {', '.join(d.isoformat() for d in upstream_days[part][a]) or 'none'}" for a in UPSTREAM),
                "upstream_notes": "; ".join(notes) or "all mapped upstream partitions read",
            },
            partition_key=part.dagster_key,
        )
    timings["write_and_metadata_s"] = lap()
    context.log.info("wrote %d feature rows in %d partitions (%s)", frame.height, len(parts), timings)
    return MaterializeResult(
        metadata={
            "run_rows": frame.height,
            "run_partitions": len(parts),
            **contract.metadata(),
            **{f"run_{k}": v for k, v in timings.items()},
        }
    )
