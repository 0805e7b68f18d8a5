"""Where MLflow keeps runs, models and artifacts.

Default: a SQLite backend store and a local artifact root under ``QUANT_ASSETS_HOME/mlflow``.
A team shares one store by setting ``QUANT_ASSETS_MLFLOW_PG_URL`` (a PostgreSQL backend
store, ``postgresql+psycopg2://user@host:5432/db``, the same style as the Dagster instance's
``QUANT_ASSETS_PG_URL``) or ``QUANT_ASSETS_MLFLOW_TRACKING_URI`` (a running tracking server).
``QUANT_ASSETS_MLFLOW_ARTIFACTS`` moves the artifact root (any location MLflow can write,
e.g. ``s3://bucket/mlflow``; MLflow's S3 client finds an S3-compatible server through
``MLFLOW_S3_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from quant_assets import settings

EXPERIMENT = "quant_assets"
DB_FILE = "mlflow.db"


@dataclass(frozen=True)
class MlflowStore:
    tracking_uri: str
    artifact_root: str

    @classmethod
    def from_env(cls) -> "MlflowStore":
        home = settings.home().mlflow
        mlflow = settings.current().mlflow
        tracking = mlflow.tracking_uri or mlflow.pg_url
        local = not tracking
        if local:
            Path(home).mkdir(parents=True, exist_ok=True)
            tracking = f"sqlite:///{Path(home).resolve() / DB_FILE}"
        artifacts = mlflow.artifacts or (Path(home).resolve() / "artifacts").as_uri()
        return cls(tracking, artifacts)
