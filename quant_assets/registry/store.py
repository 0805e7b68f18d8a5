"""Where MLflow keeps runs, models and artifacts.

Default: a SQLite backend store and a local artifact root under ``QUANT_ASSETS_HOME/mlflow``.
A team shares one store by setting ``QUANT_ASSETS_MLFLOW_PG_URL`` (a PostgreSQL backend
store, ``postgresql+psycopg2://user@host:5432/db``, the same style as the Dagster instance's
``QUANT_ASSETS_PG_URL``) or ``QUANT_ASSETS_MLFLOW_TRACKING_URI`` (a running tracking server).
``QUANT_ASSETS_MLFLOW_ARTIFACTS`` moves the artifact root (any location MLflow can write,
e.g. ``s3://bucket/mlflow``).
"""

from __future__ import annotations

import os
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
        pg_url = os.environ.get("QUANT_ASSETS_MLFLOW_PG_URL", "")
        if pg_url and not pg_url.startswith("postgresql+psycopg2://"):
            raise ValueError(
                "QUANT_ASSETS_MLFLOW_PG_URL: expected postgresql+psycopg2://user@host:5432/db (SQLAlchemy 2.1 needs the driver)"
            )
        tracking = os.environ.get("QUANT_ASSETS_MLFLOW_TRACKING_URI") or pg_url
        local = not tracking
        if local:
            Path(home).mkdir(parents=True, exist_ok=True)
            tracking = f"sqlite:///{Path(home).resolve() / DB_FILE}"
        artifacts = os.environ.get("QUANT_ASSETS_MLFLOW_ARTIFACTS") or (Path(home).resolve() / "artifacts").as_uri()
        return cls(tracking, artifacts)
