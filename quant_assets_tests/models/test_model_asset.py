"""multi_horizon_model through Dagster with a real MLflow store: one fit per anchor, registered
per symbol and horizon, linked both ways, checks green, reused when nothing changed."""

from datetime import date

import mlflow
import numpy as np
import pytest
from dagster import AssetKey
from mlflow import MlflowClient

from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.lake.store import ParquetLake
from quant_assets.models import cv
from quant_assets.models.record import MODELS_ASSET
from quant_assets.models.verify import contract_inputs
from quant_assets.partitions import DaySymbol
from quant_assets.registry.names import registered_name
from quant_assets_tests import fitted_models

FIRST, LAST = date(2025, 10, 1), date(2025, 11, 12)
# Mon 2025-11-10 and Tue 11-11 share one anchor; the window is 10-20 .. 11-02 23:55
SERVED = (date(2025, 11, 10), date(2025, 11, 11))
LABEL_DAYS = (date(2025, 10, 19), date(2025, 11, 3))


@pytest.fixture
def home(tmp_path, monkeypatch, seed_cache):
    home = tmp_path / "home"
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(home))
    fitted_models.copy_lake(fitted_models.seeded_lake(seed_cache, FIRST, LAST), home)
    return home


def _materialize(home, fresh_instance, defs=None):
    defs = defs or fitted_models.definitions(home)
    labelled = fitted_models.run(defs, [LABELS_ASSET], *LABEL_DAYS, fresh_instance)
    assert all(r.success for r in labelled)
    return defs, fitted_models.run(defs, [MODELS_ASSET], *SERVED, fresh_instance)


def test_one_fit_serves_both_days_and_is_registered_per_horizon(home, fresh_instance):
    defs, results = _materialize(home, fresh_instance)
    assert all(r.success for r in results)
    checks = fitted_models.checks_of(results)
    store = ParquetLake(str(home / "lake"))
    assert {n: c.passed for n, c in checks.items() if n.startswith("model_")} == {
        "model_embargo": True, "model_purge": True, "model_inputs_contract": True, "model_reproduces": True, "model_cv_purged": True,
    }  # fmt: skip
    records = [store.read(MODELS_ASSET, DaySymbol(d, fitted_models.SYMBOL)).row(0, named=True) for d in SERVED]
    assert records[0] == records[1], "two days of one anchor share one fit"
    record = records[0]
    assert str(record["fit_end"]) == "2025-11-02 23:55:00+00:00" and str(record["fit_start"]) == "2025-10-20 00:00:00+00:00"

    client = MlflowClient(defs.resources["mlflow_tracking"].tracking_uri)
    run = client.get_run(record["mlflow_run_id"])
    assert run.data.params["fit_end"] == "2025-11-02T23:55:00+00:00" and run.data.params["embargo"] == "7 days, 0:05:00"
    assert run.data.tags["dagster_run_id"] == results[0].run_id
    assert run.data.params["contract_hash"] == record["contract_hash"]
    # the ablations were trained in the same run, and the purged k-fold is stored in it
    assert {f"{f}_{h}_best_iteration" for f in ("lgbm_no_text", "lgbm_no_derivatives") for h in HORIZON_NAMES} <= set(run.data.metrics)
    assert {"cv_1h_folds", "cv_1h_rank_ic_mean", "cv_1h_pnl_mean"} <= set(run.data.metrics)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "cv_1h_rank_ic")] == [0, 1, 2, 3, 4]
    # the partitions read, by content hash (and the bundles behind them; none here: the lake was copied)
    inputs = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/inputs.json")
    window_days = [f"2025-10-{d}" for d in range(20, 32)] + [f"2025-11-0{d}" for d in (1, 2)]
    assert sorted(inputs["content_sha256"]) == sorted(f"{a}/{d}|BTC-USDT" for a in (FEATURES_ASSET, LABELS_ASSET) for d in window_days)
    assert inputs["content_sha256"][f"{FEATURES_ASSET}/2025-10-20|BTC-USDT"] == store.file_sha256(
        FEATURES_ASSET, DaySymbol(date(2025, 10, 20), "BTC-USDT")
    )
    assert run.data.tags["bundle_ids"] == "none (not from bundles)" and inputs["bundle_ids"] == []
    for h in HORIZON_NAMES:
        version = client.get_model_version(registered_name(fitted_models.SYMBOL, h), "1")
        assert version.run_id == record["mlflow_run_id"] and version.tags["dagster_run_id"] == results[0].run_id
        assert version.tags["horizon"] == h
    names = sorted(m.name for m in client.search_registered_models())
    assert names == sorted([*(registered_name(fitted_models.SYMBOL, h) for h in HORIZON_NAMES), *(f"quant_assets_pooled.{h}" for h in HORIZON_NAMES)])

    # Dagster metadata links to the run and names the versions
    mat = fresh_instance.fetch_materializations(AssetKey(MODELS_ASSET), limit=10).records[0].asset_materialization
    assert mat.metadata["mlflow_run_id"].value == record["mlflow_run_id"]
    assert "1h: v1" in mat.metadata["model_versions"].value
    assert mat.metadata["mlflow_run"].value.endswith(record["mlflow_run_id"])

    # the pyfunc face and the native files predict the same, with the contract as signature
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registered_name(fitted_models.SYMBOL, '1h')}/1")
    assert pyfunc.metadata.get_input_schema().input_names() == contract_inputs()
    native = defs.resources["mlflow_tracking"].load_fitted(defs.resources["mlflow_tracking"].tracking(), record["model_uri"])
    rows = store.read(FEATURES_ASSET, DaySymbol(SERVED[0], fitted_models.SYMBOL)).head(5)
    generic = pyfunc.predict(rows.to_pandas())
    assert list(generic.columns) == [f"{f}_{h}" for f in ("lgbm", "mhnet") for h in HORIZON_NAMES]  # served families only
    assert np.allclose(generic["lgbm_1h"].to_numpy(), native.predict(rows)["lgbm"][:, 0])
    folds = defs.resources["mlflow_tracking"].tracking().purged_kfold(record["mlflow_run_id"])
    assert folds.equals(cv.fold_results(native.cv)) and folds.height == 5 * len(HORIZON_NAMES)

    # the training rows stop before the fit end, per horizon, and were purged
    for h in HORIZON_NAMES:
        assert record[f"train_label_available_at_max_{h}"] <= record["fit_end"]
        assert record[f"train_rows_{h}"] > 1000


