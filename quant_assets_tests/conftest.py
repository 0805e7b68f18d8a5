"""Shared test setup: every test gets its own QUANT_ASSETS_HOME and Dagster home.

Partition definitions are built from the environment when the code location is imported,
so the universe and first day are fixed here, before any quant_assets import: BTC, ETH,
SOL against USDT from 2025-10-01, the first day of the shipped sample's text (its bars, and
the default first day, start on 2025-06-01).
"""

import os
import shutil
from pathlib import Path

os.environ.setdefault("QUANT_ASSETS_SYMBOLS", "BTC-USDT,ETH-USDT,SOL-USDT")
os.environ.setdefault("QUANT_ASSETS_START_DATE", "2025-10-01")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import uuid  # noqa: E402

import psycopg2  # noqa: E402
import pytest  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
SPOT_FIXTURE = FIXTURES / "spot_5m_btc_eth_sol_2025-10-05_07.parquet"


@pytest.fixture(scope="session")
def seed_cache(tmp_path_factory):
    """Folder for lakes seeded once per test session (see ``fitted_models.seeded_lake``)."""
    return tmp_path_factory.mktemp("seeded-lakes")


@pytest.fixture
def fresh_instance():
    """An ephemeral Dagster instance of the test's own."""
    import logging

    from dagster import DagsterInstance

    # Dagster and MLflow log every event; the tests read results instead.
    logging.getLogger("dagster").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    with DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def drop_folder(tmp_path) -> Path:
    """A file drop holding the spot fixture as ``spot.parquet``, for market_bars read through
    ``FileDropMarketData`` (the market_bars, write-audit-publish and follow-up tests)."""
    folder = tmp_path / "drop"
    folder.mkdir()
    shutil.copy(SPOT_FIXTURE, folder / "spot.parquet")
    return folder


@pytest.fixture
def qa_home(tmp_path, monkeypatch) -> Path:
    """A fresh QUANT_ASSETS_HOME (lake, bundles, Dagster instance) for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return home


PG_ADMIN_DSN = os.environ.get("QUANT_ASSETS_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")


@pytest.fixture
def pg_database():
    """A PostgreSQL database of its own, created and dropped here, as a SQLAlchemy URL.

    Where PostgreSQL is unreachable the test skips, except in CI (CI=true), where that is a
    failure: the CI machine always runs PostgreSQL.
    """
    try:
        admin = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must be reachable in CI ({PG_ADMIN_DSN}): {exc}")
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_DSN}")
    admin.autocommit = True
    name = f"qa_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    params = admin.get_dsn_parameters()
    yield f"postgresql+psycopg2://{params['user']}@{params['host']}:{params['port']}/{name}"
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


# The loopback S3 server (moto) for the object-store lake's tests; see moto_s3.py.
from quant_assets_tests.moto_s3 import s3_server, use_s3  # noqa: E402, F401
