"""Figures of one evaluated series (the output of ``strategy.simulate``), and their summary.

Definitions:

- rank IC: Spearman correlation of prediction and label over every row where both are
  known (all 5m rows, not only decisions: it measures the ranking, not the trading);
- hit rate: share of those rows, excluding zero predictions and zero labels, where the
  prediction has the label's sign;
- PnL: sum of after-cost decision PnL (log-return units);
- turnover: sum of |change of position| per decision day with rows (1.0 = one notional);
- trades: rows where the position changed, against the row before or, on a span's first
  row, the position carried in (one continuous book: holding over midnight is no trade);
- final position and exit cost: the position held at the span's last row, marked (its PnL
  to there is booked), and what closing it would cost (``exit_cost``), stated, not charged;
- max drawdown: largest fall of equity exp(cumulative PnL) from its running peak, as a
  fraction of the peak, with equity starting at 1;
- daily Sharpe: mean / std (ddof 1) of daily PnL sums, annualised by sqrt(365) because
  crypto trades every day. PnL is booked on its decision's day: the UTC day of the bar
  that closes at ``t`` (so ``t`` = D+1 00:00, day D's last row, counts for day D, as in
  the feature_matrix partitions);
- calibration: rows bucketed by prediction quantile; mean predicted vs mean realised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import stats

from quant_assets.evaluation.strategy import TRADE_EPS
from quant_assets.timegrid import BAR

DAYS_PER_YEAR = 365
CALIBRATION_BUCKETS = 5


def _both_known(prediction: pl.Series, label: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    p = prediction.cast(pl.Float64).to_numpy()
    y = label.cast(pl.Float64).to_numpy()
    keep = np.isfinite(p) & np.isfinite(y)
    return p[keep], y[keep]


def rank_ic(prediction: pl.Series, label: pl.Series) -> float:
    p, y = _both_known(prediction, label)
    # Spearman is undefined on fewer than 3 pairs or a constant side.
    if p.size < 3 or np.ptp(p) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(stats.spearmanr(p, y).statistic)


def hit_rate(prediction: pl.Series, label: pl.Series) -> float:
    p, y = _both_known(prediction, label)
    called = (p != 0) & (y != 0)
    return float(np.mean(np.sign(p[called]) == np.sign(y[called]))) if called.any() else math.nan


def decision_day() -> pl.Expr:
    """The day a row at ``t`` belongs to: that of the bar closing at ``t``."""
    return (pl.col("t") - BAR).dt.date()


def daily_pnl(evaluated: pl.DataFrame) -> pl.DataFrame:
    """``day``, ``pnl``: after-cost PnL summed per decision day of the evaluable decisions."""
    return (
        evaluated.filter(pl.col("evaluable"))
        .group_by(day=decision_day())
        .agg(pnl=pl.col("pnl").sum())
        .sort("day")
    )


def annualised_sharpe(daily: np.ndarray) -> float:
    """mean / std * sqrt(365) of daily PnL; 0 for a series that never moves (flat)."""
    daily = np.asarray(daily, dtype=float)
    if daily.size < 2:
        return math.nan
    sd = daily.std(ddof=1)
    if sd == 0:
        return 0.0 if daily.mean() == 0 else math.copysign(math.inf, daily.mean())
    return float(daily.mean() / sd * math.sqrt(DAYS_PER_YEAR))


def max_drawdown(pnl: np.ndarray) -> float:
    """Largest fractional fall of exp(cumsum(pnl)) from its running peak (start at 1)."""
    log_equity = np.concatenate([[0.0], np.cumsum(np.nan_to_num(np.asarray(pnl, dtype=float)))])
    fall = np.maximum.accumulate(log_equity) - log_equity
    return float(1.0 - math.exp(-fall.max()))


def calibration(prediction: pl.Series, label: pl.Series, buckets: int = CALIBRATION_BUCKETS) -> pl.DataFrame:
    """Per prediction-quantile bucket: rows, mean predicted, mean realised (rank buckets,
    so ties and few distinct predictions never make an empty or duplicate edge)."""
    p, y = _both_known(prediction, label)
    if p.size == 0:
        return pl.DataFrame(schema={"bucket": pl.Int64, "rows": pl.UInt32, "predicted": pl.Float64, "realised": pl.Float64})
    rank = stats.rankdata(p, method="ordinal") - 1
    bucket = rank * buckets // p.size
    return (
        pl.DataFrame({"bucket": bucket.astype(np.int64), "p": p, "y": y})
        .group_by("bucket")
        .agg(rows=pl.len(), predicted=pl.col("p").mean(), realised=pl.col("y").mean())
        .sort("bucket")
    )


def series_figures(evaluated: pl.DataFrame) -> dict:
    """Every figure of one evaluated series, time-ordered (see the module docstring)."""
    decisions = evaluated.filter(pl.col("evaluable")).sort("t")
    days = evaluated.select(decision_day().n_unique()).item()
    turnover = float(evaluated["trade_size"].sum())
    return {
        "rows": evaluated.height,
        "decisions": decisions.height,
        "rank_ic": rank_ic(evaluated["prediction"], evaluated["label"]) if "prediction" in evaluated.columns else math.nan,
        "hit_rate": hit_rate(evaluated["prediction"], evaluated["label"]) if "prediction" in evaluated.columns else math.nan,
        "pnl": float(decisions["pnl"].sum()),
        "turnover": turnover / days if days else math.nan,
        "trades": int((evaluated["trade_size"] > TRADE_EPS).sum()),
        "final_position": float(evaluated["position"][-1]) if evaluated.height else math.nan,
        "exit_cost": float(evaluated["exit_cost"][-1]) if evaluated.height and "exit_cost" in evaluated.columns else math.nan,
        "max_drawdown": max_drawdown(decisions["pnl"].to_numpy()),
        "daily_sharpe": annualised_sharpe(daily_pnl(evaluated)["pnl"].to_numpy()),
    }


def summarise(evaluated: pl.DataFrame, by: Sequence[str] = ("family", "horizon")) -> dict[tuple, dict]:
    """Figures and calibration per group (default per (family, horizon)); each group is
    one evaluated series, e.g. one model family's reference strategy on one horizon."""
    out: dict[tuple, dict] = {}
    for key, group in evaluated.sort("t").group_by(list(by), maintain_order=True):
        figures = series_figures(group)
        if "prediction" in group.columns:
            figures["calibration"] = calibration(group["prediction"], group["label"]).to_dicts()
        out[tuple(key)] = figures
    return out
