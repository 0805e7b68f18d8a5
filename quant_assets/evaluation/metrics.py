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
    return _known_pairs(prediction.cast(pl.Float64).to_numpy(), label.cast(pl.Float64).to_numpy())


def _known_pairs(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(p) & np.isfinite(y)
    return p[keep], y[keep]


def rank_ic(prediction: pl.Series, label: pl.Series) -> float:
    return _rank_ic(*_both_known(prediction, label))


def _rank_ic(p: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho of known pairs: Pearson of their average ranks, exactly as
    ``scipy.stats.spearmanr`` computes its statistic (the same ranks through the same
    ``np.corrcoef``), without its p-value and checks, a tenth of its cost."""
    # Spearman is undefined on fewer than 3 pairs or a constant side.
    if p.size < 3 or np.ptp(p) == 0 or np.ptp(y) == 0:
        return math.nan
    ranked = np.empty((2, p.size))
    ranked[0], ranked[1] = _average_ranks(p), _average_ranks(y)
    return float(np.corrcoef(ranked)[1, 0])


def _ordinal_ranks(x: np.ndarray) -> np.ndarray:
    """0-based rank of each value, ties in order of appearance (``rankdata(x, "ordinal") - 1``)."""
    rank = np.empty(x.size, dtype=np.int64)
    rank[np.argsort(x, kind="stable")] = np.arange(x.size)
    return rank


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (``scipy.stats.rankdata``'s default and
    its arithmetic; its array-API checks cost ten times the ranking on a day's series)."""
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    new = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    dense = np.empty(x.size, dtype=np.int64)
    dense[order] = np.cumsum(new)
    ends = np.concatenate([np.flatnonzero(new), [x.size]])
    return 0.5 * (ends[dense] + ends[dense - 1] + 1)


def hit_rate(prediction: pl.Series, label: pl.Series) -> float:
    return _hit_rate(*_both_known(prediction, label))


def _hit_rate(p: np.ndarray, y: np.ndarray) -> float:
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


CALIBRATION_SCHEMA = {"bucket": pl.Int64, "rows": pl.UInt32, "predicted": pl.Float64, "realised": pl.Float64}


def calibration(prediction: pl.Series, label: pl.Series, buckets: int = CALIBRATION_BUCKETS) -> pl.DataFrame:
    """Per prediction-quantile bucket: rows, mean predicted, mean realised (rank buckets,
    so ties and few distinct predictions never make an empty or duplicate edge)."""
    return pl.DataFrame(_calibrations([_both_known(prediction, label)], buckets)[0], schema=CALIBRATION_SCHEMA)


def _calibrations(pairs: Sequence[tuple[np.ndarray, np.ndarray]], buckets: int = CALIBRATION_BUCKETS) -> list[list[dict]]:
    """``calibration``'s rows for each (known predictions, labels) pair, in one pass. The
    means add each bucket's values in time order (``np.bincount``), so they are the same
    bits whatever the thread count (a polars group-by's are not)."""
    keys, ps, ys = [], [], []
    for i, (p, y) in enumerate(pairs):
        if p.size:
            keys.append(i * buckets + _ordinal_ranks(p) * buckets // p.size)
            ps.append(p)
            ys.append(y)
    out = [[] for _ in pairs]
    if not keys:
        return out
    key = np.concatenate(keys)
    size = len(pairs) * buckets
    rows = np.bincount(key, minlength=size)
    predicted = np.bincount(key, weights=np.concatenate(ps), minlength=size)
    realised = np.bincount(key, weights=np.concatenate(ys), minlength=size)
    for k in np.flatnonzero(rows).tolist():
        n = int(rows[k])
        out[k // buckets].append({"bucket": k % buckets, "rows": n, "predicted": float(predicted[k] / n), "realised": float(realised[k] / n)})
    return out


def series_figures(evaluated: pl.DataFrame) -> dict:
    """Every figure of one evaluated series, time-ordered (see the module docstring)."""
    frame = evaluated.sort("t", maintain_order=True)
    return _Series(frame).figures(0, frame.height)


def summarise(evaluated: pl.DataFrame, by: Sequence[str] = ("family", "horizon")) -> dict[tuple, dict]:
    """Figures and calibration per group (default per (family, horizon)), in the groups'
    order; each group is one evaluated series, e.g. one model family's reference strategy
    on one horizon. The frame is sorted and converted once; every group's figures come
    from its slice (a day's 33 series in a few ms, where a frame per series cost ~100)."""
    keys = list(by)
    frame = evaluated.sort([*keys, "t"], maintain_order=True)
    if frame.is_empty():
        return {}
    ids = frame.select(pl.struct(keys).rle_id()).to_series().to_numpy()
    bounds = [0, *(np.flatnonzero(np.diff(ids)) + 1).tolist(), frame.height]
    spans = list(zip(bounds[:-1], bounds[1:]))
    series = _Series(frame)
    names = frame.select(keys)[bounds[:-1]].rows()
    out = {name: series.figures(lo, hi) for name, (lo, hi) in zip(names, spans)}
    if series.p is not None:
        tables = _calibrations([_known_pairs(series.p[lo:hi], series.y[lo:hi]) for lo, hi in spans])
        for figures, table in zip(out.values(), tables):
            figures["calibration"] = table
    return out


class _Series:
    """The columns the figures read, converted once for a frame sorted by series and ``t``;
    ``figures(lo, hi)`` are those of the series in rows ``lo:hi``, computed as each figure's
    definition says, on the same values in the same order as on that series alone."""

    def __init__(self, frame: pl.DataFrame):
        self.frame = frame
        evaluable = frame["evaluable"].fill_null(False)
        self.evaluable = evaluable.to_numpy()
        self.first_decision = np.concatenate([[0], np.cumsum(self.evaluable)])  # decisions before row i
        self.decision_pnl = frame["pnl"].filter(evaluable)  # polars sums, as a series' own
        self.decision_pnl_np = self.decision_pnl.to_numpy()
        self.trade_size = frame["trade_size"]
        self.trade_size_np = self.trade_size.to_numpy()
        self.position = frame["position"].to_numpy()
        self.exit_cost = frame["exit_cost"].to_numpy() if "exit_cost" in frame.columns else None
        self.day = frame.select(decision_day()).to_series().to_physical().to_numpy()
        with_prediction = "prediction" in frame.columns
        self.p = frame["prediction"].cast(pl.Float64).to_numpy() if with_prediction else None
        self.y = frame["label"].cast(pl.Float64).to_numpy() if with_prediction else None

    def figures(self, lo: int, hi: int) -> dict:
        d0, d1 = self.first_decision[lo], self.first_decision[hi]
        decisions = self.decision_pnl_np[d0:d1]
        days = int(np.count_nonzero(np.diff(self.day[lo:hi]))) + 1 if hi > lo else 0
        pairs = _known_pairs(self.p[lo:hi], self.y[lo:hi]) if self.p is not None else None
        return {
            "rows": hi - lo,
            "decisions": int(d1 - d0),
            "rank_ic": _rank_ic(*pairs) if pairs else math.nan,
            "hit_rate": _hit_rate(*pairs) if pairs else math.nan,
            "pnl": float(self.decision_pnl.slice(d0, d1 - d0).sum()),
            "turnover": float(self.trade_size.slice(lo, hi - lo).sum()) / days if days else math.nan,
            "trades": int((self.trade_size_np[lo:hi] > TRADE_EPS).sum()),
            "final_position": float(self.position[hi - 1]) if hi > lo else math.nan,
            "exit_cost": float(self.exit_cost[hi - 1]) if hi > lo and self.exit_cost is not None else math.nan,
            "max_drawdown": max_drawdown(decisions),
            # a series of one day has no daily Sharpe (``annualised_sharpe`` of one number)
            "daily_sharpe": annualised_sharpe(daily_pnl(self.frame.slice(lo, hi - lo))["pnl"].to_numpy()) if days > 1 else math.nan,
        }
