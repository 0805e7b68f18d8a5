"""LightGBM, one booster per horizon, early-stopped on the validation tail."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.config import TrainingConfig
from quant_assets.models.dataset import TrainingSet

MIN_ROWS = 100


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


def fit_boosters(
    data: TrainingSet, train: np.ndarray, valid: np.ndarray, config: TrainingConfig
) -> tuple[dict[str, lgb.Booster], dict[str, float]]:
    """One booster per horizon with enough rows; metrics: validation RMSE and best iteration."""
    boosters, metrics = {}, {}
    for j, h in enumerate(HORIZON_NAMES):
        tr, va = train[:, j], valid[:, j]
        if tr.sum() < MIN_ROWS:
            continue
        train_set = lgb.Dataset(data.x[tr], data.y[tr, j], feature_name=data.columns, free_raw_data=True)
        callbacks = [lgb.log_evaluation(0)]
        valid_sets = []
        if va.sum() >= MIN_ROWS // 4:
            valid_sets = [lgb.Dataset(data.x[va], data.y[va, j], reference=train_set)]
            callbacks.append(lgb.early_stopping(config.lgbm_early_stopping, verbose=False))
        booster = lgb.train(booster_params(config), train_set, config.lgbm_rounds, valid_sets=valid_sets, callbacks=callbacks)
        boosters[h] = booster
        metrics[f"lgbm_{h}_best_iteration"] = float(booster.best_iteration or booster.current_iteration())
        if valid_sets:
            pred = booster.predict(data.x[va], num_iteration=booster.best_iteration or None)
            metrics[f"lgbm_{h}_valid_rmse"] = float(np.sqrt(np.mean((pred - data.y[va, j]) ** 2)))
    return boosters, metrics
