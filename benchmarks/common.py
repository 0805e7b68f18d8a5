"""Helpers the benchmarks share: fresh homes, timed subprocesses, a Dagster CLI backfill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def home_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a fresh QUANT_ASSETS_HOME with an on-disk SQLite Dagster instance."""
    env = {k: v for k, v in os.environ.items() if k not in ("QUANT_ASSETS_PG_URL", "DAGSTER_HOME")}
    env.update(QUANT_ASSETS_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), HF_HUB_OFFLINE="1", **extra)
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "dagster" / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    return env


def timed(cmd: list[str], env: dict[str, str], label: str) -> float:
    """Run a command to completion, fail loudly, return its wall time in seconds."""
    print(f"[bench] {label}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"{label} failed with exit code {proc.returncode}")
    print(f"[bench] {label}: {elapsed:.1f}s", file=sys.stderr, flush=True)
    return elapsed


def dagster_backfill(module: str, select: str, partition_range: str) -> list[str]:
    """What a user types to backfill a range in one run (BackfillPolicy.single_run)."""
    return [str(BIN / "dagster"), "asset", "materialize", "-m", module, "--select", select, "--partition-range", partition_range]


def emit(result: dict) -> None:
    print(json.dumps(result, sort_keys=True))


# ---- in-process model benchmarks (bench_training, bench_evals) ------------------------------
# These import quant_assets lazily: partition definitions and settings are read from the
# environment when the assets are imported, so ``model_home`` must run first.

DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_SYMBOLS = "BTC-USDT,ETH-USDT,SOL-USDT"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """Max RSS of this process and of its (waited-for) children, in MB (ru_maxrss is KiB on Linux)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


class Timers:
    """Accumulated wall time and call counts of wrapped functions."""

    def __init__(self):
        from collections import defaultdict

        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.enabled = False

    def wrap(self, name: str, fn):
        import functools

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if not self.enabled:
                return fn(*args, **kwargs)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t0
                self.calls[name] += 1

        return timed

    def patch(self, owner, attribute: str, name: str) -> None:
        """Replace ``owner.attribute`` (a module's or class's function) by its timed wrapper."""
        setattr(owner, attribute, self.wrap(name, getattr(owner, attribute)))

    def report(self) -> dict[str, float]:
        return {f"{k}_s": round(v, 2) for k, v in sorted(self.seconds.items())} | {f"{k}_calls": n for k, n in sorted(self.calls.items())}

    def print_lines(self) -> None:
        for k, v in sorted(self.seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {k:28s} {v:8.1f}s  ({self.calls[k]} calls)")


def print_report(
    setup: dict, floor_s: float, floor_note: str, pipeline_s: float, pipeline_note: str, checks: dict, timers: Timers, steps: dict, tail: list[str]
) -> None:
    """A model benchmark's human-readable report: setup, floor, pipeline and where its time went, then ``tail`` (raw pass, ratios)."""
    print("setup (untimed): " + ", ".join(f"{k} {v:.1f}s" for k, v in setup.items()))
    print(f"floor:    {floor_s:8.1f}s  ({floor_note})")
    print(f"pipeline: {pipeline_s:8.1f}s  ({pipeline_note}, checks {'passed' if all(checks.values()) else checks})")
    timers.print_lines()
    for k, v in steps.items():
        print(f"  step {k:23s} {v:8.1f}s")
    print("\n".join(tail), flush=True)


def model_bench_parser(doc: str):
    """The arguments every in-process model benchmark takes: the model-partition days, the
    symbols, the data folder and an optional (empty) work folder."""
    import argparse

    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--start", default="2025-10-01", help="first model partition day")
    p.add_argument("--end", default="2025-11-30", help="last model partition day")
    p.add_argument("--symbols", default=DEFAULT_SYMBOLS, help="comma-separated keys")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--workdir", default=None, help="keep everything here (default: a temporary folder, removed)")
    return p


def run_model_bench(args, prefix: str, run) -> None:
    """A fresh home (``model_home``), ``run(data, start, end, symbols, train_days, refit_days)``,
    the work folder removed unless ``--workdir`` named it, then the JSON line: run's dict plus
    the script's wall time, peak RSS and the load average at the end."""
    import shutil
    from datetime import date

    wall0 = time.perf_counter()
    data = Path(args.data).resolve()
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    work = fresh_workdir(args.workdir, prefix)
    train_days, refit_days = model_home(work, start, symbols)
    try:
        result = run(data, start, end, symbols, train_days, refit_days)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    result["script_wall_s"] = round(time.perf_counter() - wall0, 1)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, sort_keys=True), flush=True)


