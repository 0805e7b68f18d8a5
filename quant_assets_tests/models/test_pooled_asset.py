"""The pooled fit through multi_horizon_model: recorded per partition, logged once per anchor,
and a leak planted in the pooled training set alone (the per-symbol fits clean) is caught by
the model's blocking purge check, which then publishes none of the days it serves."""

from dataclasses import replace

import polars as pl

from quant_assets.lake.store import ParquetLake
from quant_assets.models import dataset, pooled
from quant_assets.models.record import MODELS_ASSET
from quant_assets_tests import fitted_models
from quant_assets_tests.models.test_model_asset import SERVED
from quant_assets_tests.models.test_planted_leaks import home  # noqa: F401 (the fixture)


def test_each_partition_names_the_pooled_fit_of_its_anchor(home, fresh_instance):  # noqa: F811
    results = fitted_models.run(fitted_models.definitions(home), [MODELS_ASSET], *SERVED, fresh_instance)
    assert all(r.success for r in results) and all(c.passed for c in fitted_models.checks_of(results).values())
    records = ParquetLake(str(home / "lake")).read_many(MODELS_ASSET, fitted_models.parts(*SERVED))
    assert records["pooled_model_uri"].n_unique() == 1 and records["pooled_model_uri"][0] != records["model_uri"][0]
    assert (records["pooled_fit_end"] == records["fit_end"]).all()


def test_a_leak_in_the_pooled_training_set_alone_is_caught(home, monkeypatch, fresh_instance):  # noqa: F811
    # the pooled fit trains up to the anchor (no embargo, no purge): its newest labels come after the fit end
    monkeypatch.setattr(
        pooled,
        "training_set",
        lambda f, labels, w: dataset.training_set(
            f,
            labels.with_columns(pl.col(c).dt.offset_by("-30d") for c in labels.columns if c.startswith("label_available_at_")),
            replace(w, end=w.anchor_start),
        ),
    )
    results = fitted_models.run(fitted_models.definitions(home), [MODELS_ASSET], *SERVED, fresh_instance)
    checks = fitted_models.checks_of(results)
    assert not checks["model_purge"].passed and "lgbm_pooled" in checks["model_purge"].description
    assert checks["model_reproduces"].passed  # the symbol's own fit is clean
    fitted_models.assert_quarantined(home / "lake", MODELS_ASSET, fitted_models.parts(*SERVED), "model_purge")
