"""multi_horizon_model: partition (D, S) is the model that serves day D for symbol S.

Thin glue: plan the run's fits (one per symbol and cadence anchor), read each window's
feature and label partitions, fit both families (``quant_assets.models``) in a pool of worker
processes (``models.pool``: fits of a step run side by side, one thread each), log and
register each fit in MLflow (``quant_assets.registry``) here, in plan order, and store per
partition the row that ties the day to its fit. A fit whose window, inputs, settings and code
were logged before is reused, so re-materializing a day does not mint a new model version.

Write-audit-publish: the rows are staged and published by the multi_horizon_model_checks audit
only for days whose four checks pass. The fit itself is logged and registered in MLflow before
the checks run (they reload it from there); a fit whose days fail stays in MLflow as a trial
tried (the evaluation gate counts every trial), but no published partition points at it, so
oos_eval and every lake reader never serve it.
"""

import time
from dataclasses import dataclass

import polars as pl
from dagster import AssetDep, AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from quant_assets import catalog, settings
from quant_assets.assets.checks import staged_writes
from quant_assets.assets.metadata import code_version, partition_metadata
from quant_assets.assets.pooled import PooledFits
from quant_assets.automation.conditions import model_condition
from quant_assets.bundles.unpacked import UnpackedBundles
from quant_assets.features.contract import CONTRACT_HASH, FEATURES_ASSET, SCHEMA_VERSION
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.plan import FIT_CODE, PlannedFit, code_digest, fit_key, plan_fits
from quant_assets.models.pool import fit_in_pool
from quant_assets.models.record import MODELS_ASSET, inputs_digest, model_record
from quant_assets.models.train import FitJob, fit_job
from quant_assets.models.window import upstream_day_offsets
from quant_assets.partitions import DaySymbol, daily_symbol_partitions, day_window_mapping, parse_keys
from quant_assets.registry.tracking import LoggedFit
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.models import MlflowTracking, ModelTraining

MODELS_GROUP = "models"
RAW_ASSETS = catalog.raw_inputs()  # where a bundle's provenance is recorded (``LakeAsset.raw_input``)


class WindowReads:
    """The features and labels of a run's fit windows (one symbol each, column ``t`` first) and
    their content hashes, each partition read and hashed once per run.

    A symbol's consecutive anchors share all but ``refit_days`` of their window days (83 of 90
    with the defaults), and reading every window whole was most of the step's own time beside
    the fits. Fits come in plan order, anchors ascending per symbol, so a symbol's partitions
    older than its current window's first day are let go.
    """

    def __init__(self, store):
        self.store = store
        self.held: dict[tuple[str, DaySymbol], tuple[pl.DataFrame, str]] = {}

    def window(self, fit: PlannedFit) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, str]]:
        parts = fit.input_parts
        self.held = {k: v for k, v in self.held.items() if k[1].symbol != fit.window.symbol or k[1].day >= parts[0].day}
        frames, hashes = {}, {}
        for asset_name in (FEATURES_ASSET, LABELS_ASSET):
            self._read(asset_name, [p for p in parts if (asset_name, p) not in self.held and self.store.exists(asset_name, p)])
            present = [p for p in parts if (asset_name, p) in self.held]
            frames[asset_name] = pl.concat([self.held[asset_name, p][0] for p in present], how="vertical") if present else pl.DataFrame()
            hashes.update({f"{asset_name}/{p}": self.held[asset_name, p][1] for p in present})
        return frames[FEATURES_ASSET], frames[LABELS_ASSET], hashes

    def partition(self, asset_name: str, part: DaySymbol) -> tuple[pl.DataFrame, str] | None:
        """One partition's frame and content hash, held (read now if it was not); None when the
        lake has no such partition. The pooled fits read their windows through here: they need the
        same partitions as the per-symbol fits of their anchor."""
        if (asset_name, part) not in self.held:
            if not self.store.exists(asset_name, part):
                return None
            self._read(asset_name, [part])
        return self.held[asset_name, part]

    def _read(self, asset_name: str, parts: list[DaySymbol]) -> None:
        for part in parts:
            frame, sha = self.store.read_hashed(asset_name, part)
            self.held[asset_name, part] = (frame.drop("symbol", strict=False), sha)


@dataclass
class _Prepared:
    """What the step keeps of a planned fit while the pool fits it (or while it is reloaded)."""

    fit: PlannedFit
    hashes: dict[str, str]
    digest: str
    key: str
    logged: LoggedFit | None  # the fit logged before with the same key


def _bundle_ids(fit: PlannedFit) -> list[str]:
    """The imported bundles that hold the raw data of the window's days (empty for exchange data)."""
    unpacked = UnpackedBundles(settings.home().bundles)
    return sorted({bundle.bundle_id for asset_name in RAW_ASSETS for bundle in unpacked.locate(asset_name, fit.input_parts).values()})


