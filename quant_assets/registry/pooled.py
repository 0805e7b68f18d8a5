"""The pooled family in MLflow: each pooled fit is one run of the ``quant_assets`` experiment
(tagged ``family=lgbm_pooled``, no ``symbol`` tag: it is no symbol's configuration), its model
a pyfunc with the pooled inputs' signature, registered as a version of
``quant_assets_pooled.<horizon>`` (not ``quant_assets.<...>``: those names are one symbol's
each, which ``model status`` and serving list and parse). No alias is set on these names: ``challenger`` follows the
family serving trades (``QUANT_ASSETS_SERVING_FAMILY``), and serving the pooled family (which
needs the whole universe's rows at each decision) is not built.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import mlflow
import pandas as pd
import polars as pl
from mlflow.entities import Metric, Param, RunTag
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from quant_assets.features import contract
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.pooled import POOLED, POOLED_FAMILY, PooledModel
from quant_assets.registry.names import PREFIX
from quant_assets.registry.pyfunc import NATIVE_DIR
from quant_assets.registry.tracking import FIT_KEY_TAG, LoggedFit, Tracking, log_pyfunc

PYFUNC_CODE = Path(__file__).with_name("pooled_pyfunc_model.py")
_TYPES = {pl.Float32(): "float", pl.Boolean(): "boolean"}


def pooled_name(horizon: str) -> str:
    return f"{PREFIX}_{POOLED}.{horizon}"


def output_columns() -> list[str]:
    return [f"{POOLED_FAMILY}_{h}" for h in HORIZON_NAMES]


def signature(columns: list[str]) -> ModelSignature:
    """The pooled inputs (contract columns typed as the contract says, counts double; ranks and
    the symbol code double), one output per horizon."""
    inputs = Schema([ColSpec(_TYPES.get(contract.COLUMNS.get(c, pl.Float64()), "double"), c, required=False) for c in columns])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double", c) for c in output_columns()]))


class PooledPyfunc(mlflow.pyfunc.PythonModel):
    """Predicts from rows that already carry the ranks and the symbol code."""

    def load_context(self, context) -> None:
        self.model = PooledModel.load(context.artifacts[NATIVE_DIR])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return pd.DataFrame(self.model.predict_rows(pl.from_pandas(model_input[self.model.columns])), columns=output_columns())


def log_pooled(tracking: Tracking, model: PooledModel, fit_key: str, params: dict, tags: dict[str, str]) -> LoggedFit:
    """One run, one logged model, one version per horizon (``find_fit`` finds it by ``fit_key``)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = model.save(Path(tmp) / NATIVE_DIR)
        with mlflow.start_run(experiment_id=tracking.experiment_id, run_name=f"{POOLED_FAMILY} {model.window.anchor}") as run:
            info = log_pyfunc(PYFUNC_CODE, folder, signature(model.columns))
            versions = {}
            for h in HORIZON_NAMES:
                name = pooled_name(h)
                tracking.ensure_registered(
                    name, {"family": POOLED_FAMILY, "horizon": h},
                    f"{POOLED_FAMILY}: one LightGBM over the universe, predicted gross forward log return over {h}. No aliases: not served.",
                )  # fmt: skip
                mv = tracking.client.create_model_version(name, info.model_uri, run_id=run.info.run_id, tags={"horizon": h, FIT_KEY_TAG: fit_key})
                versions[h] = str(mv.version)
            # One write for the run's parameters, metrics and tags (each fluent call is a transaction).
            tags = {**tags, FIT_KEY_TAG: fit_key, "family": POOLED_FAMILY, "quant_assets.versions": json.dumps(versions),
                    "quant_assets.model_uri": info.model_uri}  # fmt: skip
            now = int(time.time() * 1000)
            figures = {k: float(v) for k, v in model.metrics.items() if v == v}
            tracking.client.log_batch(
                run.info.run_id,
                # the run's metrics, and the same linked to the logged model (as tracking.fit_metrics does)
                metrics=[Metric(k, v, now, 0, model_id=m) for m in (None, info.model_id) for k, v in figures.items()],
                params=[Param(k, str(v)) for k, v in params.items()],
                tags=[RunTag(k, str(v)) for k, v in tags.items()],
            )
    return LoggedFit(run.info.run_id, info.model_uri, versions)


def load_pooled(tracking: Tracking, model_uri: str, cache_root: Path) -> PooledModel:
    """The native pooled model behind a logged model, downloaded once into ``cache_root``."""
    return PooledModel.load(tracking.native_folder(model_uri, cache_root))
