"""One notion of staleness: the source assets' Dagster freshness policies and the serving
data halt read the same limits (``quant_assets.automation.freshness``)."""

from datetime import timedelta

import pytest
from dagster import AssetKey

from quant_assets import settings
from quant_assets.automation import freshness
from quant_assets_tests.automation.condition_ticks import definitions, utc

SOURCES = ["market_bars", "derivatives", "social_text"]


def _policy(defs, asset: str):
    return defs.resolve_asset_graph().get(AssetKey(asset)).freshness_policy


def test_every_source_declares_a_policy_and_nothing_downstream_does(qa_home):
    defs = definitions()
    graph = defs.resolve_asset_graph()
    declared = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).freshness_policy}
    assert declared == set(SOURCES)
    # defaults: hourly refreshes; a bar may be 10 minutes old, an hourly record 2 hours, text 2 days
    assert _policy(defs, "market_bars").fail_window.to_timedelta() == timedelta(minutes=60 + 10)
    assert _policy(defs, "derivatives").fail_window.to_timedelta() == timedelta(hours=3)
    assert _policy(defs, "social_text").fail_window.to_timedelta() == timedelta(days=2, hours=1)


def test_the_serving_halt_and_the_lake_policy_move_together(monkeypatch):
    from quant_assets.features import contract
    from serving.risk.data import STALE_BARS, data_halts
    from serving.settings import serving_settings

    monkeypatch.setenv("QUANT_ASSETS_MAX_BAR_AGE_S", "300")
    monkeypatch.setenv("QUANT_ASSETS_INTRADAY_MINUTES", "15")
    limit = serving_settings().max_bar_age_s
    assert limit == 300
    assert freshness.source_policy("market_bars").fail_window.to_timedelta() == timedelta(minutes=15, seconds=300)
    now = utc(2025, 10, 7, 13, 2)
    row = {"t": now, contract.ASOF_COLUMNS["bars"]: now - timedelta(seconds=301)}
    assert STALE_BARS in {h.code for h in data_halts(row, now, limit, 3, 5.0, None)}
    row[contract.ASOF_COLUMNS["bars"]] = now - timedelta(seconds=300)
    assert STALE_BARS not in {h.code for h in data_halts(row, now, limit, 3, 5.0, None)}


def test_the_old_serving_name_is_refused_with_the_new_one(monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_SERVING_MAX_BAR_AGE_S", "900")
    with pytest.raises(settings.SettingsError, match="QUANT_ASSETS_SERVING_MAX_BAR_AGE_S was renamed QUANT_ASSETS_MAX_BAR_AGE_S"):
        freshness.max_bar_age()


@pytest.mark.parametrize("value", ["0", "-5", "ten"])
def test_a_bad_limit_is_one_line_naming_the_setting(monkeypatch, value):
    monkeypatch.setenv("QUANT_ASSETS_MAX_BAR_AGE_S", value)
    with pytest.raises(settings.SettingsError) as err:
        freshness.max_bar_age()
    assert str(err.value).startswith(f"QUANT_ASSETS_MAX_BAR_AGE_S={value!r}") and "\n" not in str(err.value)
