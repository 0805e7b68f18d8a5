"""A code location for the model half's tests: the real labels and multi_horizon_model assets
and checks over a lake seeded from the sample bundle (upstream assets are external specs,
partitioned like the real ones, so partition mappings are real), with a real MLflow store
under the test's home."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from dagster import AssetSpec, DagsterInstance, Definitions

from quant_assets import settings
from quant_assets.assets.labels import labels as labels_asset
from quant_assets.assets.labels_checks import labels_checks
from quant_assets.assets.models import build_model_asset
from quant_assets.assets.models_checks import model_checks
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.market.bars import BARS_ASSET
from quant_assets.models.record import MODELS_ASSET
from quant_assets.partitions import DaySymbol, daily_symbol_partitions, days_between
from quant_assets.registry.store import MlflowStore
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.models import MlflowTracking, ModelTraining
from quant_assets.runs import materialize
from quant_assets_tests import lakeseed
from quant_assets_tests.checkresults import checks_over

TRAIN_DAYS = 21
REFIT_DAYS = 7
SYMBOL = "BTC-USDT"
# Fast settings: the tests prove wiring and time rules, not model quality. Every fit runs the
# purged k-fold (cv_every=1), so the tests of its rules see folds at whatever anchor they use.
FAST = ModelTraining(lgbm_rounds=40, nn_epochs=2, cv_every=1)


def seeded_lake(cache: Path, first: date, last: date, symbols=(SYMBOL,)) -> Path:
    """Bars, derivatives and features for first..last, built once per cache folder."""
    root = cache / f"lake-{first}-{last}-{'-'.join(symbols)}"
    if not root.exists():
        tmp = root.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        lakeseed.seed(tmp, first, last, list(symbols))
        tmp.rename(root)
    return root


def copy_lake(seed: Path, home: Path) -> Path:
    lake = home / "lake"
    shutil.copytree(seed, lake)
    return lake


def mlflow_resource(home: Path) -> MlflowTracking:
    import os

    os.environ["QUANT_ASSETS_HOME"] = str(home)
    store = MlflowStore.from_env()
    return MlflowTracking(tracking_uri=store.tracking_uri, artifact_root=store.artifact_root, cache_root=str(home / "cache" / "models"))


def definitions(home: Path, model_asset=None, training: ModelTraining = FAST) -> Definitions:
    specs = [AssetSpec(a, partitions_def=daily_symbol_partitions()) for a in (BARS_ASSET, FEATURES_ASSET)]
    return Definitions(
        assets=[*specs, labels_asset, model_asset or build_model_asset(TRAIN_DAYS, REFIT_DAYS)],
        asset_checks=[labels_checks, model_checks],
        resources={"lake": LakeResource(root=str(home / "lake")), "mlflow_tracking": mlflow_resource(home), "model_training": training},
    )


def oos_definitions(lake_root: Path, home: Path) -> Definitions:
    """``definitions`` plus oos_eval and its checks, over a lake of the test's own."""
    from quant_assets.assets.evaluation import oos_eval
    from quant_assets.assets.evaluation_checks import oos_eval_checks

    specs = [AssetSpec(a, partitions_def=daily_symbol_partitions()) for a in (BARS_ASSET, FEATURES_ASSET)]
    return Definitions(
        assets=[*specs, labels_asset, build_model_asset(TRAIN_DAYS, REFIT_DAYS), oos_eval],
        # every staged asset needs its audit op to publish (write-audit-publish)
        asset_checks=[labels_checks, model_checks, oos_eval_checks],
        resources={"lake": LakeResource(root=str(lake_root)), "mlflow_tracking": mlflow_resource(home), "model_training": FAST},
    )


def fitted_home(
    home: Path,
    seed_cache: Path,
    lake_days: tuple[date, date],
    label_days: tuple[date, date],
    served: tuple[date, date],
    assets: tuple[str, ...] = (MODELS_ASSET,),
) -> Path:
    """``home`` over the seeded lake of ``lake_days``, with labels of ``label_days`` and ``assets``
    (the model, and oos_eval if asked) of ``served``, materialized through Dagster."""
    import pytest

    with pytest.MonkeyPatch.context() as mp, DagsterInstance.ephemeral() as instance:
        mp.setenv("QUANT_ASSETS_HOME", str(home))
        copy_lake(seeded_lake(seed_cache, *lake_days), home)
        defs = oos_definitions(home / "lake", home)
        assert all(r.success for r in run(defs, [LABELS_ASSET], *label_days, instance))
        assert all(r.success for r in run(defs, list(assets), *served, instance))
    return home


def parts(first: date, last: date, symbols=(SYMBOL,)) -> list[DaySymbol]:
    return [DaySymbol(d, s) for d in days_between(first, last) for s in symbols]


def run(defs: Definitions, assets: list[str], first: date, last: date, instance: DagsterInstance, symbols=(SYMBOL,)):
    return materialize(defs, assets, parts(first, last, symbols), settings.universe(), instance)


def checks_of(results, instance: DagsterInstance | None = None) -> dict[str, object]:
    return checks_over(results, instance)


def small_fit(seed_cache: Path, anchor_day: date = date(2025, 11, 10)):
    """A real fitted model (fast settings) on the seeded lake, without Dagster: (model, features)."""
    from quant_assets.models.train import fit_job

    job = fit_inputs(seed_cache, anchor_day)
    return fit_job(job), job.features


def fit_inputs(seed_cache: Path, anchor_day: date = date(2025, 11, 10)):
    """The ``train.FitJob`` (fast settings) of the window that serves ``anchor_day``, on the seeded lake."""
    from quant_assets.labels.costs import cost_from_env
    from quant_assets.labels.forward import forward_labels
    from quant_assets.lake.store import ParquetLake
    from quant_assets.models.train import FitJob
    from quant_assets.models.window import fit_window

    store = ParquetLake(str(seeded_lake(seed_cache, date(2025, 10, 1), date(2025, 11, 12))))
    window = fit_window(anchor_day, SYMBOL, TRAIN_DAYS, REFIT_DAYS)
    days = [DaySymbol(d, SYMBOL) for d in window.days]
    bars = store.read_many(
        BARS_ASSET, [DaySymbol(d, SYMBOL) for d in days_between(window.days[0], window.days[-1] + (window.days[1] - window.days[0]) * 8)]
    )
    labels = forward_labels(bars, days, cost_from_env().log_cost).drop("partition")
    features = store.read_many(FEATURES_ASSET, days).drop("symbol")
    return FitJob(window, features, labels, FAST.config())


def assert_quarantined(lake_root, asset: str, parts: list[DaySymbol], check: str) -> None:
    """Write-audit-publish: the run's failing partitions of ``asset`` are not in the lake (no
    reader sees them) but in quarantine, with a report naming ``check``."""
    from quant_assets.lake.store import ParquetLake

    lake = ParquetLake(str(lake_root))
    assert not [p for p in parts if lake.exists(asset, p)], f"{asset}: a partition that failed {check} is published"
    assert set(lake.quarantined(asset)) == set(parts)
    for part in parts:
        assert check in {f["check"] for f in lake.quarantine_report(asset, part)["failed_checks"]}
