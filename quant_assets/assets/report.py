"""study_report: the picture of one walk-forward study (``quant-assets study``).

Partitioned by a dynamic ``study`` dimension whose keys name the study's model days and
universe (``frames.Study.key``): every study is its own partition, so each keeps its own
report, metadata and history in the Dagster UI, and a study run again replaces only its own.
Run config would keep one latest report for every study; a daily partition would mix
universes. The ``quant-assets study`` command adds its key and materializes it last.

Thin glue: read the study's oos_eval rows, its last day's gate_verdict rows and the feature
missing flags from the lake; ``quant_assets.report`` builds the frames and the page; the page
is written under ``<home>/reports/`` and logged to the study's one MLflow run.
"""

from pathlib import Path

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    DynamicPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quant_assets import settings
from quant_assets.assets.metadata import code_version
from quant_assets.evaluation.gate_window import GATE_ASSET
from quant_assets.evaluation.oos import OOS_ASSET
from quant_assets.features.contract import FEATURES_ASSET, FLAGS_BY_SOURCE
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.partitions import DaySymbol, days_between
from quant_assets.report import frames, page, pooled
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.models import MlflowTracking

REPORT_ASSET = "study_report"
STUDY_PARTITIONS = DynamicPartitionsDefinition(name="study")
# The report reads whatever of these its study covers, not one partition each.
_EVERY = AllPartitionMapping()


OOS_COLUMNS = ("t", "family", "horizon", "evaluable", "pnl", "prediction", "label")  # what frames.* read, besides symbol


def report_path(study: frames.Study) -> Path:
    return Path(settings.home().reports) / f"study_{study.key}.html"


def build_report(store, study: frames.Study) -> tuple[str, dict, list[str]]:
    """The page, its headline figures and the notes on what it lacks, from the lake."""
    parts = [DaySymbol(d, s) for d in days_between(study.start, study.end) for s in study.symbols]
    # Only the columns the page reads: oos_eval rows are ~15k a partition, and all of them
    # read whole were 6.3 GB for ten symbols over six months.
    rows = store.read_many(OOS_ASSET, parts, missing_ok=True, columns=list(OOS_COLUMNS))
    flag_columns = [f for flags in FLAGS_BY_SOURCE.values() for f in flags]
    flags = store.read_many(FEATURES_ASSET, parts, missing_ok=True, with_partition_day=True, columns=flag_columns)
    verdicts = store.read_many(GATE_ASSET, [DaySymbol(study.end, s) for s in study.symbols], missing_ok=True)
    notes = []
    if rows.is_empty():
        notes.append(f"no oos_eval partition of the study is in the lake ({len(parts)} expected)")
    elif rows["symbol"].n_unique() < len(study.symbols):
        notes.append(f"oos_eval holds only {', '.join(sorted(rows['symbol'].unique()))} of the study's symbols")
    daily = frames.daily_series_pnl(rows)
    equity = frames.equity_curves(daily)
    shown = frames.last_verdicts(verdicts)
    figures = frames.headline(equity, shown)
    ic = frames.rolling_rank_ic(rows)
    versus = pooled.comparison(ic, daily, list(HORIZON_NAMES))
    figures["pooled_beats_per_symbol_horizons"] = int((versus["winner"] == pooled.POOLED_FAMILY).sum())
    said = pooled.sentence(versus)
    html = page.render(
        study, equity, ic, frames.calibration(rows), frames.coverage_by_day(flags), shown, figures, notes, (versus, said),
    )  # fmt: skip
    notes = [*notes, said]
    return html, figures, notes


def _summary(study: frames.Study, figures: dict, notes: list[str], path: Path, run_url: str) -> str:
    lines = [
        f"**Study** {study.start} to {study.end}, {len(study.symbols)} symbols: {', '.join(study.symbols)}",
        f"- verdicts on {study.end}: **{figures['verdicts_passed']} passed** of {figures['verdicts']}",
        f"- universe portfolio PnL after cost: {figures['universe_portfolio_pnl']:.4f}; best model series "
        f"{figures['universe_best_series']}: {figures['universe_best_series_pnl']:.4f}",
        f"- report: [{path.name}]({path.as_uri()}) (opens offline); MLflow run: [{run_url}]({run_url})",
        *[f"- note: {n}" for n in notes],
    ]
    return "\n".join(lines)


@asset(
    name=REPORT_ASSET,
    partitions_def=STUDY_PARTITIONS,
    deps=[AssetDep(a, partition_mapping=_EVERY) for a in (OOS_ASSET, GATE_ASSET, FEATURES_ASSET)],
    group_name="evaluation",
    code_version=code_version("quant_assets/assets/report.py", "quant_assets/report"),
    description=(
        "One study's report: the pooled family (lgbm_pooled) against the per-symbol fits (lgbm) per horizon, equity after cost, "
        "rolling rank IC, calibration, coverage and the last day's verdicts (HTML, offline)."
    ),
)
def study_report(context: AssetExecutionContext, lake: LakeResource, mlflow_tracking: MlflowTracking) -> MaterializeResult:
    study = frames.Study.from_key(context.partition_key)
    html, figures, notes = build_report(lake.lake(), study)
    path = report_path(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)  # a killed run never leaves half a page
    numbers = {k: v for k, v in figures.items() if isinstance(v, (int, float))}
    experiment_id, run_id = mlflow_tracking.tracking().log_study(
        study.key, path, numbers, {"dagster_run_id": context.run.run_id, "start": str(study.start), "end": str(study.end)}
    )
    run_url = mlflow_tracking.run_url(experiment_id, run_id)
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(path)),
            "report_url": MetadataValue.url(path.as_uri()),
            "summary": MetadataValue.md(_summary(study, figures, notes, path, run_url)),
            "mlflow_run_id": run_id,
            "mlflow_run": MetadataValue.url(run_url),
            "verdicts_passed": figures["verdicts_passed"],
            "verdicts": figures["verdicts"],
            "symbols": len(study.symbols),
            "days": (study.end - study.start).days + 1,
            "bytes": path.stat().st_size,
        }
    )
