"""How uncertain is a daily Sharpe? A 90% interval from a stationary block bootstrap over days.

Daily PnL is not independent from day to day: a 7d position is held across seven days of PnL,
so seven days are one decision, not seven. The stationary bootstrap (Politis and Romano, 1994;
``arch.bootstrap.StationaryBootstrap``) resamples blocks of consecutive days of random length
(geometric, mean ``block_days``) and keeps that dependence inside each block. The mean block
is at least the series' horizon in days and at least the cube root of the number of days (the
usual rate for a Sharpe), so a 7d series is resampled a week at a time, and the interval says
how few independent days it rests on (``independent_days`` = days / holding days, a holding
of less than a day counting as one: the bootstrap draws days).

The annualisation is the gate's (``metrics.annualised_sharpe``: mean / std (ddof 1) of daily
after-cost PnL times sqrt(365)). Seeded: the same days give the same interval, bit for bit.
:func:`sharpe_interval` is the one entry point; `quant-assets evaluate --json` and gate_verdict
both call it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from quant_assets.evaluation.deflated_sharpe import sharpe
from quant_assets.evaluation.metrics import DAYS_PER_YEAR

LEVEL = 0.90
REPLICATIONS = 1000
SEED = 20_240_901


@dataclass(frozen=True)
class SharpeInterval:
    low: float  # annualised daily Sharpe at (1 - level) / 2
    high: float  # ... at 1 - (1 - level) / 2
    block_days: int  # mean block length of the stationary bootstrap
    independent_days: float  # days / max(horizon days, 1): what the interval rests on
    level: float = LEVEL
    replications: int = REPLICATIONS

    def describe(self) -> str:
        return (
            f"{self.level:.0%} interval {self.low:.2f}..{self.high:.2f} (stationary bootstrap, mean block "
            f"{self.block_days}d, {self.independent_days:g} independent days)"
        )


def block_days(n_days: int, horizon_days: float) -> int:
    """Mean block length: at least the horizon in whole days and the cube root of the days."""
    return max(1, math.ceil(horizon_days), math.ceil(n_days ** (1.0 / 3.0)))


@lru_cache(maxsize=256)
def _indices(n_days: int, block: int, replications: int, seed: int) -> np.ndarray:
    """[replications, n_days] resampled day positions; one draw per shape, shared by every
    series of that length (the same days resampled the same way: a paired comparison).

    ``arch.bootstrap.StationaryBootstrap(block, np.arange(n_days), seed=seed).bootstrap(replications)``,
    drawn as it draws (per replication: a start for every day, then a uniform for every day,
    from ``numpy.random.default_rng(seed)``) and chained across the replications at once: the
    same positions, without arch's per-replication Python (most of a gate step's first windows)."""
    rng = np.random.default_rng(seed)
    starts, uniforms = np.empty((replications, n_days), dtype=np.int64), np.empty((replications, n_days))
    for r in range(replications):
        starts[r] = rng.integers(n_days, size=n_days, dtype=np.int64)
        uniforms[r] = rng.random(n_days)
    out = starts
    for i in range(1, n_days):  # a day continues the previous one's block (wrapping) unless a new block starts
        going_on = uniforms[:, i] > 1.0 / block
        out[going_on, i] = (out[going_on, i - 1] + 1) % n_days
    out.setflags(write=False)
    return out


def sharpe_interval(daily_pnl, horizon_days: float = 1.0, level: float = LEVEL, replications: int = REPLICATIONS, seed: int = SEED) -> SharpeInterval:
    """The ``level`` interval of the annualised Sharpe of ``daily_pnl`` (one value per day, days
    without a decision as 0). NaN bounds for fewer than 3 days: no interval to speak of."""
    return sharpe_intervals(np.asarray(daily_pnl, dtype=float).reshape(1, -1), [horizon_days], level, replications, seed)[0]


def sharpe_intervals(
    daily_pnl: np.ndarray, horizon_days: Sequence[float], level: float = LEVEL, replications: int = REPLICATIONS, seed: int = SEED
) -> list[SharpeInterval]:
    """``sharpe_interval`` of each row of ``daily_pnl`` ([series, days]; ``horizon_days`` one per
    row). The rows of one block length share one draw and are resampled in one numpy pass; each
    row's interval is the one it gets alone, bit for bit."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"Sharpe interval: level {level} must be in (0, 1)")
    if any(h <= 0 for h in horizon_days):
        raise ValueError(f"Sharpe interval: horizon of {min(horizon_days)} days must be positive")
    pnl = np.nan_to_num(np.asarray(daily_pnl, dtype=float))
    n = pnl.shape[1]
    blocks = [block_days(n, h) for h in horizon_days]
    out = [SharpeInterval(math.nan, math.nan, b, round(n / max(h, 1.0), 2), level, replications) for b, h in zip(blocks, horizon_days)]
    if n < 3:
        return out
    tail = (1.0 - level) / 2.0
    for block in sorted(set(blocks)):
        rows = [i for i, b in enumerate(blocks) if b == block]
        resampled = np.take(pnl[rows], _indices(n, block, replications, seed), axis=1)  # [rows, replications, days]
        # Each row's replications x days, transposed as one series' resample is: the same reduction order.
        sharpes = sharpe(resampled.reshape(-1, n).T).reshape(len(rows), replications) * math.sqrt(DAYS_PER_YEAR)
        low, high = np.quantile(sharpes, [tail, 1.0 - tail], axis=1)
        for j, i in enumerate(rows):
            out[i] = SharpeInterval(float(low[j]), float(high[j]), block, out[i].independent_days, level, replications)
    return out
