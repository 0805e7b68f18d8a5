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
    return float(_rank_ics(*_one_group(*_both_known(prediction, label)))[0])


def hit_rate(prediction: pl.Series, label: pl.Series) -> float:
    return float(_hit_rates(*_one_group(*_both_known(prediction, label)))[0])


def _one_group(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    return p, y, np.zeros(p.size, dtype=np.int64), 1


def _rank_ics(p: np.ndarray, y: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """Spearman's rho of each group's known pairs (``group[i]``: pair i's group): Pearson of
    their average ranks in ``np.corrcoef``'s arithmetic, which is how ``scipy.stats.spearmanr``
    computes it. Centred average ranks are multiples of 1/2, so their sums of products are
    exact in any order (below ~10^5 pairs a group): the same bits as spearmanr, every
    group at once."""
    n = np.bincount(group, minlength=groups)
    centre = ((n + 1) / 2)[group]  # the mean of average ranks, exactly
    dp, dy = _average_ranks(p, group, n) - centre, _average_ranks(y, group, n) - centre
    spp, syy = np.bincount(group, dp * dp, groups), np.bincount(group, dy * dy, groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 1.0 / (n - 1)  # np.cov: c *= 1 / (n - ddof)
        sd_p, sd_y = np.sqrt(spp * scale), np.sqrt(syy * scale)
        rho = np.clip(np.bincount(group, dp * dy, groups) * scale / sd_y / sd_p, -1.0, 1.0)
    # Spearman is undefined on fewer than 3 pairs or a constant side (all ranks equal).
    return np.where((n < 3) | (spp == 0) | (syy == 0), math.nan, rho)


def _hit_rates(p: np.ndarray, y: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    called = (p != 0) & (y != 0)
    calls = np.bincount(group, called, groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(calls > 0, np.bincount(group, called & (np.sign(p) == np.sign(y)), groups) / calls, math.nan)


def _sorted_in_groups(x: np.ndarray, group: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts ``x`` within each group (ties in order of appearance), and each
    sorted element's 0-based position within its group."""
    order = np.lexsort((x, group))
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    return order, np.arange(x.size) - starts[group[order]]


def _ordinal_ranks(x: np.ndarray, group: np.ndarray, n: np.ndarray) -> np.ndarray:
    """0-based rank of each value within its group, ties in order of appearance
    (``rankdata(x, "ordinal") - 1`` per group)."""
    order, position = _sorted_in_groups(x, group, n)
    rank = np.empty(x.size, dtype=np.int64)
    rank[order] = position
    return rank


def _average_ranks(x: np.ndarray, group: np.ndarray, n: np.ndarray) -> np.ndarray:
    """1-based ranks within each group, ties sharing their mean rank (``scipy.stats.rankdata``'s
    default, and its arithmetic: 0.5 * (first + last), exact)."""
    if x.size == 0:  # no known pair at all (a series whose labels are all still unknown)
        return np.empty(0)
    order, position = _sorted_in_groups(x, group, n)
    ordered, in_group = x[order], group[order]
    new = np.ones(x.size, dtype=bool)  # a tie starts here (in sorted order)
    new[1:] = (ordered[1:] != ordered[:-1]) | (in_group[1:] != in_group[:-1])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], x.size) - 1
    rank = np.empty(x.size)
    rank[order] = (0.5 * (position[starts] + position[ends] + 2))[np.cumsum(new) - 1]
    return rank


def decision_day() -> pl.Expr:
    """The day a row at ``t`` belongs to: that of the bar closing at ``t``."""
    return (pl.col("t") - BAR).dt.date()


def daily_pnl(evaluated: pl.DataFrame) -> pl.DataFrame:
    """``day``, ``pnl``: after-cost PnL summed per decision day of the evaluable decisions."""
    return evaluated.filter(pl.col("evaluable")).group_by(day=decision_day()).agg(pnl=pl.col("pnl").sum()).sort("day")


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
    return _max_drawdown(np.nan_to_num(np.asarray(pnl, dtype=float)))


def _max_drawdown(pnl: np.ndarray) -> float:
    """``max_drawdown`` of PnL without NaN: the peak of the log equity 0, c1, c2, ... at c_i
    is max(0, c1..c_i), and the fall from the start is 0."""
    if pnl.size == 0:
        return 0.0
    log_equity = np.cumsum(pnl)
    fall = np.maximum(np.maximum.accumulate(log_equity), 0.0) - log_equity
    return float(1.0 - math.exp(-max(fall.max(), 0.0)))


CALIBRATION_SCHEMA = {"bucket": pl.Int64, "rows": pl.UInt32, "predicted": pl.Float64, "realised": pl.Float64}


def calibration(prediction: pl.Series, label: pl.Series, buckets: int = CALIBRATION_BUCKETS) -> pl.DataFrame:
    """Per prediction-quantile bucket: rows, mean predicted, mean realised (rank buckets,
    so ties and few distinct predictions never make an empty or duplicate edge)."""
    return pl.DataFrame(_calibrations(*_one_group(*_both_known(prediction, label)), buckets)[0], schema=CALIBRATION_SCHEMA)


def _calibrations(p: np.ndarray, y: np.ndarray, group: np.ndarray, groups: int, buckets: int = CALIBRATION_BUCKETS) -> list[list[dict]]:
    """``calibration``'s rows for each group of known pairs. The means add each bucket's
    values in time order (``np.bincount``), so they are the same bits whatever the thread
    count (a polars group-by's are not)."""
    n = np.bincount(group, minlength=groups)
    key = group * buckets + _ordinal_ranks(p, group, n) * buckets // np.maximum(n, 1)[group]
    size = groups * buckets
    rows = np.bincount(key, minlength=size)
    predicted = np.bincount(key, weights=p, minlength=size)
    realised = np.bincount(key, weights=y, minlength=size)
    out: list[list[dict]] = [[] for _ in range(groups)]
    for k in np.flatnonzero(rows).tolist():
        count = int(rows[k])
        out[k // buckets].append({"bucket": k % buckets, "rows": count, "predicted": float(predicted[k] / count),
                                  "realised": float(realised[k] / count)})  # fmt: skip
    return out


def series_figures(evaluated: pl.DataFrame) -> dict:
    """Every figure of one evaluated series, time-ordered (see the module docstring)."""
    return _figures(evaluated.sort("t", maintain_order=True), np.array([0, evaluated.height]), calibrated=False)[0]


def summarise(evaluated: pl.DataFrame, by: Sequence[str] = ("family", "horizon")) -> dict[tuple, dict]:
    """Figures and calibration per group (default per (family, horizon)); each group is one
    evaluated series, e.g. one model family's reference strategy on one horizon. All groups
    at once: the frame is ordered by group and ``t`` once, and each figure computed for every
    group together where that gives the same bits as one series alone."""
    keys = list(by)
    if evaluated.is_empty():
        return {}
    frame, starts = _grouped(evaluated, keys)
    names = frame.select(keys)[starts.tolist()].rows()
    return dict(zip(names, _figures(frame, np.append(starts, frame.height), calibrated="prediction" in frame.columns)))


def _grouped(frame: pl.DataFrame, keys: list[str]) -> tuple[pl.DataFrame, np.ndarray]:
    """``frame`` with each group's rows together and in time order, and each group's first
    row: as it comes when it is so already (``oos.evaluate_day``'s rows are), else sorted by
    the keys and ``t`` (stably: the same either way)."""
    runs = frame.select(run=pl.struct(keys).rle_id(), t=pl.col("t").dt.epoch("us"))
    run, t = runs["run"].to_numpy(), runs["t"].to_numpy()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(run)) + 1])
    if not ((run[1:] == run[:-1]) & (t[1:] < t[:-1])).any() and not frame.select(keys)[starts.tolist()].is_duplicated().any():
        return frame, starts
    frame = frame.sort([*keys, "t"], maintain_order=True)
    run = frame.select(pl.struct(keys).rle_id()).to_series().to_numpy()
    return frame, np.concatenate([[0], np.flatnonzero(np.diff(run)) + 1])


