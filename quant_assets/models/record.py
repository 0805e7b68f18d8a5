"""What a model partition stores in the lake: one row saying which fit serves the day.

The fitted files live in MLflow; the row ties the partition to them (run, logged model,
registered versions) and records what the checks re-derive: the window, and per horizon
the rows used and the newest decision time and label availability among them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import polars as pl

from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.artefact import FittedModel
from quant_assets.timegrid import TS_DTYPE

MODELS_ASSET = "multi_horizon_model"

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "fit_key": pl.String(),
    "mlflow_run_id": pl.String(),
    "model_uri": pl.String(),
    "versions": pl.String(),  # JSON: horizon -> registered model version
    "fit_anchor": pl.Date(),
    "fit_start": TS_DTYPE,
    "fit_end": TS_DTYPE,
    "embargo_s": pl.Int64(),
    "contract_hash": pl.String(),
    "inputs_sha256": pl.String(),
    **{f"train_rows_{h}": pl.Int64() for h in HORIZON_NAMES},
    **{f"train_t_max_{h}": TS_DTYPE for h in HORIZON_NAMES},
    **{f"train_label_available_at_max_{h}": TS_DTYPE for h in HORIZON_NAMES},
}


def inputs_digest(hashes: dict[str, str]) -> str:
    """One hash over every input partition's content hash."""
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


def model_record(model: FittedModel, fit_key: str, run_id: str, model_uri: str, versions: dict[str, str], inputs_sha256: str) -> pl.DataFrame:
    w = model.window
    row = {
        "fit_key": fit_key,
        "mlflow_run_id": run_id,
        "model_uri": model_uri,
        "versions": json.dumps(versions, sort_keys=True),
        "fit_anchor": w.anchor,
        "fit_start": w.start,
        "fit_end": w.end,
        "embargo_s": int(w.embargo.total_seconds()),
        "contract_hash": model.contract_hash,
        "inputs_sha256": inputs_sha256,
    }
    for h in HORIZON_NAMES:
        summary = model.training.get(h, {})
        row[f"train_rows_{h}"] = int(summary.get("rows", 0))
        row[f"train_t_max_{h}"] = _utc(summary.get("t_max"))
        row[f"train_label_available_at_max_{h}"] = _utc(summary.get("label_available_at_max"))
    return pl.DataFrame([row], schema=RECORD_SCHEMA)


def _utc(stamp: str | None) -> datetime | None:
    """A training summary's naive UTC stamp (numpy's ISO form) as an aware datetime."""
    return datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc) if stamp else None
