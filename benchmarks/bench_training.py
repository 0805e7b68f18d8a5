"""Benchmark: multi_horizon_model through Dagster + MLflow vs the same fits in bare LightGBM/PyTorch.

    python benchmarks/bench_training.py                     # BTC, ETH, SOL; models 2025-10-01..2025-11-30
    python benchmarks/bench_training.py --start 2025-11-01 --end 2025-11-07 --symbols BTC-USDT --workdir /tmp/bt

Data: ../shared/data (Binance spot 5m, USD-M funding and 1h mark), read with the ``file``
sources. Settings: the defaults (``QUANT_ASSETS_TRAIN_DAYS`` 90, ``QUANT_ASSETS_REFIT_DAYS`` 7,
so fits are anchored on Mondays, and the default ``ModelTraining`` resource).

Setup (not timed), in a fresh ``QUANT_ASSETS_HOME`` with an on-disk SQLite Dagster instance:
``market_bars`` and ``derivatives`` for the days the fit windows need (the earliest anchor's
window start minus one day, up to the last window's end plus the 7-day label lookahead),
then ``feature_matrix`` and ``labels`` for the window days, each one run per rectangle with
its blocking checks. ``text_latents`` is declared but not materialized (there is no text
before October, so the windows are mostly text-less anyway): text features come out
missing and flagged, the net's text branch is off for those rows.

Timed, in this order (floor first, so it never runs on a bigger instance than the pipeline):

- ``dagster_floor_s``: a trivial asset with the same partitions, partition mappings (the
  model's fit-window mapping on feature_matrix and labels), BackfillPolicy.single_run, the
  same per-partition metadata keys with constant values and a four-spec blocking check that
  passes at once, over the same range, run the same way: Dagster's own cost;
- ``pipeline_s``: ``multi_horizon_model`` over the range through ``quant_assets.runs.materialize``
  (one run per rectangle, the asset plus its four blocking checks), logging every fit to a
  real MLflow store (SQLite + local artifacts under the home) and registering its versions;
- ``raw_fit_s``: the same fits (``plan_fits`` over the same partitions, the same
  ``TrainingConfig``) with ``quant_assets.models.train.fit_job`` (bare LightGBM and bare
  PyTorch) on the same feature and label partitions, read from the lake beforehand (reads not
  timed), in the same pool of worker processes the asset fits in (``models.pool.fit_in_pool``,
  ``fit_workers`` processes, spawned inside the timed span as the asset's are); no Dagster, no
  MLflow. So the ratio compares the pipeline with the same parallel fits, not with one
  process fitting one after another. The asset also fits ``lgbm_pooled`` (one LightGBM per
  horizon and anchor over the universe) in its own process while the pool works; the raw pass
  fits the same pooled models (``models.pooled.fit_pooled`` on the same thinned windows, read
  beforehand) in the same place, at each anchor's first result.

OpenMP: with the default (active) OpenMP wait policy, two LightGBM threads on two cores that
other processes also use spin at every barrier while the other thread is descheduled: on the
shared 2-core machine a 100-round booster took 57 s with 2 threads against 6.9 s with 1. That
is why ``TrainingConfig.threads`` now defaults to 1. The script still sets
``OMP_WAIT_POLICY=passive`` for both passes unless told otherwise (``--omp-wait-policy
active``), so a run with more threads measures the fits, not the spinning.

Untimed warm-up before the timed parts: one tiny LightGBM fit and one AdamW step (torch's
optimiser imports ~9 s of lazily loaded modules on its first use in a process), and the
MLflow store is created (its SQLite schema migrations take several seconds once per store);
a deployed platform pays neither per backfill.

The pipeline's own calls (window reads, MLflow logging, reuse lookups, lake writes, model
loads in the checks) are wrapped with timers so the report says where the time beyond the raw
fits goes; a timer costs microseconds per call. The fits run in worker processes, where no
timer reaches: ``pool_wait`` is the time the step waited for the pool's next result (the
window reads and reuse lookups that feed the pool included; ``fit`` is that less those two,
plus ``pooled_fit``, the pooled fits the step ran itself).

The last line printed is JSON with ``pipeline_s``, ``raw_fit_s``, ``dagster_floor_s``,
``ratio_vs_floor_plus_raw`` (= pipeline / (floor + raw); target <= 1.3), ``fits``, ``rows``
and ``peak_rss_mb`` (max RSS of this process and its children; target under 4,000).
"""

