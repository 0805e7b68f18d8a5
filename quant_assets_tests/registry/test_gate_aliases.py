"""What a published verdict moves in a real MLflow registry (``assets.gate.move_aliases``):
``challenger`` only where the family serving trades passed; an ablation or another family
passing is reported, never a candidate; the portfolio verdict lands on every horizon's version."""

import json
import shutil
from datetime import date
from types import SimpleNamespace

import polars as pl
import pytest
from mlflow.exceptions import MlflowException

from quant_assets.assets.gate import move_aliases, served_family
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.partitions import DaySymbol
from quant_assets.registry import aliases
from quant_assets.registry.names import CHALLENGER, registered_name
from quant_assets.registry.store import MlflowStore
from quant_assets.registry.tracking import Tracking
from quant_assets_tests.registry.test_model_cli import empty_store  # noqa: F401  (fixture)

D = date(2025, 11, 10)
PART = DaySymbol(D, "BTC-USDT")


@pytest.fixture
def tracking(qa_home, tmp_path, empty_store):  # noqa: F811
    """Every horizon of BTC-USDT registered, version 1 each: the fit serving D."""
    (qa_home / "mlflow").mkdir(parents=True)
    shutil.copy(empty_store / "mlflow.db", qa_home / "mlflow" / "mlflow.db")
    client = Tracking(MlflowStore.from_env()).client
    for h in HORIZON_NAMES:
        client.create_registered_model(registered_name("BTC-USDT", h))
        client.create_model_version(registered_name("BTC-USDT", h), (tmp_path / "artifacts").as_uri())
    return SimpleNamespace(client=client)


RECORD = {"versions": json.dumps({h: "1" for h in HORIZON_NAMES})}


def _judged(*rows) -> pl.DataFrame:
    return pl.DataFrame([{"family": f, "horizon": h, "passed": ok, "reasons": f"{'PASS' if ok else 'FAIL'} ..."} for f, h, ok in rows])


def _challenger(client, horizon):
    try:
        return str(client.get_model_version_by_alias(registered_name("BTC-USDT", horizon), CHALLENGER).version)
    except MlflowException:
        return None


def test_an_ablation_that_passes_while_the_served_family_fails_sets_nothing(tracking):
    judged = _judged(("lgbm", "4h", False), ("lgbm_no_text", "4h", True), ("lgbm_no_derivatives", "1h", True), ("mhnet", "1d", True),
                     ("portfolio", "all", False))  # fmt: skip
    done = move_aliases(tracking, PART, RECORD, judged, "lgbm")
    assert {h: _challenger(tracking.client, h) for h in HORIZON_NAMES} == {h: None for h in HORIZON_NAMES}
    assert done == ["portfolio FAIL on 4 versions"]
    assert aliases.VERDICT_TAG not in tracking.client.get_model_version(registered_name("BTC-USDT", "4h"), "1").tags


def test_the_served_family_moves_challenger_where_it_passed_and_the_portfolio_is_tagged(tracking):
    judged = _judged(("lgbm", "4h", False), ("mean", "4h", True), ("mean", "1d", False), ("portfolio", "all", True))
    done = move_aliases(tracking, PART, RECORD, judged, "mean")
    assert {h: _challenger(tracking.client, h) for h in HORIZON_NAMES} == {"1h": None, "4h": "1", "1d": None, "7d": None}
    tags = tracking.client.get_model_version(registered_name("BTC-USDT", "4h"), "1").tags
    assert (tags[aliases.VERDICT_FAMILIES_TAG], tags[aliases.PORTFOLIO_TAG], tags[aliases.PORTFOLIO_DAY_TAG]) == ("mean", "PASS", str(D))
    assert done[0].startswith("challenger 4h v1 (mean") and done[1] == "portfolio PASS on 4 versions"


def test_the_served_family_is_the_serving_setting(monkeypatch):
    monkeypatch.delenv("QUANT_ASSETS_SERVING_FAMILY", raising=False)
    assert served_family() == "lgbm"
    monkeypatch.setenv("QUANT_ASSETS_SERVING_FAMILY", "mean")
    assert served_family() == "mean"


def test_the_demo_forces_a_challenger_whose_portfolio_failed_and_says_why(tracking):
    from quant_assets.cli.demo_trading import DEMO_REASON, crown_for_demo
    from quant_assets.registry.names import CHAMPION

    move_aliases(tracking, PART, RECORD, _judged(("lgbm", "4h", True), ("portfolio", "all", False)), "lgbm")
    said = []
    assert crown_for_demo(["BTC-USDT"], echo=said.append) == 4
    four = registered_name("BTC-USDT", "4h")
    assert any(line.startswith(f"  {four}: the challenger is refused: {four} version 1: the BTC-USDT portfolio verdict failed") for line in said)
    tags = tracking.client.get_model_version(four, "1").tags
    assert tags[aliases.PROMOTED_FORCED_TAG] == "true" and tags[aliases.PROMOTED_REASON_TAG] == DEMO_REASON
    assert str(tracking.client.get_model_version_by_alias(four, CHAMPION).version) == "1"