def model_home(work: Path, start, symbols: list[str]) -> tuple[int, int]:
    """Point the environment at a fresh home under ``work`` whose first day leaves room for the
    fit window of the model partition ``start``; quiet the loggers. Returns (train_days,
    refit_days) (``QUANT_ASSETS_TRAIN_DAYS``/``_REFIT_DAYS``, default 90 and 7)."""
    import logging
    import warnings
    from datetime import timedelta

    from quant_assets.models.window import fit_window  # pure, reads no settings

    train_days = int(os.environ.get("QUANT_ASSETS_TRAIN_DAYS", "90"))
    refit_days = int(os.environ.get("QUANT_ASSETS_REFIT_DAYS", "7"))
    first_day = fit_window(start, symbols[0], train_days, refit_days).days[0]  # earliest feature/label day any fit reads
    home = work / "home"
    os.environ.update(
        QUANT_ASSETS_HOME=str(home),
        QUANT_ASSETS_SYMBOLS=",".join(symbols),
        # bars and derivatives need the day before the first feature day (the feature lookback)
        QUANT_ASSETS_START_DATE=(first_day - timedelta(days=1)).isoformat(),
        QUANT_ASSETS_TRAIN_DAYS=str(train_days),
        QUANT_ASSETS_REFIT_DAYS=str(refit_days),
        DAGSTER_HOME=str(home / "dagster"),
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
    )
    for name in ("QUANT_ASSETS_PG_URL", "QUANT_ASSETS_MLFLOW_PG_URL", "QUANT_ASSETS_MLFLOW_TRACKING_URI", "QUANT_ASSETS_MLFLOW_ARTIFACTS"):
        os.environ.pop(name, None)
    logging.getLogger("dagster").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    return train_days, refit_days


def fresh_workdir(workdir: str | None, prefix: str) -> Path:
    """``--workdir`` (must be empty: every run needs a fresh home) or a new temporary folder."""
    import tempfile

    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=prefix))
    if work.exists() and any(work.iterdir()):
        raise SystemExit(f"--workdir {work} is not empty: every run needs a fresh home")
    work.mkdir(parents=True, exist_ok=True)
    return work


def model_partitions(start, end, symbols: list[str], train_days: int, refit_days: int, through_end: bool = False, data_end=None):
    """The model partitions of ``start..end``, their fits, and the feature/label and bar/derivative
    partitions those fits read: feature days span the fit windows (and reach ``end`` when
    ``through_end``), bars and derivatives one day more before and the 7-day label lookahead after
    (not past ``data_end``, the last day the files hold: an empty day fails bars_complete)."""
    from datetime import timedelta

    from quant_assets.labels.horizons import LOOKAHEAD_DAYS
    from quant_assets.models.plan import plan_fits
    from quant_assets.partitions import DaySymbol, days_between

    model_parts = [DaySymbol(d, s) for d in days_between(start, end) for s in symbols]
    fits = plan_fits(model_parts, train_days, refit_days)
    window_days = sorted({d for f in fits for d in f.window.days})
    last_day = max(window_days[-1], end) if through_end else window_days[-1]
    feature_parts = [DaySymbol(d, s) for d in days_between(window_days[0], last_day) for s in symbols]
    last_upstream = last_day + timedelta(days=LOOKAHEAD_DAYS)
    upstream_days = days_between(window_days[0] - timedelta(days=1), min(last_upstream, data_end or last_upstream))
    upstream_parts = [DaySymbol(d, s) for d in upstream_days for s in symbols]
    return model_parts, fits, window_days, feature_parts, upstream_parts


def spot_last_day(data: Path):
    """The last day of the spot 5m file in ``data`` (the file market source's)."""
    import polars as pl

    return pl.scan_parquet(data / "binance_spot_5m.parquet").select(pl.col("ts").max()).collect().item().date()


