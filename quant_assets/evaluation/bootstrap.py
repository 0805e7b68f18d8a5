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
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from arch.bootstrap import StationaryBootstrap

from quant_assets.evaluation.deflated_sharpe import sharpe
from quant_assets.evaluation.metrics import DAYS_PER_YEAR

LEVEL = 0.90
REPLICATIONS = 1000
SEED = 20_240_901


@dataclass(frozen=True)
class SharpeInterval:
    low: float                      # annualised daily Sharpe at (1 - level) / 2
    high: float                     # ... at 1 - (1 - level) / 2
    block_days: int                 # mean block length of the stationary bootstrap
    independent_days: float         # days / max(horizon days, 1): what the interval rests on
    level: float = LEVEL
    replications: int = REPLICATIONS

    def describe(self) -> str:
        return (f"{self.level:.0%} interval {self.low:.2f}..{self.high:.2f} (stationary bootstrap, mean block "
                f"{self.block_days}d, {self.independent_days:g} independent days)")


def block_days(n_days: int, horizon_days: float) -> int:
    """Mean block length: at least the horizon in whole days and the cube root of the days."""
    return max(1, math.ceil(horizon_days), math.ceil(n_days ** (1.0 / 3.0)))


@lru_cache(maxsize=64)
def _indices(n_days: int, block: int, replications: int, seed: int) -> np.ndarray:
    """[replications, n_days] resampled day positions; one draw per shape, shared by every
    series of that length (the same days resampled the same way: a paired comparison)."""
    bs = StationaryBootstrap(block, np.arange(n_days), seed=seed)
    out = np.stack([data[0][0] for data in bs.bootstrap(replications)])
    out.setflags(write=False)
    return out


def sharpe_interval(
    daily_pnl, horizon_days: float = 1.0, level: float = LEVEL, replications: int = REPLICATIONS, seed: int = SEED
) -> SharpeInterval:
    """The ``level`` interval of the annualised Sharpe of ``daily_pnl`` (one value per day, days
    without a decision as 0). NaN bounds for fewer than 3 days: no interval to speak of."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"Sharpe interval: level {level} must be in (0, 1)")
    if horizon_days <= 0:
        raise ValueError(f"Sharpe interval: horizon of {horizon_days} days must be positive")
    pnl = np.nan_to_num(np.asarray(daily_pnl, dtype=float))
    n = pnl.size
    block = block_days(n, horizon_days)
    decisions = round(n / max(horizon_days, 1.0), 2)
    if n < 3:
        return SharpeInterval(math.nan, math.nan, block, decisions, level, replications)
    resampled = pnl[_indices(n, block, replications, seed)]  # [replications, days]
    sharpes = sharpe(resampled.T) * math.sqrt(DAYS_PER_YEAR)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(sharpes, [tail, 1.0 - tail])
    return SharpeInterval(float(low), float(high), block, decisions, level, replications)
