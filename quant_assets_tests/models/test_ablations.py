"""Ablations: LightGBM fitted in the same fit without text and without derivatives columns.

Each ablation reads exactly the contract's inputs minus its source's columns (as the booster
itself names them), is saved, reloaded and predicted like the main families, and a column of
the dropped source slipping into an ablation is caught by the inputs check.
"""

from datetime import date

import numpy as np
import pytest

from quant_assets.features import contract
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models import lgbm
from quant_assets.models.artefact import FAMILIES, FittedModel
from quant_assets.models.verify import contract_inputs, input_problems
from quant_assets.partitions import DaySymbol
from quant_assets.registry.pyfunc import output_columns
from quant_assets_tests import fitted_models

PART = DaySymbol(date(2025, 11, 10), fitted_models.SYMBOL)


@pytest.fixture(scope="module")
def fitted(seed_cache):
    return fitted_models.small_fit(seed_cache)


def test_each_ablation_reads_the_contract_minus_its_source(fitted):
    model, _ = fitted
    assert set(model.ablations) == {"lgbm_no_text", "lgbm_no_derivatives"}
    for family, source in (("lgbm_no_text", "text"), ("lgbm_no_derivatives", "derivatives")):
        assert set(model.ablations[family]) == set(model.boosters) == set(HORIZON_NAMES)
        own = set(contract.source_columns(source))
        for h, booster in model.ablations[family].items():
            read = booster.feature_name()
            assert read == [c for c in contract_inputs() if c not in own]
            assert not own & set(read) and len(read) == len(contract_inputs()) - len(own)
            # early stopping on the same validation tail, recorded beside the main family's
            assert model.metrics[f"{family}_{h}_best_iteration"] >= 1
            assert (f"{family}_{h}_valid_rmse" in model.metrics) == (f"lgbm_{h}_valid_rmse" in model.metrics)
    assert "text_post_z_00" in model.ablations["lgbm_no_derivatives"]["1h"].feature_name()
    assert "funding_rate" in model.ablations["lgbm_no_text"]["1h"].feature_name()
    assert input_problems(PART, model) == []


def test_ablations_are_predicted_saved_and_reloaded(fitted, tmp_path):
    model, features = fitted
    rows = features.tail(30)
    predicted = model.predict(rows)
    assert set(predicted) == {*FAMILIES, *lgbm.ABLATIONS}
    for family in lgbm.ABLATIONS:
        assert predicted[family].shape == (30, len(HORIZON_NAMES)) and np.isfinite(predicted[family]).all()
    assert not np.array_equal(predicted["lgbm_no_derivatives"], predicted["lgbm"])
    # the seeded lake has no text (every text feature missing), so dropping text changes
    # nothing: same rows, seed, settings and early stopping give the very same model
    assert features["text_post_count_1h"].null_count() == features.height
    assert np.array_equal(predicted["lgbm_no_text"], predicted["lgbm"])
    assert set(model.sample["predictions"]) == set(predicted), "the reproducibility sample covers the ablations"
    again = FittedModel.load(model.save(tmp_path / "native"))
    for family, matrix in again.predict(rows).items():
        assert np.array_equal(matrix, predicted[family], equal_nan=True), family
    # the served face stays the main families: no ablation among the pyfunc's outputs
    assert not [c for c in output_columns() if c.startswith(tuple(lgbm.ABLATIONS))]


def test_a_text_column_in_lgbm_no_text_is_caught(seed_cache, monkeypatch):
    ablation_columns = lgbm.ablation_columns

    def leaky(columns, source):  # a faulty selection: one text count survives the text ablation
        kept = ablation_columns(columns, source)
        return [*kept, "text_post_count_1h"] if source == "text" else kept

    monkeypatch.setattr(lgbm, "ablation_columns", leaky)
    model, _ = fitted_models.small_fit(seed_cache)
    problems = input_problems(PART, model)
    assert problems and all("lgbm_no_text" in p and "text_post_count_1h" in p for p in problems)
    assert len(problems) == len(model.ablations["lgbm_no_text"])
