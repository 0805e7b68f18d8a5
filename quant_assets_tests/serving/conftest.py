import shutil
from datetime import date

import pytest

from serving.ledger import Ledger

# One fitted home for the serving tests that need real registered models: labels, two weekly
# fits (anchors Mon 11-03 and Mon 11-10, so two registered versions per name) serving
# 11-09..11-10, and oos_eval of those days, all through Dagster (see fitted_models.fitted_home).
LAKE_DAYS = (date(2025, 10, 1), date(2025, 11, 12))
LABEL_DAYS = (date(2025, 10, 12), date(2025, 11, 11))
SERVED = (date(2025, 11, 9), date(2025, 11, 10))


@pytest.fixture
def ledger(tmp_path):
    led = Ledger.open(f"sqlite:///{tmp_path}/ledger/ledger.sqlite3")
    yield led
    led.close()


@pytest.fixture(scope="session")
def served_home(tmp_path_factory, seed_cache):
    from quant_assets.evaluation.oos import OOS_ASSET
    from quant_assets.models.record import MODELS_ASSET
    from quant_assets_tests import fitted_models

    home = tmp_path_factory.mktemp("served") / "home"
    return fitted_models.fitted_home(home, seed_cache, LAKE_DAYS, LABEL_DAYS, SERVED, assets=(MODELS_ASSET, OOS_ASSET))


@pytest.fixture
def home(served_home, tmp_path, monkeypatch):
    """The test's own copy of the served home (aliases it sets stay its own; the MLflow
    artifacts it reads are the shared, read-only ones the copied database points at)."""
    own = tmp_path / "home"
    shutil.copytree(served_home, own)
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(own))
    monkeypatch.setenv("QUANT_ASSETS_LEDGER_URL", f"sqlite:///{tmp_path}/ledger.sqlite3")
    return own
