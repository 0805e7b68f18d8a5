"""Purged k-fold over the fit window, at fit time: the folds never train on a row whose label
reaches into the test fold or sits in the embargo after it (a fold split without purge, or
without embargo, is caught by the check), and the per-fold results are stored with the model
and come out the same from the same inputs."""

import ast
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from quant_assets.evaluation import purged_kfold as pkf
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS, embargo
from quant_assets.models import cv, lgbm, plan
from quant_assets.models.artefact import FittedModel
from quant_assets.models.verify import cv_problems
from quant_assets.partitions import DaySymbol
from quant_assets_tests import fitted_models
from quant_assets_tests.evaluation.test_purged_kfold import leaks

PART = DaySymbol(date(2025, 11, 10), fitted_models.SYMBOL)


@pytest.fixture(scope="module")
def spied(seed_cache):
    """A small fit, with every fold split the cross-validation asked for, and every fold
    booster it fitted (its train and validation masks, and the booster)."""
    calls, fits = [], []

    def spy(t, end, n_splits, embargo):
        folds = pkf.purged_kfold(t, end, n_splits, embargo)
        calls.append((t, end, embargo, folds))
        return folds

    def fit_spy(data, train, valid, config, family="lgbm", columns=None):
        boosters, metrics = lgbm.fit_boosters(data, train, valid, config, family, columns)
        fits.append((data, train, valid, boosters))
        return boosters, metrics

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cv, "purged_kfold", spy)
        mp.setattr(cv, "fit_boosters", fit_spy)
        model, features = fitted_models.small_fit(seed_cache)
    return model, features, calls, fits


