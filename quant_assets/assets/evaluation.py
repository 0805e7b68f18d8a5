"""oos_eval: the day-D model's out-of-sample predictions on day D's rows, evaluated.

Thin glue: read the run's feature_matrix, labels and multi_horizon_model partitions (same
day and symbol), load each fit once from MLflow, predict, evaluate
(``quant_assets.evaluation.oos``) and stage one file per partition whose footer carries the
partition's summary; the oos_eval_checks gate publishes it (rows and summary in one atomic
rename) once its checks pass, or quarantines it.
"""

import polars as pl
from dagster import (
    AssetDep,
    AssetExecutionContext,
    BackfillPolicy,
    IdentityPartitionMapping,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quant_assets.assets.checks import staged_writes
from quant_assets.assets.metadata import partition_metadata, preview
from quant_assets.automation.conditions import oos_condition
from quant_assets.evaluation import oos
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.costs import cost_from_env
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.record import MODELS_ASSET
from quant_assets.partitions import DaySymbol, daily_symbol_partitions, parse_keys
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.models import MlflowTracking
from quant_assets.timegrid import utc_now

EVALUATION_GROUP = "evaluation"
TABLE_FIGURES = ("rank_ic", "hit_rate", "pnl", "turnover", "trades", "decisions")


def _missing_inputs(store, parts: list[DaySymbol]) -> list[str]:
    """Input partitions not published, each with why when its checks failed (quarantined)."""
    missing = [(a, p) for p in parts for a in (FEATURES_ASSET, LABELS_ASSET, MODELS_ASSET) if not store.exists(a, p)]
    return [f"{a} {p}" + (f" ({note})" if (note := store.quarantine_note(a, p)) else "") for a, p in missing]


def _summary_table(summary: dict[str, dict]) -> MetadataValue:
    rows = [{"series": key, **{f: figures.get(f) for f in TABLE_FIGURES}} for key, figures in summary.items()]
    return preview(pl.DataFrame(rows), rows=len(rows))


@asset(
    name=oos.OOS_ASSET,
    group_name=EVALUATION_GROUP,
    kinds={"polars", "parquet", "mlflow"},
    partitions_def=daily_symbol_partitions(),
    backfill_policy=BackfillPolicy.single_run(),
    deps=[AssetDep(a, partition_mapping=IdentityPartitionMapping()) for a in (FEATURES_ASSET, LABELS_ASSET, MODELS_ASSET)],
    automation_condition=oos_condition(),
    description=(
        "Out-of-sample evaluation of day D for symbol S: the multi_horizon_model partition (D, S) (fit ended an "
        f"embargo before D) predicts D's feature rows; per horizon ({', '.join(HORIZON_NAMES)}) and model family, "
        "joined to the labels asset's labels and run through the one reference strategy, next to the flat, "
        "buy-and-hold and momentum baselines. Long rows (t, family, horizon, prediction, label, label_net, position, "
        "pnl, ...); the per-series summary (rank IC, hit rate, after-cost PnL, turnover, trades, calibration) in "
        "the file footer and the metadata. Each day starts flat. Partial until every label of the day is known "
        "(D+1 + 7d); missing_horizons says which."
    ),
    metadata={"row_columns": ", ".join(oos.ROW_SCHEMA), "trailing_inputs": {h: vars(s) for h, s in oos.TRAILING.items()}},
)
def oos_eval(context: AssetExecutionContext, lake: LakeResource, mlflow_tracking: MlflowTracking) -> MaterializeResult:
    parts = parse_keys(context.partition_keys)
    store = lake.lake()
    missing = _missing_inputs(store, parts)
    if missing:
        raise ValueError(f"{oos.OOS_ASSET}: input partitions not materialised: {', '.join(missing[:10])}; materialise them first")
    cost = cost_from_env()
    tracking = mlflow_tracking.tracking()
    models, evaluated = {}, []
    now = utc_now()
    for part in parts:  # compute every partition before writing any
        record = store.read(MODELS_ASSET, part).row(0, named=True)
        uri = record["model_uri"]
        if uri not in models:
            models[uri] = mlflow_tracking.load_fitted(tracking, uri)
        features = store.read(FEATURES_ASSET, part).sort("t")
        labels = store.read(LABELS_ASSET, part)
        rows = oos.evaluate_day(features, labels, models[uri].predict(features), oos.Fit(uri, record["fit_end"]), cost=cost.fraction)
        evaluated.append((part, rows, oos.summary(rows), oos.day_missing_horizons(part.day, labels, now), record))
    # Staged, not published: oos_eval_checks publishes the partitions that pass.
    with staged_writes(context, lake, oos.OOS_ASSET) as staged:
        writes = [staged.write(oos.OOS_ASSET, part, rows, metadata={oos.SUMMARY_KEY: oos.summary_json(rows)}) for part, rows, *_ in evaluated]
    for (part, rows, summary, pending, record), write in zip(evaluated, writes):
        context.add_asset_metadata(
            partition_metadata(
                write,
                rows,
                {
                    "complete": not pending,
                    "missing_horizons": ", ".join(pending) or "none",
                    "model_uri": record["model_uri"],
                    "fit_end": str(record["fit_end"]),
                    "families": ", ".join(rows["family"].unique(maintain_order=True).to_list()),
                    **cost.metadata(),
                    "summary": MetadataValue.json(summary),
                    "summary_table": _summary_table(summary),
                },
                time_column="t",
            ),
            partition_key=part.dagster_key,
        )
    context.log.info("evaluated %d partitions with %d fits", len(parts), len(models))
    return MaterializeResult(
        metadata={
            "run_partitions": len(parts),
            "run_fits": len(models),
            "run_rows": sum(r.height for _, r, *_ in evaluated),
            "run_partial": sum(1 for *_, pending, _ in evaluated if pending),
        }
    )