def build_model_asset(train_days: int, refit_days: int):
    """The asset for a fit-window length and refit cadence (the partition mapping needs both)."""
    first, last = upstream_day_offsets(train_days, refit_days)
    # every symbol's window: the pooled family (lgbm_pooled) fits across the universe
    window_mapping = day_window_mapping(first, last, every_symbol=True)

    @asset(
        name=MODELS_ASSET,
        group_name=MODELS_GROUP,
        kinds={"lightgbm", "pytorch", "mlflow"},
        partitions_def=daily_symbol_partitions(),
        backfill_policy=BackfillPolicy.single_run(),
        deps=[AssetDep(FEATURES_ASSET, partition_mapping=window_mapping), AssetDep(LABELS_ASSET, partition_mapping=window_mapping)],
        automation_condition=model_condition(),
        code_version=code_version("quant_assets/assets/models.py", "quant_assets/assets/pooled.py", *(f"quant_assets/{e}" for e in FIT_CODE)),
        description=(
            f"The model that serves day D for symbol S: LightGBM per horizon ({', '.join(HORIZON_NAMES)}) and a "
            "multi-head net with a gated text residual, fitted on feature_matrix and labels from "
            f"D - {train_days}d to an embargo (longest horizon + one bar) before D's refit anchor "
            f"(every {refit_days} days), purged of rows whose label was known later. Each fit is an "
            "MLflow run, registered as a version of quant_assets.<SYMBOL>.<horizon>."
        ),
    )
    def multi_horizon_model(
        context: AssetExecutionContext, lake: LakeResource, mlflow_tracking: MlflowTracking, model_training: ModelTraining
    ) -> MaterializeResult:
        parts = parse_keys(context.partition_keys)
        store = lake.lake()
        tracking = mlflow_tracking.tracking()
        config = model_training.config()
        fits = plan_fits(parts, train_days, refit_days)
        fitted_count = reused = 0
        reads = WindowReads(store)
        pooled = PooledFits(context, store, tracking, mlflow_tracking, config, train_days, refit_days, reads.partition)  # lgbm_pooled
        started = time.perf_counter()

        def prepared():
            """Per fit, in plan order: (what the parent keeps, the pool's job or None when logged before)."""
            for fit in fits:
                features, labels, hashes = reads.window(fit)
                digest = inputs_digest(hashes)
                key = fit_key(fit.window, config, CONTRACT_HASH, digest, code_digest())
                logged = tracking.find_fit(key)
                if logged is None and (features.is_empty() or labels.is_empty()):
                    raise ValueError(
                        f"{MODELS_ASSET} {fit.window.symbol} anchor {fit.window.anchor}: no feature_matrix or labels partitions "
                        f"in the fit window {fit.window.days[0]}..{fit.window.days[-1]}; materialize them first"
                    )
                job = FitJob(fit.window, features, labels, config) if logged is None else None
                yield _Prepared(fit, hashes, digest, key, logged), job

        # Fits run in worker processes (models.pool); logging, registering and metadata stay
        # here, in plan order, so nothing depends on which worker finished first.
        # Staged, not published: multi_horizon_model_checks publishes the days that pass.
        with staged_writes(context, lake, MODELS_ASSET) as staged:
            for ready, model in fit_in_pool(prepared(), fit_job, FitJob.describe, model_training.workers()):
                fit, key, digest, logged = ready.fit, ready.key, ready.digest, ready.logged
                was_reused = logged is not None
                if not was_reused:
                    bundles = _bundle_ids(fit)
                    logged = tracking.log_fit(
                        model,
                        key,
                        params={**config.params(), **fit.window.describe(), "train_days": train_days, "refit_days": refit_days,
                                "contract_version": SCHEMA_VERSION, "contract_hash": CONTRACT_HASH, "inputs_sha256": digest},
                        tags={"symbol": fit.window.symbol, "fit_anchor": fit.window.anchor.isoformat(), "dagster_run_id": context.run_id,
                              "dagster_partitions": ", ".join(str(p) for p in fit.serves),
                              "code_version": settings.code_version(), "code_digest": code_digest(),
                              "bundle_ids": ", ".join(bundles) or "none (not from bundles)"},
                        inputs={"content_sha256": ready.hashes, "bundle_ids": bundles},
                        version_tags={"dagster_run_id": context.run_id, "fit_anchor": fit.window.anchor.isoformat(), "symbol": fit.window.symbol},
                    )  # fmt: skip
                    fitted_count += 1
                else:
                    model = mlflow_tracking.load_fitted(tracking, logged.model_uri)
                    reused += 1
                record = model_record(model, key, logged.run_id, logged.model_uri, logged.versions, digest)
                # the pooled fit of the anchor (lgbm_pooled), fitted here while the pool works on the next fits
                record = pooled.attach(record, fit.window)
                # fits overlap in the pool: a fit's seconds are the run's since the previous fit was done
                seconds = round(time.perf_counter() - started, 3)
                started = time.perf_counter()
                for part in fit.serves:
                    write = staged.write(MODELS_ASSET, part, record)
                    context.add_asset_metadata(
                        partition_metadata(
                            write,
                            record,
                            {
                                "mlflow_run_id": logged.run_id,
                                "mlflow_run": MetadataValue.url(mlflow_tracking.run_url(tracking.experiment_id, logged.run_id)),
                                "model_uri": logged.model_uri,
                                "model_versions": ", ".join(f"{h}: v{v}" for h, v in sorted(logged.versions.items())),
                                **{k: v for k, v in fit.window.describe().items()},
                                **{f"train_rows_{h}": int(model.training.get(h, {}).get("rows", 0)) for h in HORIZON_NAMES},
                                "fit_reused": was_reused,
                                "fit_s": seconds,
                            },
                            time_column="fit_end",
                        ),
                        partition_key=part.dagster_key,
                    )
        context.log.info("%d fits for %d partitions (%d trained, %d reused)", len(fits), len(parts), fitted_count, reused)
        return MaterializeResult(
            metadata={
                "run_partitions": len(parts),
                "run_fits": len(fits),
                "run_fits_trained": fitted_count,
                "run_fits_reused": reused,
                **pooled.summary(),
            }
        )

    return multi_horizon_model
