"""Each leak planted where it would really happen in the model code, and the check that catches it.

The checks re-derive what they judge (embargo from the horizons, purge from the labels
asset, inputs from the feature contract), so a fault in the fitting code cannot vouch for itself.
"""

from dataclasses import replace
from datetime import date, timedelta

import polars as pl
import pytest

from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.forward import LABELS_ASSET, gross_column
from quant_assets.lake.store import ParquetLake
from quant_assets.models import dataset, plan
from quant_assets.models.record import MODELS_ASSET
from quant_assets.models.verify import contract_inputs
from quant_assets.models.window import fit_window
from quant_assets.partitions import DaySymbol, days_between
from quant_assets_tests import fitted_models
from quant_assets_tests.models.test_model_asset import FIRST, LABEL_DAYS, LAST, SERVED


@pytest.fixture
def home(tmp_path, monkeypatch, seed_cache, fresh_instance):
    home = tmp_path / "home"
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(home))
    fitted_models.copy_lake(fitted_models.seeded_lake(seed_cache, FIRST, LAST), home)
    assert all(r.success for r in fitted_models.run(fitted_models.definitions(home), [LABELS_ASSET], *LABEL_DAYS, fresh_instance))
    return home


def _no_embargo(day, symbol, train_days, refit_days):
    w = fit_window(day, symbol, train_days, refit_days)
    return replace(w, end=w.anchor_start, embargo=timedelta(0))


def _window_through_the_day(day, symbol, train_days, refit_days):
    w = fit_window(day, symbol, train_days, refit_days)
    return replace(w, end=w.anchor_start + timedelta(days=1))


def _purge_on_decision_time(monkeypatch, home):
    # the purge compares the decision time, not the label's availability, with the fit end
    monkeypatch.setattr(dataset, "available_column", lambda h: "t")


def _smuggled_label(monkeypatch, home):
    # a feature partition carries the 1h forward return under an innocent name, and the
    # training code takes "every column" instead of the contract's
    store = ParquetLake(str(home / "lake"))
    for day in days_between(date(2025, 10, 19), date(2025, 11, 11)):
        part = DaySymbol(day, fitted_models.SYMBOL)
        if not store.exists(LABELS_ASSET, part):
            continue
        features = store.read(FEATURES_ASSET, part)
        hint = store.read(LABELS_ASSET, part).select("t", pl.col(gross_column("1h")).alias("alpha_hint"))
        store.write(FEATURES_ASSET, part, features.join(hint, on="t", how="left"))
    monkeypatch.setattr(dataset, "input_columns", lambda: [*contract_inputs(), "alpha_hint"])


@pytest.mark.parametrize(
    "plant, caught_by",
    [
        (lambda mp, home: mp.setattr(plan, "fit_window", _no_embargo), "model_embargo"),
        (lambda mp, home: mp.setattr(plan, "fit_window", _window_through_the_day), "model_embargo"),
        (_purge_on_decision_time, "model_purge"),
        (_smuggled_label, "model_inputs_contract"),
    ],
    ids=["embargo-zero", "window-includes-day-D", "label-overlaps-fit-end", "label-smuggled-into-features"],
)
def test_planted_model_leak_is_caught(plant, caught_by, home, monkeypatch, fresh_instance):
    plant(monkeypatch, home)
    results = fitted_models.run(fitted_models.definitions(home), [MODELS_ASSET], *SERVED, fresh_instance)
    checks = fitted_models.checks_of(results)
    assert not checks[caught_by].passed, f"{caught_by} passed: {checks[caught_by].description}"
    assert caught_by.removeprefix("model_") in checks[caught_by].description
    # no served day points at the leaky fit: oos_eval and every lake reader never see it
    fitted_models.assert_quarantined(home / "lake", MODELS_ASSET, fitted_models.parts(*SERVED), caught_by)
