"""Purged k-fold with embargo over a fit window, computed at fit time (LightGBM only).

Per horizon with a main booster, the window's usable rows for that horizon (decision time
``t``, label interval ``[t, label_available_at]``) are cut into ``config.cv_folds``
contiguous test folds by ``evaluation.purged_kfold`` (train rows whose label touches the
fold are purged; rows after it wait the fit window's embargo, longest horizon + one bar).
Each fold chooses its own early-stopping rounds inside its own training part, as the main
fit does inside the window (``split.validation_split`` on the fold's train rows: the latest
``valid_fraction`` of them steer the stopping, the rows before whose labels reach into them
are purged; ``lgbm.fit_boosters``), so neither the test fold nor the main booster's choice,
made on data that includes the test fold, steers a round. It predicts the test fold and runs
the one reference strategy (``evaluation.strategy.reference``, each fold starting flat) with
the trailing volatility that oos_eval uses (``oos.TRAILING``) at ``config.cv_round_trip_cost``.
Figures per fold are ``metrics.series_figures``'s, but the daily Sharpe is on the gate's basis
(``daily_basis``: every calendar day of the fold, 0 without a decision, sqrt(365)).

Each fold also records where its training rows stop around the test fold (newest train
``t`` before it, oldest after it), so a check can re-derive from the horizons alone that
no train label overlapped the fold and the embargo held (``verify.cv_problems``).

The k-fold runs at one refit anchor in ``config.cv_every_days`` days (``runs_at``); a fit at
another anchor stores no folds and says why (``skipped``), and the gate's ``cv_sharpe`` of a
day it serves is NaN. It is reported beside the walk-forward Sharpe, never gated.

Stored with the model (``FittedModel.cv``, in ``model.json``) and in its MLflow run (the
artifact ``purged_kfold.json``, metrics ``cv_<h>_<figure>`` per fold as steps and their
means). Read them as a frame with :func:`fold_results` (from a model's ``cv``) or
``registry.tracking.Tracking.purged_kfold`` (from a run id).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import lightgbm as lgb
import numpy as np
import polars as pl

from quant_assets.evaluation import daily_basis, metrics, strategy
from quant_assets.evaluation.oos import TRAILING
from quant_assets.evaluation.purged_kfold import purged_kfold
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS
from quant_assets.models.config import TrainingConfig
from quant_assets.models.dataset import TrainingSet
from quant_assets.models.lgbm import MIN_ROWS, best_iteration, fit_boosters
from quant_assets.models.split import validation_split
from quant_assets.models.window import CADENCE_EPOCH
from quant_assets.timegrid import TS_DTYPE

ARTIFACT = "purged_kfold.json"
FIGURES = ("rank_ic", "hit_rate", "pnl", "decisions", "trades", "turnover", "max_drawdown", "daily_sharpe")
TIMES = ("test_start", "test_end", "train_t_before", "train_t_after")
FOLD_SCHEMA: dict[str, pl.DataType] = {
    "horizon": pl.String(),
    "fold": pl.Int64(),
    "rounds": pl.Int64(),
    "train_rows": pl.Int64(),
    "valid_rows": pl.Int64(),  # of the train rows, the tail that chose the fold's rounds
    "test_rows": pl.Int64(),
    "purged_rows": pl.Int64(),  # neither train nor test: purged or embargoed
    "test_start": TS_DTYPE,
    "test_end": TS_DTYPE,
    "train_t_before": TS_DTYPE,  # newest train t before the fold (null: none)
    "train_t_after": TS_DTYPE,  # oldest train t after the fold (null: none)
    **{f: pl.Int64() if f in ("decisions", "trades") else pl.Float64() for f in FIGURES},
    "skipped": pl.String(),  # why a fold has no figures (null: it has them)
}


def runs_at(anchor: date, config: TrainingConfig) -> bool:
    """Whether the fit anchored on ``anchor`` cross-validates: a whole number of
    ``cv_every_days`` after ``CADENCE_EPOCH``, so the same anchors whatever range a run covers."""
    return (anchor - CADENCE_EPOCH).days % config.cv_every_days == 0


def cross_validate(data: TrainingSet, boosters: dict[str, lgb.Booster], config: TrainingConfig, embargo: timedelta, anchor: date) -> dict:
    """The purged k-fold results of the fit anchored on ``anchor``: settings and one record per
    (horizon, fold); none, with the reason, at an anchor that does not cross-validate."""
    out = {"k": config.cv_folds, "embargo_s": embargo.total_seconds(), "round_trip_cost": config.cv_round_trip_cost, "folds": []}
    if config.cv_folds < 2:
        return out
    if not runs_at(anchor, config):
        out["skipped"] = f"the purged k-fold runs at one anchor in {config.cv_every_days} days (cv_every_days), not at {anchor}"
        return out
    gap = np.timedelta64(embargo // timedelta(microseconds=1), "us")
    for j, h in enumerate(HORIZON_NAMES):
        rows = np.flatnonzero(data.usable[:, j])
        if h not in boosters or rows.size < max(MIN_ROWS, config.cv_folds):
            continue
        t, end = data.t[rows], data.label_available_at[rows, j]
        for i, fold in enumerate(purged_kfold(t, end, config.cv_folds, gap)):
            train, test = rows[fold.train], rows[fold.test]
            before, after = fold.train[t[fold.train] < t[fold.test[0]]], fold.train[t[fold.train] > t[fold.test[-1]]]
            record = {
                "horizon": h,
                "fold": i,
                "train_rows": int(train.size),
                "test_rows": int(test.size),
                "purged_rows": int(rows.size - train.size - test.size),
                "test_start": _iso(t[fold.test[0]]),
                "test_end": _iso(t[fold.test[-1]]),
                "train_t_before": _iso(t[before].max()) if before.size else None,
                "train_t_after": _iso(t[after].min()) if after.size else None,
            }
            booster, valid_rows = _fold_booster(data, j, h, train, config) if train.size >= MIN_ROWS else (None, 0)
            if train.size < MIN_ROWS:
                record["skipped"] = f"{train.size} train rows after purge and embargo, fewer than {MIN_ROWS}"
            elif booster is None:
                record["skipped"] = f"{train.size} train rows after purge and embargo: fewer than {MIN_ROWS} once its validation tail is set aside"
            else:
                record.update(rounds=best_iteration(booster), valid_rows=valid_rows, **_fold_figures(data, j, h, test, booster, config))
            out["folds"].append(record)
    return out


def _fold_booster(data: TrainingSet, j: int, h: str, train: np.ndarray, config: TrainingConfig) -> tuple[lgb.Booster | None, int]:
    """The fold's booster for horizon ``j``, early-stopped on the tail of its own train rows."""
    within = np.zeros(data.t.shape[0], dtype=bool)
    within[train] = True
    inner_train, inner_valid = validation_split(data, config.valid_fraction, within)
    only = np.zeros_like(inner_train)
    only[:, j] = True
    boosters, _ = fit_boosters(data, inner_train & only, inner_valid & only, config, family=f"cv_{h}")
    return boosters.get(h), int((inner_valid & only).sum())


