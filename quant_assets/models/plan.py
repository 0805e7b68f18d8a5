"""Which fits a run needs: the run's (day, symbol) partitions grouped by cadence anchor."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from quant_assets import settings
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


# The code a fit depends on: change any of it and earlier fits are no longer reused. Whole
# packages, and the modules of others that decide what a fit stores: the feature contract
# (which columns are a source's, hence the ablations' inputs) and the evaluation modules the
# purged k-fold runs (fold split, reference strategy, metrics and their daily basis, oos_eval's
# trailing inputs).
FIT_CODE = (
    "models", "labels", "registry", "features/contract.py",
    "evaluation/purged_kfold.py", "evaluation/strategy.py", "evaluation/metrics.py", "evaluation/daily_basis.py", "evaluation/oos.py",
)  # fmt: skip


PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # FIT_CODE's entries are relative to it


def fit_code_files() -> list[Path]:
    """The source files of ``FIT_CODE``: a package's ``*.py``, or the module named."""
    return settings.source_files(PACKAGE_ROOT, FIT_CODE)


@functools.cache
def code_digest() -> str:
    """SHA-256 over the source of ``fit_code_files`` (committed or not)."""
    return settings.source_digest(PACKAGE_ROOT, FIT_CODE)


def fit_key(window: FitWindow, config: TrainingConfig, contract_hash: str, inputs_sha256: str, code_version: str) -> str:
    """Same window, inputs, settings and code: the same fit (logged once, reused after).

    ``code_version`` is :func:`code_digest`, not a git commit: uncommitted edits count.
    """
    spec = {
        "window": window.describe(),
        "symbol": window.symbol,
        "config": config.params(),
        "contract": contract_hash,
        "inputs": inputs_sha256,
        "code": code_version,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]