import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import (  # noqa: E402
    Timers,
    log,
    model_bench_parser,
    model_definitions,
    model_partitions,
    print_report,
    run_model_bench,
    setup_inputs,
    step_seconds,
    timed_materializer,
    warm_up,
)


def main() -> None:
    p = model_bench_parser(__doc__)
    p.add_argument(
        "--omp-wait-policy",
        default=os.environ.get("OMP_WAIT_POLICY", "passive"),
        help="OMP_WAIT_POLICY for LightGBM's and torch's OpenMP threads (default passive; see the module docstring)",
    )
    args = p.parse_args()
    # Must be set before LightGBM or torch load their OpenMP runtime.
    os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    run_model_bench(args, "bench_training_", run)


def instrument(timers: Timers) -> None:
    """Time the model asset's and checks' own calls (names as the asset module bound them)."""
    from quant_assets.assets import models as model_asset_module
    from quant_assets.lake.store import ParquetLake
    from quant_assets.models import artefact
    from quant_assets.registry.tracking import Tracking
    from quant_assets.resources.models import MlflowTracking

    timers.patch(model_asset_module.WindowReads, "window", "read_window")
    original_pool = model_asset_module.fit_in_pool

    def timed_pool(*args, **kwargs):
        results = original_pool(*args, **kwargs)
        while True:
            t0 = time.perf_counter()
            try:
                item = next(results)
            except StopIteration:
                return
            finally:
                if timers.enabled:
                    timers.seconds["pool_wait"] += time.perf_counter() - t0
                    timers.calls["pool_wait"] += 1
            yield item

    model_asset_module.fit_in_pool = timed_pool
    timers.patch(Tracking, "__init__", "mlflow_open")
    timers.patch(Tracking, "log_fit", "mlflow_log_fit")
    timers.patch(Tracking, "find_fit", "mlflow_find_fit")
    timers.patch(MlflowTracking, "load_fitted", "mlflow_load_fitted")
    timers.patch(artefact.FittedModel, "save", "model_save_native")
    timers.patch(ParquetLake, "write", "lake_write")
    # the logged pyfunc of both families (registry.tracking.log_pyfunc, imported by name in pooled)
    from quant_assets.registry import pooled as registry_pooled
    from quant_assets.registry import tracking as registry_tracking

    for module in (registry_tracking, registry_pooled):
        timers.patch(module, "log_pyfunc", "mlflow_log_pyfunc")
    # lgbm_pooled, fitted in the step's own process (assets.pooled.PooledFits)
    from quant_assets.assets import pooled as pooled_asset_module

    timers.patch(pooled_asset_module, "fit_pooled", "pooled_fit")
    timers.patch(pooled_asset_module, "log_pooled", "mlflow_log_pooled")
    timers.patch(pooled_asset_module.PooledWindowReads, "window", "read_pooled_window")