def _figures(frame: pl.DataFrame, bounds: np.ndarray, calibrated: bool) -> list[dict]:
    """The figures of each series of ``frame`` (series i in rows ``bounds[i]:bounds[i + 1]``,
    in time order), as ``series_figures`` defines them. Counts, rank IC, hit rate and
    calibration for all series at once; the sums through polars on each series' slice, as
    that series alone would sum them."""
    lo, hi = bounds[:-1], bounds[1:]
    groups = lo.size
    group = np.repeat(np.arange(groups), hi - lo)
    evaluable = frame["evaluable"].fill_null(False)
    ev = evaluable.to_numpy()
    first_decision = np.concatenate([[0], np.cumsum(ev)])  # decisions before row i
    decision_pnl = frame["pnl"].filter(evaluable)
    decision_pnl_np = np.nan_to_num(decision_pnl.to_numpy().astype(float))
    trade_size = frame["trade_size"]
    trades = np.bincount(group, trade_size.to_numpy() > TRADE_EPS, groups)
    position = frame["position"].to_numpy()
    exit_cost = frame["exit_cost"].to_numpy() if "exit_cost" in frame.columns else None
    day = frame.select(decision_day()).to_series().to_physical().to_numpy()
    new_day = np.ones(day.size, dtype=bool)
    new_day[1:] = day[1:] != day[:-1]
    new_day[lo[lo < day.size]] = True
    days = np.bincount(group, new_day, groups).astype(int)
    rank_ics = hit_rates = np.full(groups, math.nan)
    if "prediction" in frame.columns:
        p, y = frame["prediction"].cast(pl.Float64).to_numpy(), frame["label"].cast(pl.Float64).to_numpy()
        known = np.isfinite(p) & np.isfinite(y)
        p, y, known_group = p[known], y[known], group[known]
        rank_ics, hit_rates = _rank_ics(p, y, known_group, groups), _hit_rates(p, y, known_group, groups)
        tables = _calibrations(p, y, known_group, groups) if calibrated else None
    out = []
    for i in range(groups):
        a, b = int(lo[i]), int(hi[i])
        d0, d1 = int(first_decision[a]), int(first_decision[b])
        figures = {
            "rows": b - a,
            "decisions": d1 - d0,
            "rank_ic": float(rank_ics[i]),
            "hit_rate": float(hit_rates[i]),
            "pnl": float(decision_pnl.slice(d0, d1 - d0).sum()),
            "turnover": float(trade_size.slice(a, b - a).sum()) / int(days[i]) if days[i] else math.nan,
            "trades": int(trades[i]),
            "final_position": float(position[b - 1]) if b > a else math.nan,
            "exit_cost": float(exit_cost[b - 1]) if b > a and exit_cost is not None else math.nan,
            "max_drawdown": _max_drawdown(decision_pnl_np[d0:d1]),
            # a series of one day has no daily Sharpe (``annualised_sharpe`` of one number)
            "daily_sharpe": annualised_sharpe(daily_pnl(frame.slice(a, b - a))["pnl"].to_numpy()) if days[i] > 1 else math.nan,
        }
        if calibrated:
            figures["calibration"] = tables[i]
        out.append(figures)
    return out
