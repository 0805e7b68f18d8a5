"""The MLflow store: SQLite under the home by default, PostgreSQL by one setting, and the UI
that `quant-assets mlflow` serves over it."""

from pathlib import Path

import numpy as np
import psycopg2
import pytest
import requests

from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.registry.names import registered_name
from quant_assets.registry.store import MlflowStore
from quant_assets.registry.tracking import Tracking
from quant_assets_tests import fitted_models
from quant_assets_tests.moto_s3 import object_keys
from quant_assets_tests.registry.mlflow_server import served_mlflow_ui


@pytest.fixture(scope="module")
def fitted(seed_cache):
    return fitted_models.small_fit(seed_cache)


def _log(tracking: Tracking, fitted, key="k1"):
    model, _ = fitted
    return tracking.log_fit(model, key, params={"p": 1}, tags={"symbol": model.window.symbol}, inputs={}, version_tags={})


def test_default_store_is_sqlite_under_the_home(qa_home, fitted):
    store = MlflowStore.from_env()
    assert store.tracking_uri == f"sqlite:///{(qa_home / 'mlflow' / 'mlflow.db').resolve()}"
    tracking = Tracking(store)
    logged = _log(tracking, fitted)
    assert tracking.find_fit("k1") == logged and tracking.find_fit("other") is None
    assert Path(store.artifact_root.removeprefix("file://")).is_relative_to(qa_home.resolve())
    native = tracking.load_fitted(logged.model_uri, qa_home / "cache")
    model, features = fitted
    assert np.array_equal(native.predict(features.tail(20))["lgbm"], model.predict(features.tail(20))["lgbm"], equal_nan=True)


def test_fits_are_tracked_and_registered_on_postgres(qa_home, pg_database, monkeypatch, fitted):
    monkeypatch.setenv("QUANT_ASSETS_MLFLOW_PG_URL", pg_database)
    store = MlflowStore.from_env()
    assert store.tracking_uri == pg_database
    tracking = Tracking(store)
    logged = _log(tracking, fitted)
    assert logged.versions == {h: "1" for h in HORIZON_NAMES}
    assert tracking.find_fit("k1") == logged
    # the registry really lives in that database
    dsn = pg_database.replace("postgresql+psycopg2://", "postgresql://")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("select name from registered_models order by name")
        assert [r[0] for r in cur.fetchall()] == sorted(registered_name("BTC-USDT", h) for h in HORIZON_NAMES)
    assert not (qa_home / "mlflow" / "mlflow.db").exists()


def test_a_postgres_url_without_the_driver_is_one_clear_line(qa_home, monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_MLFLOW_PG_URL", "postgresql://postgres@127.0.0.1/test")
    with pytest.raises(ValueError, match="QUANT_ASSETS_MLFLOW_PG_URL=.*expected postgresql\\+psycopg2://"):
        MlflowStore.from_env()


def test_quant_assets_mlflow_serves_the_registry(qa_home, fitted):
    _log(Tracking(MlflowStore.from_env()), fitted)
    with served_mlflow_ui() as url:
        found = requests.get(f"{url}/ajax-api/2.0/mlflow/registered-models/search", timeout=10).json()
        assert sorted(m["name"] for m in found["registered_models"]) == sorted(registered_name("BTC-USDT", h) for h in HORIZON_NAMES)
        assert requests.get(f"{url}/", timeout=10).ok


def test_model_artifacts_go_to_an_s3_artifact_root(qa_home, use_s3, monkeypatch, fitted):
    # The tracking store stays local; the artifacts (the model, purged_kfold.json) go to the
    # bucket. MLflow's S3 client takes its endpoint from MLFLOW_S3_ENDPOINT_URL.
    root = f"{use_s3.fresh_prefix()}/mlflow"
    monkeypatch.setenv("QUANT_ASSETS_MLFLOW_ARTIFACTS", root)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", use_s3.endpoint)
    store = MlflowStore.from_env()
    assert store.artifact_root == root
    tracking = Tracking(store)
    logged = _log(tracking, fitted)

    prefix = root.removeprefix(f"s3://{use_s3.bucket}/")
    keys = object_keys(use_s3, root)
    run_files = {k.removeprefix(f"{prefix}/{logged.run_id}/artifacts/") for k in keys if f"/{logged.run_id}/" in k}
    assert run_files == {"inputs.json", "purged_kfold.json"}
    model_id = logged.model_uri.removeprefix("models:/")
    model_files = {k.removeprefix(f"{prefix}/models/{model_id}/artifacts/") for k in keys if f"/models/{model_id}/" in k}
    assert {"MLmodel", "artifacts/native/model.json", "artifacts/native/lgbm_1h.txt", "artifacts/native/mhnet.pt"} <= model_files
    assert tracking.purged_kfold(logged.run_id).height > 0  # read back from the bucket
    assert not (qa_home / "mlflow" / "artifacts").exists()

    native = tracking.load_fitted(logged.model_uri, qa_home / "cache")  # downloaded from the bucket
    model, features = fitted
    assert np.array_equal(native.predict(features.tail(20))["lgbm"], model.predict(features.tail(20))["lgbm"], equal_nan=True)