def model_definitions(data: Path, train_days: int, refit_days: int, assets=(), asset_checks=(), training=None):
    """Definitions of bars (file sources in ``data``), derivatives, a declared-only text_latents,
    feature_matrix, labels and multi_horizon_model with their checks and the resources
    definitions.py mounts (default ``ModelTraining`` unless ``training`` is given, MLflow under the
    home), plus ``assets`` and ``asset_checks``. Returns (defs, mlflow_store, training resource)."""
    from dagster import AssetSpec, Definitions, load_asset_checks_from_modules, load_assets_from_modules

    from quant_assets import settings
    from quant_assets.assets import derivatives as derivatives_assets
    from quant_assets.assets import derivatives_checks, market, market_checks
    from quant_assets.assets.features import feature_matrix
    from quant_assets.assets.features_checks import feature_matrix_checks
    from quant_assets.assets.labels import labels as labels_asset
    from quant_assets.assets.labels_checks import labels_checks
    from quant_assets.assets.models import build_model_asset
    from quant_assets.assets.models_checks import model_checks
    from quant_assets.features.inputs import TEXT_LATENTS
    from quant_assets.partitions import daily_symbol_partitions
    from quant_assets.registry.store import MlflowStore
    from quant_assets.resources.derivatives_data import FileDropDerivatives
    from quant_assets.resources.lake import LakeResource
    from quant_assets.resources.market_data import FileDropMarketData
    from quant_assets.resources.models import MlflowTracking, ModelTraining

    assert settings.train_days() == train_days and settings.refit_days() == refit_days
    home = settings.home()
    mlflow_store = MlflowStore.from_env()
    training = training or ModelTraining()  # by default exactly what definitions.py mounts
    defs = Definitions(
        assets=[
            *load_assets_from_modules([market, derivatives_assets]),
            AssetSpec(TEXT_LATENTS, partitions_def=daily_symbol_partitions()),
            feature_matrix,
            labels_asset,
            build_model_asset(train_days, refit_days),
            *assets,
        ],
        asset_checks=[
            *load_asset_checks_from_modules([market_checks, derivatives_checks]),
            feature_matrix_checks,
            labels_checks,
            model_checks,
            *asset_checks,
        ],
        resources={
            "lake": LakeResource(root=home.lake),
            "market_data": FileDropMarketData(folder=str(data), pattern="binance_spot_5m.parquet", source_name="binance-spot"),
            "derivatives_data": FileDropDerivatives(folder=str(data)),
            "mlflow_tracking": MlflowTracking(
                tracking_uri=mlflow_store.tracking_uri,
                artifact_root=mlflow_store.artifact_root,
                cache_root=home.cache.rstrip("/") + "/models",
            ),
            "model_training": training,
        },
    )
    return defs, mlflow_store, training


def timed_materializer(defs, universe: list[str], instance):
    """``timed_materialize(assets, parts, what) -> (seconds, results)`` through
    ``quant_assets.runs.materialize``; a failed run or blocking check stops the benchmark."""
    from quant_assets.runs import materialize

    def timed_materialize(assets, parts, what="materialize"):
        log(f"{what}: {assets} for {len(parts)} partitions ...")
        t0 = time.perf_counter()
        results = materialize(defs, assets, parts, universe, instance)
        elapsed = time.perf_counter() - t0
        failed = [r.run_id for r in results if not r.success]
        if failed:
            raise SystemExit(f"{assets} runs failed: {failed}")
        evaluations = [e for r in results for e in r.get_asset_check_evaluations()]
        failed_blocking = sorted({e.check_name for e in evaluations if e.blocking and not e.passed})
        if failed_blocking:
            raise SystemExit(f"{assets}: blocking checks failed: {failed_blocking}")
        warned = sorted({e.check_name for e in evaluations if not e.passed})  # non-blocking: a warning, published anyway
        checks = sorted({e.check_name for e in evaluations})
        log(f"{what}: {assets} {elapsed:.1f}s ({len(results)} runs, checks {checks}{f'; warnings {warned}' if warned else ''})")
        return elapsed, results

    return timed_materialize


def setup_inputs(timed_materialize, upstream_parts, feature_parts) -> dict[str, float]:
    """Untimed setup: bars and derivatives, then feature_matrix and labels; seconds per asset."""
    from quant_assets.features.contract import FEATURES_ASSET
    from quant_assets.labels.forward import LABELS_ASSET

    setup = {}
    setup["market_bars"] = timed_materialize(["market_bars"], upstream_parts, "setup")[0]
    setup["derivatives"] = timed_materialize(["derivatives"], upstream_parts, "setup")[0]
    setup[FEATURES_ASSET] = timed_materialize([FEATURES_ASSET], feature_parts, "setup")[0]
    setup[LABELS_ASSET] = timed_materialize([LABELS_ASSET], feature_parts, "setup")[0]
    return setup


def warm_up(mlflow_store=None) -> float:
    """First-use costs, paid once per process and not per backfill: lazy imports, OpenMP pools
    (one tiny LightGBM fit, one AdamW step: torch's optimiser imports ~9 s of lazily loaded
    modules on its first use), and the MLflow store's creation (its SQLite schema migrations
    take several seconds once per store). Returns the seconds it took."""
    import lightgbm as lgb
    import numpy as np
    import torch

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(500, 8)), rng.normal(size=500)
    lgb.train({"objective": "regression", "verbose": -1, "num_threads": 2}, lgb.Dataset(x, y), 5)
    net = torch.nn.Linear(8, 1)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss = net(torch.from_numpy(x.astype(np.float32))).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if mlflow_store is not None:
        from quant_assets.registry.store import MlflowStore
        from quant_assets.registry.tracking import Tracking

        Tracking(MlflowStore(mlflow_store.tracking_uri, mlflow_store.artifact_root))
    return time.perf_counter() - t0


def step_seconds(instance, results) -> dict[str, float]:
    """Wall seconds per Dagster step key, summed over the runs."""
    from collections import defaultdict

    steps = defaultdict(float)
    for r in results:
        for stat in instance.get_run_step_stats(r.run_id):
            if stat.end_time and stat.start_time:
                steps[stat.step_key] += stat.end_time - stat.start_time
    return {k: round(v, 2) for k, v in steps.items()}
