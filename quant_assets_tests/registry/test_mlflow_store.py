"""The MLflow store: SQLite under the home by default, PostgreSQL by one setting, and the UI
that `quant-assets mlflow` serves over it."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psycopg2
import pytest
import requests

from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.registry.names import registered_name
from quant_assets.registry.store import MlflowStore
from quant_assets.registry.tracking import Tracking
from quant_assets_tests import modelkit


@pytest.fixture(scope="module")
def fitted(seed_cache):
    return modelkit.small_fit(seed_cache)


def _log(tracking: Tracking, fitted, key="k1"):
    model, features = fitted
    return tracking.log_fit(model, features, key, params={"p": 1}, tags={"symbol": model.window.symbol}, inputs={}, version_tags={})


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_quant_assets_mlflow_serves_the_registry(qa_home, fitted):
    _log(Tracking(MlflowStore.from_env()), fitted)
    port = _free_port()
    cli = Path(sys.executable).with_name("quant-assets")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # the venv need not be on PATH
    server = subprocess.Popen([str(cli), "mlflow", "--port", str(port)], env=env, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 240  # ~10 s on a quiet machine; much more on a busy one
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting
                pass
            assert server.poll() is None, server.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the MLflow UI did not answer within 240 s"
            time.sleep(0.5)
        found = requests.get(f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/registered-models/search", timeout=10).json()
        assert sorted(m["name"] for m in found["registered_models"]) == sorted(registered_name("BTC-USDT", h) for h in HORIZON_NAMES)
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).ok
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
