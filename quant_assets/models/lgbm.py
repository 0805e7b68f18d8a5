"""LightGBM, one booster per horizon, early-stopped on the validation tail.

Ablations: besides the main family ``lgbm`` on every contract input, each fit trains one
LightGBM family per source in ``ABLATIONS`` on the contract's inputs minus that source's
columns (``contract.source_columns``), with the same rows, validation tail, settings, seed
and early stopping, so the gap between ``lgbm`` and ``lgbm_no_<source>`` is what the source
adds and nothing else.
"""

from __future__ import annotations

import weakref

import lightgbm as lgb
import numpy as np

from quant_assets.features import contract
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.config import TrainingConfig
from quant_assets.models.dataset import TrainingSet

MIN_ROWS = 100
MAIN = "lgbm"
# family -> the source whose columns it goes without
ABLATIONS: dict[str, str] = {"lgbm_no_text": "text", "lgbm_no_derivatives": "derivatives"}


def ablation_columns(columns: list[str], source: str) -> list[str]:
    """``columns`` (in their order) without the inputs of ``source``."""
    dropped = set(contract.source_columns(source))
    return [c for c in columns if c not in dropped]


def booster_params(config: TrainingConfig) -> dict:
    return {
        "objective": "regression",
        "learning_rate": config.lgbm_learning_rate,
        "num_leaves": config.lgbm_num_leaves,
        "min_data_in_leaf": config.lgbm_min_data_in_leaf,
        "feature_fraction": 0.8,
        "lambda_l2": 1.0,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": config.threads,
        "verbose": -1,
    }


def best_iteration(booster: lgb.Booster) -> int:
    """The early-stopped iteration count (all iterations when nothing stopped it)."""
    return int(booster.best_iteration or booster.current_iteration())


def fit_boosters(
    data: TrainingSet, train: np.ndarray, valid: np.ndarray, config: TrainingConfig, family: str = MAIN, columns: list[str] | None = None
) -> tuple[dict[str, lgb.Booster], dict[str, float]]:
    """One booster per horizon with enough rows, on ``columns`` (default: all of ``data``'s);
    metrics ``<family>_<h>_*``: validation RMSE and best iteration."""
    columns = list(data.columns) if columns is None else columns
    x = data.x[:, [data.columns.index(c) for c in columns]]
    boosters, metrics = {}, {}
    for j, h in enumerate(HORIZON_NAMES):
        tr, va = train[:, j], valid[:, j]
        if tr.sum() < MIN_ROWS:
            continue
        train_set = lgb.Dataset(x[tr], data.y[tr, j], feature_name=columns, free_raw_data=True)
        callbacks = [lgb.log_evaluation(0)]
        valid_sets = []
        if va.sum() >= MIN_ROWS // 4:
            valid_sets = [lgb.Dataset(x[va], data.y[va, j], reference=train_set)]
            callbacks.append(lgb.early_stopping(config.lgbm_early_stopping, verbose=False))
        booster = lgb.train(booster_params(config), train_set, config.lgbm_rounds, valid_sets=valid_sets, callbacks=callbacks)
        boosters[h] = booster
        metrics[f"{family}_{h}_best_iteration"] = float(best_iteration(booster))
        if valid_sets:
            pred = booster.predict(x[va], num_iteration=booster.best_iteration or None)
            metrics[f"{family}_{h}_valid_rmse"] = float(np.sqrt(np.mean((pred - data.y[va, j]) ** 2)))
    return boosters, metrics


def fit_ablations(
    data: TrainingSet, train: np.ndarray, valid: np.ndarray, config: TrainingConfig
) -> tuple[dict[str, dict[str, lgb.Booster]], dict[str, float]]:
    """Every family of ``ABLATIONS``: family -> horizon -> booster, and their metrics."""
    families, metrics = {}, {}
    for family, source in ABLATIONS.items():
        families[family], found = fit_boosters(data, train, valid, config, family, ablation_columns(data.columns, source))
        metrics.update(found)
    return families, metrics


_FEATURE_NAMES: "weakref.WeakKeyDictionary[lgb.Booster, list[str]]" = weakref.WeakKeyDictionary()


def feature_names(booster: lgb.Booster) -> list[str]:
    """``booster.feature_name()``, asked once per booster: the call costs more than a one-row predict."""
    if booster not in _FEATURE_NAMES:
        _FEATURE_NAMES[booster] = booster.feature_name()
    return _FEATURE_NAMES[booster]


def predict_boosters(boosters: dict[str, lgb.Booster], x: np.ndarray, columns: list[str], **params) -> np.ndarray:
    """[rows, horizons] from one family's boosters on ``x`` (whose columns are ``columns``),
    each booster fed the columns it was trained on, by name; NaN where a horizon has none.
    ``params`` go to ``Booster.predict`` (serving passes ``num_threads=1`` for one row)."""
    out = np.full((x.shape[0], len(HORIZON_NAMES)), np.nan)
    for j, h in enumerate(HORIZON_NAMES):
        if h in boosters:
            booster = boosters[h]
            names = feature_names(booster)
            picked = x if names == columns else x[:, [columns.index(c) for c in names]]
            out[:, j] = booster.predict(picked, num_iteration=booster.best_iteration or None, **params)
    return out
