"""The generic MLflow face of a fitted model (``mlflow.pyfunc.load_model`` works on it).

Serving does not use it on the hot path: it loads the same artifacts natively (a LightGBM
booster on numpy is ~100x cheaper per row than pyfunc on a DataFrame). The signature is the
feature contract's inputs; the output has one column per family and horizon.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import polars as pl
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from quant_assets.features import contract
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.artefact import FAMILIES, FittedModel

# The native files sit in the logged model at artifacts/<this>; the pyfunc loads them from there.
NATIVE_DIR = "native"
# Counts are Int64 in the contract but may be missing, and pandas holds a missing integer as
# a float: MLflow's advice is to declare such columns double.
_MLFLOW_TYPES = {pl.Float64(): "double", pl.Float32(): "float", pl.Int64(): "double", pl.Boolean(): "boolean"}


def output_columns() -> list[str]:
    return [f"{family}_{h}" for family in FAMILIES for h in HORIZON_NAMES]


def signature(input_columns: list[str]) -> ModelSignature:
    """Inputs typed by the feature contract, in the model's input order (a column the contract
    lacks is described as it is, double; the model checks refuse such a model)."""
    inputs = Schema([ColSpec(_MLFLOW_TYPES[contract.COLUMNS.get(c, pl.Float64())], c, required=False) for c in input_columns])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double", c) for c in output_columns()]))


class MultiHorizonPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.model = FittedModel.load(context.artifacts[NATIVE_DIR])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pl.from_pandas(model_input[self.model.input_columns])
        predictions = self.model.predict(frame)
        return pd.DataFrame(np.hstack([predictions[f] for f in FAMILIES]), columns=output_columns())
