"""Champion models by alias: resolved each tick, loaded natively once per version, reloaded
after a person moves the alias, and a (symbol, horizon) without a champion says why."""

import numpy as np
import pytest

from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.registry.names import registered_name
from quant_assets_tests import fitted_models
from serving.models import Champion, ChampionModels, NoChampion

SYMBOL = fitted_models.SYMBOL


@pytest.fixture
def served(home):
    from quant_assets.registry.store import MlflowStore
    from quant_assets.registry.tracking import Tracking

    tracking = Tracking(MlflowStore.from_env())
    return tracking, ChampionModels(tracking, home / "cache" / "serving-models")


def _versions(tracking, h):
    return sorted(int(v.version) for v in tracking.client.search_model_versions(f"name = '{registered_name(SYMBOL, h)}'"))


def test_no_champion_means_no_model_and_a_reason(served):
    tracking, models = served
    got = models.resolve([SYMBOL, "ETH-USDT"], ["1h"])
    assert isinstance(got[SYMBOL, "1h"], NoChampion)
    assert "has no alias 'champion'" in got[SYMBOL, "1h"].reason
    assert "is not registered" in got["ETH-USDT", "1h"].reason
    assert models.loads == 0


def test_champion_is_loaded_natively_once_and_reloaded_after_promote_and_rollback(served):
    tracking, models = served
    first, second = _versions(tracking, "1h")[:2]
    for h in HORIZON_NAMES:
        tracking.client.set_registered_model_alias(registered_name(SYMBOL, h), "champion", str(first))
    got = models.resolve([SYMBOL], list(HORIZON_NAMES))
    assert all(isinstance(c, Champion) and c.version == str(first) for c in got.values())
    assert models.loads == 1  # one fit, four names: one load
    champion = got[SYMBOL, "1h"]
    # native: real LightGBM boosters and the torch net with the fit's standardisation
    assert champion.model.boosters["1h"].num_trees() > 0
    assert champion.model.net.scaler.std.shape == (len(champion.model.input_columns),)
    models.resolve([SYMBOL], list(HORIZON_NAMES))
    assert models.loads == 1  # cached while the alias stays

    tracking.client.set_registered_model_alias(registered_name(SYMBOL, "1h"), "champion", str(second))  # promote
    moved = models.resolve([SYMBOL], list(HORIZON_NAMES))
    assert moved[SYMBOL, "1h"].version == str(second) and moved[SYMBOL, "4h"].version == str(first)
    assert models.loads == 2
    assert moved[SYMBOL, "1h"].model_uri != moved[SYMBOL, "4h"].model_uri
    x = np.zeros((1, len(champion.model.input_columns)))
    assert moved[SYMBOL, "1h"].model.boosters["1h"].predict(x)[0] != champion.model.boosters["1h"].predict(x)[0]

    tracking.client.set_registered_model_alias(registered_name(SYMBOL, "1h"), "champion", str(first))  # rollback
    back = models.resolve([SYMBOL], list(HORIZON_NAMES))
    assert back[SYMBOL, "1h"].version == str(first)
    tracking.client.delete_registered_model_alias(registered_name(SYMBOL, "1h"), "champion")
    gone = models.resolve([SYMBOL], list(HORIZON_NAMES))
    assert isinstance(gone[SYMBOL, "1h"], NoChampion) and isinstance(gone[SYMBOL, "4h"], Champion)