def test_no_fold_trains_on_a_label_that_reaches_its_test_fold_or_its_embargo(spied):
    model, _, calls, _ = spied
    assert model.config.cv_folds == 5 and model.cv["k"] == 5 and model.cv["embargo_s"] == embargo().total_seconds()
    assert len(calls) == len(HORIZON_NAMES)  # one split per horizon, over that horizon's usable rows
    for t, end, gap, folds in calls:
        assert gap == np.timedelta64(embargo() // timedelta(microseconds=1), "us")
        assert np.array_equal(np.concatenate([f.test for f in folds]), np.arange(t.size))
        for fold in folds:
            assert leaks(t, end, fold, gap) == []
    assert cv_problems(PART, model) == []
    frame = cv.fold_results(model.cv)
    assert frame.height == 5 * len(HORIZON_NAMES) and frame.schema == pl.Schema(cv.FOLD_SCHEMA)
    # 1h: every fold trains (early-stopped inside its own train rows) and has figures
    short = frame.filter(pl.col("horizon") == "1h")
    assert short["skipped"].null_count() == 5 and short["rank_ic"].is_finite().all() and short["pnl"].is_not_null().all()
    assert (short["train_rows"] + short["test_rows"] + short["purged_rows"] == model.training["1h"]["rows"]).all()
    # middle folds lose the hour of labels before them and the hour + embargo after them
    middle = short.filter(pl.col("fold").is_between(1, 3))
    assert ((middle["test_start"] - middle["train_t_before"]) > HORIZONS["1h"]).all()
    assert ((middle["train_t_after"] - middle["test_end"]) > HORIZONS["1h"] + embargo()).all()
    # a 21-day window leaves 7d folds nothing to train on after purge and embargo: said, not faked
    assert frame.filter(pl.col("horizon") == "7d")["skipped"].str.contains("train rows after purge and embargo").all()


def test_each_fold_chooses_its_rounds_inside_its_own_training_part(spied):
    """Not the main booster's rounds, chosen on a tail the test fold may be: each fold's own
    early stopping, on the latest of its own train rows, never on a test row."""
    model, _, calls, fits = spied
    frame = cv.fold_results(model.cv).filter(pl.col("skipped").is_null())
    fits = [f for f in fits if f[3]]
    assert len(fits) == frame.height, "one early-stopped booster per fold with figures"
    j = HORIZON_NAMES.index("1h")
    t, _, _, folds = calls[j]
    one_h = [f for f in fits if "1h" in f[3]]
    for (data, train, valid, boosters), fold, rounds in zip(one_h, folds, frame.filter(pl.col("horizon") == "1h")["rounds"]):
        rows = np.flatnonzero(data.usable[:, j])
        fold_train, fold_test = set(rows[fold.train]), set(rows[fold.test])
        inner_train, inner_valid = set(np.flatnonzero(train[:, j])), set(np.flatnonzero(valid[:, j]))
        assert inner_valid and inner_valid <= fold_train and inner_train <= fold_train and not (inner_valid | inner_train) & fold_test
        cut = data.t[sorted(inner_valid)].min()
        assert (data.label_available_at[sorted(inner_train), j] < cut).all(), "train rows whose label reaches the tail are purged"
        assert rounds == lgbm.best_iteration(boosters["1h"])
    assert frame["valid_rows"].min() > 0


def test_the_fold_sharpe_is_on_the_gates_daily_zero_filled_basis():
    from datetime import datetime, timezone

    from quant_assets.evaluation import daily_basis
    from quant_assets.evaluation.metrics import annualised_sharpe

    def at(day, hour):
        return datetime(2025, 10, day, hour, tzinfo=timezone.utc)

    run = pl.DataFrame({"t": [at(1, 1), at(1, 2), at(3, 1), at(4, 1)], "pnl": [0.01, 0.02, -0.01, 0.03], "evaluable": [True, True, True, True]})
    assert daily_basis.zero_filled(run).tolist() == [0.03, 0.0, -0.01, 0.03], "2 Oct had no decision: a day earning 0"
    assert daily_basis.daily_sharpe(run) == annualised_sharpe(np.array([0.03, 0.0, -0.01, 0.03]))


def _plain_kfold(t, end, n_splits, embargo):
    """A faulty split: every row outside the test fold trains (no purge, no embargo)."""
    return [pkf.Fold(train=np.setdiff1d(np.arange(t.size), f.test), test=f.test) for f in pkf.purged_kfold(t, end, n_splits, embargo)]


def _no_embargo(t, end, n_splits, embargo):
    return pkf.purged_kfold(t, end, n_splits, embargo * 0)


@pytest.mark.parametrize("split, says", [(_plain_kfold, "not purged"), (_no_embargo, "not embargoed")], ids=["no-purge", "no-embargo"])
def test_a_fold_split_that_does_not_purge_or_embargo_is_caught(split, says, seed_cache, monkeypatch):
    monkeypatch.setattr(cv, "purged_kfold", split)
    model, _ = fitted_models.small_fit(seed_cache)
    problems = cv_problems(PART, model)
    assert problems and all(says in p for p in problems)
    assert {p.split(" fold ")[0].rsplit(" ", 1)[-1] for p in problems} >= {"1h", "4h", "1d"}


def test_fold_results_are_stored_and_reproducible(spied, seed_cache, tmp_path):
    model, _, _, _ = spied
    again, _ = fitted_models.small_fit(seed_cache)
    assert again.cv == model.cv, "the same inputs give the same folds and figures"
    loaded = FittedModel.load(model.save(tmp_path / "native"))
    assert loaded.cv == model.cv
    assert cv.fold_results(loaded.cv).equals(cv.fold_results(model.cv))
    per_fold = cv.fold_metrics(model.cv)
    assert sorted(per_fold) == list(range(5)) and "cv_1h_rank_ic" in per_fold[0] and "cv_7d_pnl" not in per_fold[0]
    summary = cv.summary_metrics(model.cv)
    assert summary["cv_1h_folds"] == 5 and "cv_7d_folds" not in summary
    assert summary["cv_1h_rank_ic_mean"] == pytest.approx(np.mean([per_fold[i]["cv_1h_rank_ic"] for i in range(5)]))


def test_fewer_than_two_folds_is_no_cross_validation(spied):
    model, _, _, _ = spied
    from quant_assets.models import dataset

    assert cv.cross_validate(dataset.TrainingSet(*[None] * 5), model.boosters, replace(model.config, cv_folds=1), embargo(), PART.day)["folds"] == []


def test_the_fit_key_covers_the_evaluation_code_the_fit_runs():
    # a change to the fold split, the strategy or the metrics must not reuse fits whose stored folds it would change
    root = Path(plan.__file__).resolve().parents[1]
    used = set()
    for path in (root / "models").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("quant_assets.evaluation"):
                if node.module == "quant_assets.evaluation":
                    used |= {root / "evaluation" / f"{a.name}.py" for a in node.names}
                else:
                    used.add(root / "evaluation" / f"{node.module.rsplit('.', 1)[-1]}.py")
    assert used and used <= set(plan.fit_code_files()), sorted(str(p) for p in used - set(plan.fit_code_files()))
    assert root / "features" / "contract.py" in plan.fit_code_files()


def test_a_run_without_stored_folds_says_so_in_one_line(qa_home):
    from quant_assets.registry.store import MlflowStore
    from quant_assets.registry.tracking import Tracking

    tracking = Tracking(MlflowStore.from_env())
    run = tracking.client.create_run(tracking.experiment_id)
    with pytest.raises(ValueError, match=f"MLflow run {run.info.run_id} has no purged_kfold.json"):
        tracking.purged_kfold(run.info.run_id)


def test_by_default_one_weekly_refit_in_four_cross_validates_and_the_others_say_why(seed_cache, monkeypatch):
    """``ModelTraining.cv_every`` (default 4): the k-fold runs at the anchors a whole number of
    28 days after the cadence epoch, the same anchors whatever range a run covers; a fit at any
    other anchor stores no fold and the reason, and the fold check has nothing to object to."""
    from quant_assets.models.train import fit_job
    from quant_assets.resources.models import ModelTraining

    monkeypatch.setenv("QUANT_ASSETS_REFIT_DAYS", "7")
    config = ModelTraining(lgbm_rounds=40, nn_epochs=2).config()
    assert config.cv_every_days == 28
    anchors = [date(2025, 11, 3) + timedelta(weeks=i) for i in range(4)]
    assert [cv.runs_at(a, config) for a in anchors] == [False, False, False, True]  # 2025-11-24: 20,412 days after 1970-01-05

    job = fitted_models.fit_inputs(seed_cache)  # anchor 2025-11-10: not one that cross-validates
    skipped = fit_job(replace(job, config=config))
    assert skipped.cv["folds"] == [] and "one anchor in 28 days" in skipped.cv["skipped"] and "2025-11-10" in skipped.cv["skipped"]
    assert cv.fold_metrics(skipped.cv) == {} and cv.summary_metrics(skipped.cv) == {}
    assert cv_problems(PART, skipped) == []

    # The same fit with cv_every=1 cross-validates: the cadence, not the data, decided.
    every = fit_job(replace(job, config=replace(config, cv_every_days=7)))
    assert len(every.cv["folds"]) == 5 * len(HORIZON_NAMES) and "skipped" not in every.cv
    assert skipped.boosters.keys() == every.boosters.keys()
    with pytest.raises(ValueError, match="cv_every"):
        ModelTraining(cv_every=0).config()