def _fold_figures(data: TrainingSet, j: int, h: str, test: np.ndarray, booster: lgb.Booster, config: TrainingConfig) -> dict:
    trailing = TRAILING[h]
    series = pl.DataFrame(
        {
            "t": pl.Series(data.t[test]).dt.replace_time_zone("UTC"),
            "prediction": booster.predict(data.x[test], num_iteration=booster.best_iteration or None),
            "label": data.y[test, j],
            "vol": data.x[test, data.columns.index(trailing.vol)] * trailing.vol_scale,
        }
    )
    run = strategy.reference(series, horizon=HORIZONS[h], cost=config.cv_round_trip_cost)
    figures = metrics.series_figures(run) | {"daily_sharpe": daily_basis.daily_sharpe(run)}
    return {f: _finite(figures[f]) for f in FIGURES}


def _finite(value):
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _iso(t: np.datetime64) -> str:
    return t.astype("datetime64[us]").item().replace(tzinfo=timezone.utc).isoformat()


def fold_results(cv: dict) -> pl.DataFrame:
    """One row per (horizon, fold) (``FOLD_SCHEMA``) from a model's ``cv`` (or the run's artifact)."""
    rows = [{c: (datetime.fromisoformat(v) if c in TIMES and v else v) for c, v in fold.items()} for fold in cv.get("folds", [])]
    return pl.DataFrame([{c: row.get(c) for c in FOLD_SCHEMA} for row in rows], schema=FOLD_SCHEMA)


def fold_metrics(cv: dict) -> dict[int, dict[str, float]]:
    """MLflow metrics per fold (the step): ``cv_<h>_<figure>`` of every fold with figures."""
    out: dict[int, dict[str, float]] = {}
    for fold in cv.get("folds", []):
        if fold.get("skipped") is None:
            out.setdefault(fold["fold"], {}).update({f"cv_{fold['horizon']}_{f}": float(fold[f]) for f in FIGURES if fold.get(f) is not None})
    return out


def summary_metrics(cv: dict) -> dict[str, float]:
    """Per horizon: folds with figures, and the mean rank IC and after-cost PnL over them."""
    out = {}
    frame = fold_results(cv).filter(pl.col("skipped").is_null())
    for (h,), group in frame.group_by(["horizon"], maintain_order=True):
        out[f"cv_{h}_folds"] = float(group.height)
        for figure in ("rank_ic", "pnl"):
            mean = group[figure].drop_nulls().mean()
            if mean is not None:
                out[f"cv_{h}_{figure}_mean"] = float(mean)
    return out