def run(data, start, end, symbols, train_days, refit_days) -> dict:
    import polars as pl
    from dagster import AssetDep

    from benchmarks.floor_definitions import mirror_floor
    from quant_assets import settings
    from quant_assets.assets.models_checks import CHECKS as MODEL_CHECKS
    from quant_assets.assets.pooled import PooledWindowReads
    from quant_assets.features.contract import FEATURES_ASSET
    from quant_assets.instance import get_instance
    from quant_assets.labels.forward import LABELS_ASSET
    from quant_assets.labels.horizons import HORIZON_NAMES
    from quant_assets.lake.store import ParquetLake
    from quant_assets.models.pool import fit_in_pool
    from quant_assets.models.pooled import fit_pooled, pooled_window
    from quant_assets.models.record import MODELS_ASSET
    from quant_assets.models.train import FitJob, fit_job
    from quant_assets.models.window import upstream_day_offsets
    from quant_assets.partitions import day_window_mapping

    model_parts, fits, window_days, feature_parts, upstream_parts = model_partitions(start, end, symbols, train_days, refit_days)

    first_offset, last_offset = upstream_day_offsets(train_days, refit_days)
    window_mapping = day_window_mapping(first_offset, last_offset)
    record_keys = ["rows", "first_t", "last_t", "content_sha256", "path", "mlflow_run_id", "mlflow_run", "model_uri",
                   "model_versions", "fit_anchor", "fit_start", "fit_end", "embargo", *[f"train_rows_{h}" for h in HORIZON_NAMES],
                   "fit_reused", "fit_s"]  # fmt: skip
    floor, floor_checks = mirror_floor(
        "bench_floor",
        deps=[AssetDep(FEATURES_ASSET, partition_mapping=window_mapping), AssetDep(LABELS_ASSET, partition_mapping=window_mapping)],
        metadata_keys=record_keys,
        run_metadata=["run_fits"],
        check_names=list(MODEL_CHECKS),
    )
    defs, mlflow_store, training = model_definitions(data, train_days, refit_days, [floor], floor_checks)
    config = training.config()
    universe = settings.universe()
    store = ParquetLake(settings.home().lake)
    instance = get_instance()
    out: dict = {
        "benchmark": "training",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "symbols": symbols,
        "model_partitions": len(model_parts),
        "fits": len(fits),
        "train_days": train_days,
        "refit_days": refit_days,
        "training_config": config.params(),
        "window_days": f"{window_days[0]}..{window_days[-1]}",
        "instance": type(instance.run_storage).__name__,
        "mlflow_tracking_uri": mlflow_store.tracking_uri.split("///")[0] + "///<home>/mlflow/mlflow.db",
        "machine_cpus": os.cpu_count(),
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
    }

    timed_materialize = timed_materializer(defs, universe, instance)

    # ---- setup, not timed -----------------------------------------------------------------
    setup = setup_inputs(timed_materialize, upstream_parts, feature_parts)
    out["setup_s"] = {k: round(v, 1) for k, v in setup.items()}
    out["setup_partitions"] = {"bars_derivatives": len(upstream_parts), "features_labels": len(feature_parts)}

    # ---- warm-up, not timed ----------------------------------------------------------------
    out["warm_up_s"] = round(warm_up(mlflow_store), 1)
    log(f"warm-up (imports, MLflow store creation): {out['warm_up_s']}s")

    # ---- floor ----------------------------------------------------------------------------
    floor_s, _ = timed_materialize(["bench_floor"], model_parts, "floor")

    # ---- pipeline -------------------------------------------------------------------------
    timers = Timers()
    instrument(timers)
    timers.enabled = True
    pipeline_s, results = timed_materialize([MODELS_ASSET], model_parts, "pipeline")
    timers.enabled = False
    pipeline_checks = {e.check_name: e.passed for r in results for e in r.get_asset_check_evaluations()}
    steps = step_seconds(instance, results)
    run_meta = {}
    for r in results:
        for event in r.all_events:
            if event.event_type_value == "ASSET_MATERIALIZATION":
                md = event.event_specific_data.materialization.metadata
                if "run_fits_trained" in md:
                    run_meta = {k: md[k].value for k in ("run_fits", "run_fits_trained", "run_fits_reused")}
    records = {p: store.read(MODELS_ASSET, p).row(0, named=True) for p in model_parts}

    # ---- raw: the same fits, bare LightGBM + PyTorch ----------------------------------------
    log(f"raw: reading {len(fits)} windows and the pooled windows from the lake (not timed) ...")
    read0 = time.perf_counter()
    matrices = []
    rows = 0
    for fit in fits:
        present = [p for p in fit.input_parts if store.exists(FEATURES_ASSET, p)]
        features = store.read_many(FEATURES_ASSET, present).drop("symbol")
        labels = store.read_many(LABELS_ASSET, [p for p in fit.input_parts if store.exists(LABELS_ASSET, p)]).drop("symbol")
        w = fit.window
        rows += features.filter((pl.col("t") > w.start) & (pl.col("t") <= w.end)).height
        matrices.append((fit, features, labels))
    # lgbm_pooled: one fit per anchor over the universe, which the asset fits in its own
    # process while the pool works on the per-symbol fits; the raw pass does the same.
    pooled_reads = PooledWindowReads(store, sorted(universe))
    pooled_inputs = {}
    for fit in fits:
        if fit.window.anchor not in pooled_inputs:
            window = pooled_window(fit.window)
            features_by_symbol, labels_by_symbol, _ = pooled_reads.window(window)
            pooled_inputs[fit.window.anchor] = (window, features_by_symbol, labels_by_symbol)
    raw_read_s = time.perf_counter() - read0
    log(f"raw: reads {raw_read_s:.1f}s; fitting {len(fits)} windows ...")
    per_fit = []
    mismatched = []
    train_rows = defaultdict(int)
    workers = training.workers()
    jobs = [(fit, FitJob(fit.window, features, labels, config)) for fit, features, labels in matrices]
    pooled_fits = len(pooled_inputs)
    matrices.clear()
    pooled_s = 0.0
    t0 = last = time.perf_counter()
    for fit, model in fit_in_pool(jobs, fit_job, FitJob.describe, workers):
        if fit.window.anchor in pooled_inputs:  # the anchor's first fit, as PooledFits.attach
            p0 = time.perf_counter()
            fit_pooled(*pooled_inputs.pop(fit.window.anchor)[1:], pooled_window(fit.window), config, sorted(universe))
            pooled_s += time.perf_counter() - p0
        now = time.perf_counter()
        per_fit.append(now - last)  # with fits in parallel: the time since the previous result
        last = now
        record = records[fit.serves[0]]
        for h in HORIZON_NAMES:
            train_rows[h] += int(model.training[h]["rows"])
            if int(model.training[h]["rows"]) != record[f"train_rows_{h}"]:
                mismatched.append(f"{fit.window.symbol} {fit.window.anchor} {h}")
        log(f"raw: {fit.window.symbol} {fit.window.anchor}: {per_fit[-1]:.1f}s")
    raw_fit_s = time.perf_counter() - t0
    jobs.clear()
    out["fit_workers"] = workers

    # the per-symbol fits as the step waited for them, plus the pooled fits it ran itself
    timers.seconds["fit"] = (
        timers.seconds.get("pool_wait", 0.0)
        - timers.seconds.get("read_window", 0.0)
        - timers.seconds.get("mlflow_find_fit", 0.0)
        + timers.seconds.get("pooled_fit", 0.0)
    )
    raw_fit_s_pipeline = timers.seconds["fit"]
    beyond = pipeline_s - raw_fit_s_pipeline
    out.update(
        {
            "pipeline_s": round(pipeline_s, 2),
            "raw_fit_s": round(raw_fit_s, 2),
            "dagster_floor_s": round(floor_s, 2),
            "ratio_vs_floor_plus_raw": round(pipeline_s / (floor_s + raw_fit_s), 3),
            "rows": rows,
            "train_rows_per_horizon": dict(train_rows),
            "raw_read_s_untimed": round(raw_read_s, 2),
            "raw_pooled_fit_s": round(pooled_s, 2),
            "pooled_fits": pooled_fits,
            "raw_fit_s_per_fit": {"min": round(min(per_fit), 2), "mean": round(sum(per_fit) / len(per_fit), 2), "max": round(max(per_fit), 2)},
            "raw_same_training_rows_as_pipeline": not mismatched,
            "pipeline_runs": len(results),
            "pipeline_run_metadata": run_meta,
            "pipeline_checks_passed": pipeline_checks,
            "pipeline_step_s": steps,
            "pipeline_breakdown": timers.report(),
            "pipeline_fit_s_inside_dagster": round(raw_fit_s_pipeline, 2),
            "pipeline_beyond_fits_s": round(beyond, 2),
            # The same ratio with the fits' time as measured inside the pipeline: on a shared
            # machine the two fit passes can differ by more than the overhead being measured.
            "ratio_vs_floor_plus_pipeline_fits": round(pipeline_s / (floor_s + raw_fit_s_pipeline), 3) if raw_fit_s_pipeline else None,
        }
    )
    if mismatched:
        out["raw_training_rows_mismatch"] = mismatched[:10]
    # Human-readable stage timings, then the JSON line (printed by main).
    print_report(setup, floor_s, f"{len(model_parts)} partitions, {len(results)} run(s)",
                 pipeline_s, f"{len(fits)} fits", pipeline_checks, timers, steps, [
        f"raw:      {raw_fit_s:8.1f}s  ({len(fits)} fits + {pooled_fits} pooled ({pooled_s:.1f}s), {rows} window rows; "
        f"reads {raw_read_s:.1f}s untimed)",
        f"ratio pipeline / (floor + raw) = {out['ratio_vs_floor_plus_raw']:.3f}; "
        f"pipeline / (floor + fits inside the pipeline) = {out['ratio_vs_floor_plus_pipeline_fits']}",
    ])  # fmt: skip
    return out


if __name__ == "__main__":
    main()
