"""One fit: the training set of a window, both families, the LightGBM ablations, the purged
k-fold over the window, and what the fit records."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from quant_assets.models import dataset
from quant_assets.models.artefact import FittedModel
from quant_assets.models.config import TrainingConfig
from quant_assets.models.cv import cross_validate
from quant_assets.models.lgbm import fit_ablations, fit_boosters
from quant_assets.models.multihead import fit_net
from quant_assets.models.split import validation_split
from quant_assets.models.window import FitWindow


def fit_multi_horizon(features: pl.DataFrame, labels: pl.DataFrame, window: FitWindow, config: TrainingConfig) -> FittedModel:
    """Fit LightGBM per horizon, its ablations (``lgbm.ABLATIONS``) and the multi-head net on
    the window's purged rows, then cross-validate LightGBM by purged k-fold (``cv``) where the
    anchor is one that cross-validates (``cv.runs_at``).

    ``features`` and ``labels`` are one symbol's rows (column ``t`` plus their own columns)
    for at least the window's days; rows outside the window are ignored.
    """
    data = dataset.training_set(features, labels, window)
    if not data.usable.any():
        raise ValueError(
            f"{window.symbol} fit {window.start:%Y-%m-%d %H:%M}..{window.end:%Y-%m-%d %H:%M}: no row has a label "
            "known by the fit end; materialize feature_matrix and labels for the window first"
        )
    train, valid = validation_split(data, config.valid_fraction)
    boosters, lgbm_metrics = fit_boosters(data, train, valid, config)
    ablations, ablation_metrics = fit_ablations(data, train, valid, config)
    net, net_metrics = fit_net(data, train, valid, config)
    model = FittedModel(
        window, data.columns, boosters, net, config, data.summary(), {**lgbm_metrics, **ablation_metrics, **net_metrics},
        ablations=ablations, cv=cross_validate(data, boosters, config, window.embargo, window.anchor),
    )  # fmt: skip
    in_window = features.filter((pl.col("t") > window.start) & (pl.col("t") <= window.end)).sort("t")
    model.record_sample(in_window)
    return model


@dataclass
class FitJob:
    """One fit's inputs, as a pool worker receives them (``pool.fit_in_pool``)."""

    window: FitWindow
    features: pl.DataFrame
    labels: pl.DataFrame
    config: TrainingConfig

    def describe(self) -> str:
        return f"fit of {self.window.symbol} anchor {self.window.anchor}"


def fit_job(job: FitJob) -> FittedModel:
    return fit_multi_horizon(job.features, job.labels, job.window, job.config)
