"""Resources of the model half: the MLflow store and the training settings."""

from pathlib import Path

from dagster import ConfigurableResource

from quant_assets.models.artefact import FittedModel
from quant_assets.models.config import TrainingConfig
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

    def config(self) -> TrainingConfig:
        return TrainingConfig(
            seed=self.seed, threads=self.threads, lgbm_rounds=self.lgbm_rounds, nn_epochs=self.nn_epochs, text_dropout=self.text_dropout
        )
