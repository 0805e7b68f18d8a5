"""Data halts: a symbol whose feature row cannot be trusted takes no new risk this tick.

- ``DATA_STALE_BARS``: the row's newest bar (``asof_bars``) is older than the limit at tick
  time, or there is none (the bar at ``t`` is missing);
- ``DATA_MISSING_SOURCES``: more feature sources (bars, derivatives, text) than allowed used
  no record at all (their ``asof_<source>`` is null);
- ``DATA_FEATURE_DRIFT``: the row is far from the champion's fit window: the mean |z-score| of
  its present, non-flag inputs against the standardisation the model saved at fit time.

Pure functions of the row, the clock and the model; the tick writes each halt to the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from quant_assets.features import contract

STALE_BARS = "DATA_STALE_BARS"
MISSING_SOURCES = "DATA_MISSING_SOURCES"
FEATURE_DRIFT = "DATA_FEATURE_DRIFT"


@dataclass(frozen=True)
class DataHalt:
    code: str
    detail: str


def drift(row: dict, columns: list[str], mean: np.ndarray, std: np.ndarray) -> tuple[float, list[str]]:
    """Mean |z| of the row's present feature inputs, and the three furthest features."""
    flags = set(contract.FLAG_NAMES)
    z = {}
    for i, c in enumerate(columns):
        v = row.get(c)
        if c in flags or v is None or not np.isfinite(v) or std[i] <= 0:
            continue
        z[c] = abs((float(v) - mean[i]) / std[i])
    if not z:
        return 0.0, []
    worst = sorted(z, key=z.get, reverse=True)[:3]
    return float(np.mean(list(z.values()))), [f"{c} {z[c]:.1f}" for c in worst]


def data_halts(
    row: dict,
    now: datetime,
    max_bar_age_s: float,
    max_missing_sources: int,
    max_drift: float,
    fit_window: tuple[list[str], np.ndarray, np.ndarray] | None,
) -> list[DataHalt]:
    halts = []
    newest = row.get(contract.ASOF_COLUMNS["bars"])
    if newest is None:
        halts.append(DataHalt(STALE_BARS, f"no bar closes at {row['t']:%Y-%m-%d %H:%M}"))
    elif (now - newest).total_seconds() > max_bar_age_s:
        halts.append(
            DataHalt(
                STALE_BARS,
                f"newest bar closed {newest:%Y-%m-%d %H:%M}, {(now - newest).total_seconds():.0f}s before the tick (limit {max_bar_age_s:g}s)",
            )
        )
    missing = [s for s, c in contract.ASOF_COLUMNS.items() if row.get(c) is None]
    if len(missing) > max_missing_sources:
        halts.append(DataHalt(MISSING_SOURCES, f"no record from {', '.join(missing)} (limit {max_missing_sources} missing sources)"))
    if fit_window is not None:
        score, worst = drift(row, *fit_window)
        if score > max_drift:
            halts.append(DataHalt(FEATURE_DRIFT, f"mean |z| {score:.1f} against the fit window (limit {max_drift:g}); furthest: {', '.join(worst)}"))
    return halts
