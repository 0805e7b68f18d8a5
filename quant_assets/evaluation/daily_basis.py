"""The one daily basis every Sharpe of the project is judged on: after-cost PnL summed per
decision day (``metrics.daily_pnl``), 0 on a calendar day of the span without an evaluable
decision (a day flat or unevaluated is a day earning nothing, not a day that did not happen),
annualised by sqrt(365) (``metrics.annualised_sharpe``). gate_verdict books its window on it
(``gate_window.daily_by_series``, zero-filled over the evidence days) and the purged k-fold
books each test fold on it, so the two Sharpes are comparable."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from quant_assets.evaluation.metrics import annualised_sharpe, daily_pnl, decision_day


def zero_filled(evaluated: pl.DataFrame) -> np.ndarray:
    """Daily PnL of ``evaluated`` (a strategy run) over every calendar day from its first
    row's decision day to its last's, 0 where a day has no evaluable decision."""
    if evaluated.is_empty():
        return np.zeros(0)
    first, last = evaluated.select(decision_day().min().alias("a"), decision_day().max().alias("b")).row(0)
    days = pl.DataFrame({"day": [first + timedelta(days=i) for i in range((last - first).days + 1)]}, schema={"day": pl.Date()})
    return days.join(daily_pnl(evaluated), on="day", how="left")["pnl"].fill_null(0.0).to_numpy()


def daily_sharpe(evaluated: pl.DataFrame) -> float:
    """The annualised Sharpe of ``zero_filled(evaluated)``."""
    return annualised_sharpe(zero_filled(evaluated))
