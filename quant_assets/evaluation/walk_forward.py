"""Walk-forward sub-windows: is the edge there in most of the window, not in one lucky run?

A daily PnL frame (``day`` plus one column per series: the strategy and each baseline,
as ``metrics.daily_pnl`` gives them) is cut into K contiguous sub-windows of as equal a
number of days as can be; each gets the annualised daily Sharpe of every series. A day
on which a series had no evaluable decision counts as a flat day (0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from quant_assets.evaluation.metrics import DAYS_PER_YEAR
from quant_assets.evaluation.strategy import BASELINES, STRATEGY

DEFAULT_WINDOWS = 4


def window_sharpes(daily: pl.DataFrame, series: Sequence[str] = (STRATEGY, *BASELINES), k: int = DEFAULT_WINDOWS) -> pl.DataFrame:
    """One row per sub-window: ``window``, ``start``, ``end``, ``days`` and a Sharpe per series."""
    missing = [c for c in ("day", *series) if c not in daily.columns]
    if missing:
        raise ValueError(f"walk-forward: column(s) {', '.join(missing)} missing from the daily PnL frame")
    daily = daily.sort("day")
    bounds = window_bounds(daily.height, k)
    sharpes = sub_window_sharpes(np.stack([daily[s].fill_null(0.0).to_numpy() for s in series]), k)
    days = daily["day"]
    return pl.DataFrame([
        {"window": i, "start": days[a], "end": days[b - 1], "days": b - a} | {s: float(sharpes[j, i]) for j, s in enumerate(series)}
        for i, (a, b) in enumerate(bounds)
    ])  # fmt: skip


def window_bounds(days: int, k: int) -> list[tuple[int, int]]:
    """[start, end) of each of the ``k`` contiguous sub-windows of ``days`` days."""
    if not 1 <= k <= days // 2:
        raise ValueError(f"walk-forward: {k} sub-windows need at least {2 * k} days, got {days}")
    return [(int(idx[0]), int(idx[-1]) + 1) for idx in np.array_split(np.arange(days), k)]


def sub_window_sharpes(daily: np.ndarray, k: int = DEFAULT_WINDOWS) -> np.ndarray:
    """[series, window]: the annualised Sharpe (``metrics.annualised_sharpe``) of each row of
    ``daily`` ([series, days] of daily PnL) in each sub-window, all rows at once."""
    return np.stack([annualised_sharpes(daily[:, a:b]) for a, b in window_bounds(daily.shape[1], k)], axis=1)


def annualised_sharpes(daily: np.ndarray) -> np.ndarray:
    """``metrics.annualised_sharpe`` of each row of ``daily``, each as it is of the row alone."""
    if daily.shape[1] < 2:
        return np.full(daily.shape[0], math.nan)
    mean, sd = daily.mean(axis=1), daily.std(axis=1, ddof=1)
    with np.errstate(all="ignore"):
        ratio = mean / sd * math.sqrt(DAYS_PER_YEAR)
    flat = np.where(mean == 0, 0.0, np.copysign(math.inf, mean))
    return np.where(sd == 0, flat, ratio)


def beats_baselines(windows: pl.DataFrame, strategy: str = STRATEGY, baselines: Sequence[str] = BASELINES) -> int:
    """Sub-windows in which the strategy's Sharpe is strictly above every baseline's."""
    return int(windows_beaten(windows[strategy].to_numpy()[None, :], windows.select(baselines).to_numpy().T[None, :, :])[0])


def windows_beaten(strategy: np.ndarray, baselines: np.ndarray) -> np.ndarray:
    """Per series, the sub-windows its Sharpe (``strategy``: [series, window]) is strictly above
    every baseline's (``baselines``: [series, baseline, window]). A NaN baseline is ignored and
    a NaN Sharpe tops any number, as polars orders them."""
    best = np.fmax.reduce(baselines, axis=1)
    above = (strategy > best) | (np.isnan(strategy) & ~np.isnan(best))
    return above.sum(axis=1)
