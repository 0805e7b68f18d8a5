"""Which fits a run needs: the run's (day, symbol) partitions grouped by cadence anchor."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from quant_assets.models.config import TrainingConfig
from quant_assets.models.window import FitWindow, fit_window
from quant_assets.partitions import DaySymbol


@dataclass
class PlannedFit:
    window: FitWindow
    serves: list[DaySymbol]  # the model partitions this fit serves in the run

    @property
    def input_parts(self) -> list[DaySymbol]:
        return [DaySymbol(d, self.window.symbol) for d in self.window.days]


def plan_fits(parts: list[DaySymbol], train_days: int, refit_days: int) -> list[PlannedFit]:
    """One fit per (symbol, anchor), however many of its days the run covers."""
    fits: dict[tuple[str, object], PlannedFit] = {}
    for part in sorted(parts):
        window = fit_window(part.day, part.symbol, train_days, refit_days)
        key = (part.symbol, window.anchor)
        if key not in fits:
            fits[key] = PlannedFit(window, [])
        fits[key].serves.append(part)
    return list(fits.values())


def fit_key(window: FitWindow, config: TrainingConfig, contract_hash: str, inputs_sha256: str, code_version: str) -> str:
    """Same window, inputs, settings and code: the same fit (logged once, reused after)."""
    spec = {
        "window": window.describe(),
        "symbol": window.symbol,
        "config": config.params(),
        "contract": contract_hash,
        "inputs": inputs_sha256,
        "code": code_version,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]
