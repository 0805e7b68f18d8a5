"""The pooled pyfunc as "model from code" (like ``pyfunc_model``)."""

from mlflow.models import set_model

from quant_assets.registry.pooled import PooledPyfunc

set_model(PooledPyfunc())
