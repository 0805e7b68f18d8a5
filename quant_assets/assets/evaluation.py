"""oos_eval: the day-D model's out-of-sample predictions on day D's rows, evaluated.

Thin glue: read the run's feature_matrix, labels and multi_horizon_model partitions (same
day and symbol; one read of each asset for the run), load each fit once from MLflow, predict
and evaluate each symbol's consecutive days as one book (``quant_assets.evaluation.oos_run``,
one ``oos.evaluate_day`` per span), and stage one file per partition whose footer carries the
partition's summary; the oos_eval_checks audit publishes it (rows and summary in one atomic
rename) once its checks pass, or quarantines it.

One book across days: day D opens with the positions day D-1 closed with, read from D-1's
oos_eval partition (a declared dependency on the previous day of the same symbol), or from
D-1 evaluated earlier in the same run. Nothing later than D-1's own evaluation enters D.
Where D-1 has no published partition (the first day, never evaluated, or quarantined), D
starts flat and its ``carry_in`` metadata and footer say so and why.

Per partition the metadata holds a few facts and the summary (also in the footer); what is
the same for every partition (the portfolio rules, the cost) is the run's.
"""

import json

import numpy as np
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
from quant_assets.assets.metadata import code_version, lake_asset_metadata, partition_metadata
from quant_assets.assets.pooled import PooledPredictions, name_pooled_fit
from quant_assets.automation.conditions import oos_condition
from quant_assets.evaluation import oos, oos_run, portfolio
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


def _missing_inputs(store, parts: list[DaySymbol]) -> list[str]:
    """Input partitions not published, each with why when its checks failed (quarantined)."""
    missing = [(a, p) for p in parts for a in (FEATURES_ASSET, LABELS_ASSET, MODELS_ASSET) if not store.exists(a, p)]
    return [f"{a} {p}" + (f" ({note})" if (note := store.quarantine_note(a, p)) else "") for a, p in missing]


def opening_positions(store, part: DaySymbol) -> tuple[dict, dict]:
    """The positions ``part`` opens with when D-1 is not in the run, and the footer's account
    of them: D-1's published closing positions; else flat, and why."""
    prev = oos.previous_day(part)
    if store.exists(oos.OOS_ASSET, prev):
        carry = oos.closing_positions(store.read(oos.OOS_ASSET, prev))
        return carry, oos.carry_record(carry, str(prev.day), "its published partition")
    note = store.quarantine_note(oos.OOS_ASSET, prev)
    why = f"flat: {oos.OOS_ASSET} {prev} is not published" + (f" ({note})" if note else "")
    return {}, oos.carry_record({}, None, why)


def read_days(store, parts: list[DaySymbol]) -> dict[DaySymbol, tuple[oos_run.Day, dict]]:
    """Each partition's inputs (feature rows sorted by t, labels, fit) and model record, from
    one read of each input asset."""
    features, labels, records = (
        oos_run.by_partition(store.read_many(asset, parts, with_partition_day=True), parts) for asset in (FEATURES_ASSET, LABELS_ASSET, MODELS_ASSET)
    )
    out = {}
    for part in parts:
        record = records[part].row(0, named=True)
        rows = features[part] if features[part]["t"].is_sorted() else features[part].sort("t")
        out[part] = (oos_run.Day(part, rows, labels[part], oos.Fit(record["model_uri"], record["fit_end"])), record)
    return out


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
    metadata={
        "row_columns": ", ".join(oos.ROW_SCHEMA),
        "trailing_inputs": {h: vars(s) for h, s in oos.TRAILING.items()},
        **lake_asset_metadata(oos.OOS_ASSET),
    },
    code_version=code_version("quant_assets/assets/evaluation.py", "quant_assets/evaluation"),
)
def oos_eval(context: AssetExecutionContext, lake: LakeResource, mlflow_tracking: MlflowTracking) -> MaterializeResult:
    parts = parse_keys(context.partition_keys)
    store = lake.lake()
    missing = _missing_inputs(store, parts)
    if missing:
        raise ValueError(f"{oos.OOS_ASSET}: input partitions not materialized: {', '.join(missing[:10])}; materialize them first")
    cost = cost_from_env()
    rules = portfolio.Rules.from_env()
    tracking = mlflow_tracking.tracking()
    models = {}
    pooled = PooledPredictions(store, tracking, mlflow_tracking)  # lgbm_pooled
    now = utc_now()
    days = read_days(store, parts)
    # per (symbol, fit): the run's days it serves and one of their records (the days of a fit
    # share its anchor, so they share the anchor's pooled fit too)
    served: dict[tuple[str, str], tuple[list, dict]] = {}
    for part in sorted(parts):
        record = days[part][1]
        served.setdefault((part.symbol, record["model_uri"]), ([], record))[0].append(part.day)

    def predict(fit: oos.Fit, symbol: str, features: pl.DataFrame) -> dict[str, np.ndarray]:
        """family -> [rows, horizons] on the symbol's ``features`` (one or more days the fit
        serves): every family the fit predicts, and lgbm_pooled ranked among those days' universe."""
        if fit.model_uri not in models:
            models[fit.model_uri] = mlflow_tracking.load_fitted(tracking, fit.model_uri)
        fit_days, record = served[(symbol, fit.model_uri)]
        return pooled.add(symbol, fit_days, record, features, models[fit.model_uri].predict(features))

    partial = rows_written = 0
    metadata = []
    # Staged, not published: oos_eval_checks publishes the partitions that pass. A span's days
    # are staged as soon as they are evaluated, so a run holds one symbol's rows at a time
    # (a 5-symbol half of a six-month study held ~900 partitions of rows at once).
    with staged_writes(context, lake, oos.OOS_ASSET) as staged:
        for span in oos_run.consecutive(parts):  # each symbol's consecutive days, one book: D carries into D+1
            carry, carried = opening_positions(store, span[0])
            for e in oos_run.evaluate_span([days[p][0] for p in span], predict, carry, carried, cost=cost.fraction, rules=rules):
                rows = name_pooled_fit(e.rows, days[e.part][1])
                summary = oos.summary_json(rows)
                write = staged.write(oos.OOS_ASSET, e.part, rows, metadata={oos.SUMMARY_KEY: summary, oos.CARRY_KEY: json.dumps(e.carried)})
                day, record = days[e.part]
                pending = oos.day_missing_horizons(e.part.day, day.labels, now)
                partial += bool(pending)
                rows_written += rows.height
                metadata.append((e.part, partition_metadata(
                    write,
                    rows,
                    {
                        "complete": not pending,
                        "missing_horizons": ", ".join(pending) or "none",
                        "model_uri": record["model_uri"],
                        "fit_end": str(record["fit_end"]),
                        "families": ", ".join(rows["family"].unique(maintain_order=True).to_list()),
                        "carry_in": f"from {e.carried['from']} ({e.carried['why']})" if e.carried["from"] else e.carried["why"],
                        "summary": MetadataValue.json(json.loads(summary)),
                    },
                    time_column="t",
                )))  # fmt: skip
    for part, meta in metadata:
        context.add_asset_metadata(meta, partition_key=part.dagster_key)
    context.log.info("evaluated %d partitions with %d fits", len(parts), len(models))
    return MaterializeResult(
        metadata={
            "run_partitions": len(parts),
            "run_fits": len(models),
            "run_rows": rows_written,
            "run_partial": partial,
            "portfolio_rules": MetadataValue.json(rules.metadata()),
            **cost.metadata(),
        }
    )
