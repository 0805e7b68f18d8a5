"""Walk-forward sub-windows: is the edge there in most of the window, not in one lucky run?

A daily PnL frame (``day`` plus one column per series: the strategy and each baseline,
as ``metrics.daily_pnl`` gives them) is cut into K contiguous sub-windows of as equal a
number of days as can be; each gets the annualised daily Sharpe of every series. A day
on which a series had no evaluable decision counts as a flat day (0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from quant_assets.evaluation.metrics import annualised_sharpe
from quant_assets.evaluation.strategy import BASELINES, STRATEGY

DEFAULT_WINDOWS = 4


def window_sharpes(daily: pl.DataFrame, series: Sequence[str] = (STRATEGY, *BASELINES), k: int = DEFAULT_WINDOWS) -> pl.DataFrame:
    """One row per sub-window: ``window``, ``start``, ``end``, ``days`` and a Sharpe per series."""
    missing = [c for c in ("day", *series) if c not in daily.columns]
    if missing:
        raise ValueError(f"walk-forward: column(s) {', '.join(missing)} missing from the daily PnL frame")
    if not 1 <= k <= daily.height // 2:
        raise ValueError(f"walk-forward: {k} sub-windows need at least {2 * k} days, got {daily.height}")
    daily = daily.sort("day")
    rows = []
    for i, idx in enumerate(np.array_split(np.arange(daily.height), k)):
        part = daily[int(idx[0]) : int(idx[-1]) + 1]
        rows.append({"window": i, "start": part["day"][0], "end": part["day"][-1], "days": part.height}
                    | {s: annualised_sharpe(part[s].fill_null(0.0).to_numpy()) for s in series})
    return pl.DataFrame(rows)


def beats_baselines(windows: pl.DataFrame, strategy: str = STRATEGY, baselines: Sequence[str] = BASELINES) -> int:
    """Sub-windows in which the strategy's Sharpe is strictly above every baseline's."""
    best_baseline = windows.select(pl.max_horizontal(baselines)).to_series()
    return int((windows[strategy] > best_baseline).sum())
