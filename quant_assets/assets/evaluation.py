"""oos_eval: the day-D model's out-of-sample predictions on day D's rows, evaluated.

Thin glue: read the run's feature_matrix, labels and multi_horizon_model partitions (same
day and symbol), load each fit once from MLflow, predict, evaluate
(``quant_assets.evaluation.oos``) and stage one file per partition whose footer carries the
partition's summary; the oos_eval_checks gate publishes it (rows and summary in one atomic
rename) once its checks pass, or quarantines it.

One book across days: day D opens with the positions day D-1 closed with, read from D-1's
oos_eval partition (a declared dependency on the previous day of the same symbol), or from
D-1 evaluated earlier in the same run. Nothing later than D-1's own evaluation enters D.
Where D-1 has no published partition (the first day, never evaluated, or quarantined), D
starts flat and its ``carry_in`` metadata and footer say so and why.
"""

import json

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
from quant_assets.assets.pooled import PooledPredictions, name_pooled_fit
from quant_assets.automation.conditions import oos_condition
from quant_assets.evaluation import oos, portfolio
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.costs import cost_from_env
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.record import MODELS_ASSET
from quant_assets.partitions import DaySymbol, daily_symbol_partitions, day_window_mapping, parse_keys
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.models import MlflowTracking
from quant_assets.timegrid import utc_now

EVALUATION_GROUP = "evaluation"
TABLE_FIGURES = ("rank_ic", "hit_rate", "pnl", "turnover", "trades", "decisions")


def _missing_inputs(store, parts: list[DaySymbol]) -> list[str]:
    """Input partitions not published, each with why when its checks failed (quarantined)."""
    missing = [(a, p) for p in parts for a in (FEATURES_ASSET, LABELS_ASSET, MODELS_ASSET) if not store.exists(a, p)]
    return [f"{a} {p}" + (f" ({note})" if (note := store.quarantine_note(a, p)) else "") for a, p in missing]


def opening_positions(store, part: DaySymbol, closed: dict[DaySymbol, dict]) -> tuple[dict, dict]:
    """Day ``part``'s carried-in positions and the footer's account of them: D-1's closing
    positions, from this run (``closed``) or D-1's published partition; else flat, and why."""
    prev = oos.previous_day(part)
    if prev in closed:
        carry, why = closed[prev], "evaluated earlier in this run"
    elif store.exists(oos.OOS_ASSET, prev):
        carry, why = oos.closing_positions(store.read(oos.OOS_ASSET, prev)), "its published partition"
    else:
        note = store.quarantine_note(oos.OOS_ASSET, prev)
        why = f"flat: {oos.OOS_ASSET} {prev} is not published" + (f" ({note})" if note else "")
        return {}, oos.carry_record({}, None, why)
    return carry, oos.carry_record(carry, str(prev.day), why)


def _summary_table(summary: dict[str, dict]) -> MetadataValue:
    rows = [{"series": key, **{f: figures.get(f) for f in TABLE_FIGURES}} for key, figures in summary.items()]
    return preview(pl.DataFrame(rows), rows=len(rows))


@asset(
    name=oos.OOS_ASSET,
    group_name=EVALUATION_GROUP,
    kinds={"polars", "parquet", "mlflow"},
    partitions_def=daily_symbol_partitions(),
    backfill_policy=BackfillPolicy.single_run(),
    deps=[
        *(AssetDep(a, partition_mapping=IdentityPartitionMapping()) for a in (LABELS_ASSET, MODELS_ASSET)),
        # day D of every symbol: the pooled family (lgbm_pooled) ranks S among the universe at each t
        AssetDep(FEATURES_ASSET, partition_mapping=day_window_mapping(0, 0, every_symbol=True)),
        # the previous day's book: its closing positions open day D
        AssetDep(oos.OOS_ASSET, partition_mapping=day_window_mapping(-1, -1)),
    ],
    automation_condition=oos_condition(),
    description=(
        "Out-of-sample evaluation of day D for symbol S: the multi_horizon_model partition (D, S) (fit ended an "
        f"embargo before D) predicts D's feature rows; per horizon ({', '.join(HORIZON_NAMES)}) and model family, "
        "joined to the labels asset's labels and run through the one reference strategy, next to the flat, "
        "buy-and-hold and momentum baselines; the mean family (lgbm and mhnet averaged) and the portfolio series "
        "(the combined position serving would hold, with its weights and sizing) too. Long rows (t, family, horizon, "
        "prediction, label, label_net, position, pnl, exit_cost, ...); the per-series summary (rank IC, hit rate, "
        "after-cost PnL, turnover, trades, final position, exit cost, calibration) in the file footer and the "
        "metadata. One book across days: D opens with D-1's closing positions (carry_in says from where). Partial "
        "until every label of the day is known (D+1 + 7d); missing_horizons says which."
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
    rules = portfolio.Rules.from_env()
    tracking = mlflow_tracking.tracking()
    models, evaluated, closed = {}, [], {}
    pooled = PooledPredictions(store, tracking, mlflow_tracking)  # lgbm_pooled
    now = utc_now()
    for part in sorted(parts, key=lambda p: (p.symbol, p.day)):  # each symbol's days in order: D carries into D+1
        record = store.read(MODELS_ASSET, part).row(0, named=True)
        uri = record["model_uri"]
        if uri not in models:
            models[uri] = mlflow_tracking.load_fitted(tracking, uri)
        features = store.read(FEATURES_ASSET, part).sort("t")
        labels = store.read(LABELS_ASSET, part)
        carry, carried = opening_positions(store, part, closed)
        predictions = pooled.add(part, record, features, models[uri].predict(features))
        rows = oos.evaluate_day(features, labels, predictions, oos.Fit(uri, record["fit_end"]), cost=cost.fraction,
                                carry=carry, rules=rules)  # fmt: skip
        rows = name_pooled_fit(rows, record)
        closed[part] = oos.closing_positions(rows)
        evaluated.append((part, rows, oos.summary(rows), oos.day_missing_horizons(part.day, labels, now), record, carried))
    # Staged, not published: oos_eval_checks publishes the partitions that pass.
    with staged_writes(context, lake, oos.OOS_ASSET) as staged:
        writes = [
            staged.write(oos.OOS_ASSET, part, rows, metadata={oos.SUMMARY_KEY: oos.summary_json(rows), oos.CARRY_KEY: json.dumps(carried)})
            for part, rows, _, _, _, carried in evaluated
        ]
    for (part, rows, summary, pending, record, carried), write in zip(evaluated, writes):
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
                    "carry_in": f"from {carried['from']} ({carried['why']})" if carried["from"] else carried["why"],
                    "portfolio_rules": MetadataValue.json(rules.metadata()),
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
            "run_partial": sum(1 for _, _, _, pending, _, _ in evaluated if pending),
        }
    )
