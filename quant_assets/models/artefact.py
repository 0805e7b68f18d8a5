"""A fitted multi-horizon model: both families, their window and inputs, saved as plain files.

A folder holds ``model.json`` (window, input columns, contract, training summary, metrics,
standardiser, and a reproducibility sample: a few training-window rows' decision times with
the predictions made right after the fit), one ``lgbm_<h>.txt`` per horizon (LightGBM's own
format) and ``mhnet.pt`` (the net's state dict). Serving and the checks load these natively;
MLflow stores the same folder as the registered model's artifacts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl
import torch

from quant_assets.features import contract
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.config import TrainingConfig
from quant_assets.models.dataset import design_matrix
from quant_assets.models.multihead import FittedNet, MultiHeadNet, Standardiser, text_masks
from quant_assets.models.window import FitWindow

FAMILIES = ("lgbm", "mhnet")
META_FILE = "model.json"
NET_FILE = "mhnet.pt"


def booster_file(h: str) -> str:
    return f"lgbm_{h}.txt"


@dataclass
class FittedModel:
    window: FitWindow
    input_columns: list[str]
    boosters: dict[str, lgb.Booster]
    net: FittedNet
    config: TrainingConfig
    training: dict[str, dict]  # per horizon: rows, t_max, label_available_at_max
    metrics: dict[str, float]
    contract_hash: str = contract.CONTRACT_HASH
    contract_version: str = contract.SCHEMA_VERSION
    sample: dict = field(default_factory=dict)  # {"t": [...], "predictions": {family: [[...]]}}

    # ---- prediction --------------------------------------------------------------------
    def predict_matrix(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """family -> [rows, horizons] predicted gross log returns (NaN: no booster for h)."""
        lgbm = np.full((x.shape[0], len(HORIZON_NAMES)), np.nan)
        for j, h in enumerate(HORIZON_NAMES):
            if h in self.boosters:
                lgbm[:, j] = self.boosters[h].predict(x, num_iteration=self.boosters[h].best_iteration or None)
        return {"lgbm": lgbm, "mhnet": self.net.predict(x)}

    def predict(self, features: pl.DataFrame) -> dict[str, np.ndarray]:
        return self.predict_matrix(design_matrix(features, self.input_columns))

    def record_sample(self, features: pl.DataFrame, rows: int = 8) -> None:
        """Keep a few rows' predictions, so a later load can prove it predicts the same."""
        if features.is_empty():
            return
        picks = features[np.linspace(0, features.height - 1, min(rows, features.height)).astype(int).tolist()]
        predictions = self.predict(picks)
        self.sample = {"t": [str(t) for t in picks["t"].to_list()], "predictions": {f: p.tolist() for f, p in predictions.items()}}

    # ---- files -------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for h, booster in self.boosters.items():
            booster.save_model(str(folder / booster_file(h)), num_iteration=booster.best_iteration or None)
        torch.save(self.net.net.state_dict(), folder / NET_FILE)
        meta = {
            "symbol": self.window.symbol,
            "window": {
                "anchor": self.window.anchor.isoformat(),
                "start": self.window.start.isoformat(),
                "end": self.window.end.isoformat(),
                "embargo_s": self.window.embargo.total_seconds(),
            },
            "input_columns": self.input_columns,
            "contract_hash": self.contract_hash,
            "contract_version": self.contract_version,
            "horizons": list(HORIZON_NAMES),
            "families": list(FAMILIES),
            "boosters": sorted(self.boosters),
            "config": self.config.params(),
            "training": self.training,
            "metrics": self.metrics,
            "net": {
                "mean": self.net.scaler.mean.tolist(),
                "std": self.net.scaler.std.tolist(),
                "target_scale": self.net.target_scale.tolist(),
            },
            "sample": self.sample,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))
        return folder

    @classmethod
    def load(cls, folder: Path) -> "FittedModel":
        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text())
        w = meta["window"]
        window = FitWindow(
            meta["symbol"],
            date.fromisoformat(w["anchor"]),
            datetime.fromisoformat(w["start"]),
            datetime.fromisoformat(w["end"]),
            timedelta(seconds=w["embargo_s"]),
        )
        config = TrainingConfig(**meta["config"])
        columns = meta["input_columns"]
        boosters = {h: lgb.Booster(model_file=str(folder / booster_file(h))) for h in meta["boosters"]}
        text_mask, text_features = text_masks(columns)
        net = MultiHeadNet(int((~text_mask).sum()), int(text_mask.sum()), len(meta["horizons"]), config.nn_hidden, config.nn_text_hidden)
        net.load_state_dict(torch.load(folder / NET_FILE, weights_only=True))
        fitted_net = FittedNet(
            net,
            Standardiser(np.array(meta["net"]["mean"]), np.array(meta["net"]["std"])),
            text_mask,
            text_features,
            np.array(meta["net"]["target_scale"]),
        )
        return cls(
            window, columns, boosters, fitted_net, config, meta["training"], meta["metrics"],
            meta["contract_hash"], meta["contract_version"], meta["sample"],
        )  # fmt: skip
