"""Resources of the model half: the MLflow store and the training settings."""

from pathlib import Path

from dagster import ConfigurableResource

from quant_assets import settings
from quant_assets.labels.costs import cost_from_env
from quant_assets.models.artefact import FittedModel
from quant_assets.models.config import TrainingConfig
from quant_assets.models.pool import default_workers
from quant_assets.registry.store import MlflowStore
from quant_assets.registry.tracking import Tracking


class MlflowTracking(ConfigurableResource):
    """An MLflow tracking and registry store (SQLite under the home by default)."""

    tracking_uri: str
    artifact_root: str
    cache_root: str  # native model files downloaded from the store, by logged model
    ui_url: str = "http://127.0.0.1:5000"

    def tracking(self) -> Tracking:
        return Tracking(MlflowStore(self.tracking_uri, self.artifact_root))

    def load_fitted(self, tracking: Tracking, model_uri: str) -> FittedModel:
        return tracking.load_fitted(model_uri, Path(self.cache_root))

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


class ModelTraining(ConfigurableResource):
    """Training settings (fixed seeds); the fit window's length and cadence are code-location
    settings (QUANT_ASSETS_TRAIN_DAYS, QUANT_ASSETS_REFIT_DAYS) because partition mappings need them."""

    seed: int = TrainingConfig.seed
    threads: int = TrainingConfig.threads
    lgbm_rounds: int = TrainingConfig.lgbm_rounds
    nn_epochs: int = TrainingConfig.nn_epochs
    text_dropout: float = TrainingConfig.text_dropout
    cv_folds: int = TrainingConfig.cv_folds  # purged k-fold over the fit window; below 2, none
    # The k-fold at one refit anchor in this many (4 weekly refits: every fourth Monday); 1: every fit.
    cv_every: int = 4
    # Processes a step fits in (models.pool); 0: min(2, cpu count). Not a training setting:
    # a fit is the same model wherever it runs, so it is not part of the fit key.
    fit_workers: int = 0

    def workers(self) -> int:
        return self.fit_workers or default_workers()

    def config(self) -> TrainingConfig:
        """The settings, with the folds' PnL charged the one round-trip cost (QUANT_ASSETS_ROUND_TRIP_COST_BPS)."""
        if self.cv_every < 1:
            raise ValueError(f"ModelTraining.cv_every: {self.cv_every}; expected a whole number of refits >= 1 (1: every fit)")
        return TrainingConfig(
            seed=self.seed, threads=self.threads, lgbm_rounds=self.lgbm_rounds, nn_epochs=self.nn_epochs, text_dropout=self.text_dropout,
            cv_folds=self.cv_folds, cv_every_days=self.cv_every * settings.refit_days(), cv_round_trip_cost=cost_from_env().fraction,
        )  # fmt: skip
