"""The pyfunc as "model from code": MLflow stores this file and runs it on load, instead of
unpickling an object (see https://mlflow.org/docs/latest/ml/model/models-from-code/)."""

from mlflow.models import set_model

from quant_assets.registry.pyfunc import MultiHorizonPyfunc

set_model(MultiHorizonPyfunc())