def test_rematerializing_reuses_the_fit(home, fresh_instance):
    defs, _ = _materialize(home, fresh_instance)
    again = fitted_models.run(defs, [MODELS_ASSET], *SERVED, fresh_instance)
    assert all(r.success for r in again)
    client = MlflowClient(defs.resources["mlflow_tracking"].tracking_uri)
    assert [v.version for v in client.search_model_versions(f"name = '{registered_name(fitted_models.SYMBOL, '1d')}'")] == [1]
    mat = fresh_instance.fetch_materializations(AssetKey(MODELS_ASSET), limit=1).records[0].asset_materialization
    assert mat.metadata["fit_reused"].value is True


def test_the_same_inputs_give_the_same_model(home, fresh_instance, tmp_path):
    defs, _ = _materialize(home, fresh_instance)
    store = ParquetLake(str(home / "lake"))
    record = store.read(MODELS_ASSET, DaySymbol(SERVED[0], fitted_models.SYMBOL)).row(0, named=True)
    tracking = defs.resources["mlflow_tracking"]
    model = tracking.load_fitted(tracking.tracking(), record["model_uri"])
    from quant_assets.models.train import fit_multi_horizon

    features = store.read_many(FEATURES_ASSET, [DaySymbol(d, fitted_models.SYMBOL) for d in model.window.days]).drop("symbol")
    labels = store.read_many(LABELS_ASSET, [DaySymbol(d, fitted_models.SYMBOL) for d in model.window.days]).drop("symbol")
    again = fit_multi_horizon(features, labels, model.window, fitted_models.FAST.config())
    rows = features.tail(50)
    for family in ("lgbm", "mhnet"):
        assert np.array_equal(again.predict(rows)[family], model.predict(rows)[family], equal_nan=True)


def test_a_missing_window_fails_with_one_clear_line(tmp_path, monkeypatch, fresh_instance):
    home = tmp_path / "home"
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(home))
    (home / "lake").mkdir(parents=True)
    results = fitted_models.run(fitted_models.definitions(home), [MODELS_ASSET], *SERVED, fresh_instance)
    assert not results[0].success
    failure = [e for e in results[0].all_events if e.is_step_failure][0]
    error = failure.step_failure_data.error
    message = (error.cause or error).message
    assert "no feature_matrix or labels partitions in the fit window 2025-10-20..2025-11-02" in message


def test_consecutive_windows_read_once_are_the_windows_read_whole(seed_cache):
    """``WindowReads`` keeps a symbol's partitions across its anchors and reads only the new
    days; every window it gives is the window read whole from the lake, rows, order, dtypes
    and content hashes alike, and a partition leaves once no later window holds it."""
    from quant_assets.assets.models import WindowReads
    from quant_assets.features.contract import FEATURES_ASSET
    from quant_assets.labels.forward import LABELS_ASSET
    from quant_assets.lake.store import ParquetLake
    from quant_assets.models.plan import plan_fits

    store = ParquetLake(str(fitted_models.seeded_lake(seed_cache, date(2025, 10, 1), date(2025, 11, 12))))
    fits = plan_fits(fitted_models.parts(date(2025, 10, 27), date(2025, 11, 12)), fitted_models.TRAIN_DAYS, fitted_models.REFIT_DAYS)
    assert len(fits) == 3
    windows, read = WindowReads(store), []
    windows._read = lambda asset_name, parts, _read=windows._read: read.append((asset_name, len(parts))) or _read(asset_name, parts)
    for fit in fits:
        features, labels, hashes = windows.window(fit)
        for asset_name, got in ((FEATURES_ASSET, features), (LABELS_ASSET, labels)):
            present = [p for p in fit.input_parts if store.exists(asset_name, p)]
            if not present:  # the seeded lake holds no labels: an empty window, as read whole
                assert got.is_empty() and asset_name == LABELS_ASSET
                continue
            whole = store.read_many(asset_name, present).drop("symbol")
            assert got.height > 0 and got.equals(whole) and got.schema == whole.schema
            assert hashes.keys() >= {f"{asset_name}/{p}" for p in present}
            assert all(hashes[f"{asset_name}/{p}"] == store.file_sha256(asset_name, p) for p in present)
        assert min(p.day for _, p in windows.held) == fit.input_parts[0].day  # older days let go
    features_read = [n for asset_name, n in read if asset_name == FEATURES_ASSET]
    assert features_read[0] == len(fits[0].input_parts) and all(n <= fitted_models.REFIT_DAYS for n in features_read[1:]), features_read
