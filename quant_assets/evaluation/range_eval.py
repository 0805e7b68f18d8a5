"""One fixed model over any range of days: the pure half of ``quant-assets evaluate``.

oos_eval scores day D with the model that served day D. Here one registered version is
held fixed for the whole range, so a user can check, say, the champion on days it has never
seen. The figures come from exactly oos_eval's code: every day goes through
``oos.evaluate_day``, carrying the previous day's closing positions in as oos_eval does (one
book over the range: it opens flat on the range's first day and after a day missing from
the lake, said in ``flat_starts``), and the range's rows through ``oos.summary``
(``metrics.summarise``); over days that a version also served in oos_eval, starting where
oos_eval's book starts, the figures are those of oos_eval's stored rows.

Rules of the range:

- *Unseen days only*: a day may be evaluated only if it starts at or after the version's
  fit end + embargo, the rule oos_eval's embargo check holds every prediction to
  (``first_unseen_day``). A range starting earlier is refused, not trimmed: a figure that
  silently covered fewer days than asked would be read as covering them all.
- *Known labels only*: a (day, horizon) whose labels are not all known yet
  (``oos.day_missing_horizons``: the horizon has not passed, or the labels asset still
  lacks some) is left out of that horizon's figures and reported as pending; its positions
  still carry into the next day (they never depend on labels).

The walk-forward estimate cuts the range's daily PnL into the gate's sub-windows
(``walk_forward.window_sharpes``): its estimate is the mean sub-window Sharpe, its interval
the lowest and highest, next to how many sub-windows beat every baseline.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import polars as pl

from quant_assets.evaluation import metrics, oos, portfolio
from quant_assets.evaluation.strategy import BASELINES, STRATEGY
from quant_assets.evaluation.walk_forward import DEFAULT_WINDOWS, beats_baselines, window_sharpes


def first_unseen_day(fit_end: datetime, embargo: timedelta) -> date:
    """The first UTC day that starts at or after ``fit_end + embargo``."""
    ready = fit_end + embargo
    day = ready.astimezone(timezone.utc).date()
    return day if datetime.combine(day, time(), tzinfo=timezone.utc) >= ready else day + timedelta(days=1)


@dataclass(frozen=True)
class Day:
    """One day's inputs for one symbol: its feature_matrix and labels partitions."""

    day: date
    features: pl.DataFrame
    labels: pl.DataFrame


@dataclass
class RangeRows:
    """The range's rows (``oos.ROW_SCHEMA`` plus ``day``) and what was left out, per horizon."""

    rows: pl.DataFrame
    days: dict[str, list[date]] = field(default_factory=dict)  # horizon -> days evaluated
    pending: dict[str, list[date]] = field(default_factory=dict)  # horizon -> days with labels not all known
    flat_starts: list[date] = field(default_factory=list)  # days the book opened flat: the first, and each after a gap


def evaluate_range(
    days: Iterable[Day],
    predict: Callable[[pl.DataFrame], dict[str, np.ndarray]],
    fit: oos.Fit,
    horizons: Sequence[str],
    *,
    cost: float,
    as_of: datetime,
    rules: portfolio.Rules | None = None,
) -> RangeRows:
    """``predict`` (the fixed model) on every day, each day through ``oos.evaluate_day``
    with the previous day's closing positions; rows of the ``horizons`` asked for, minus
    each horizon's pending days."""
    frames = []
    out = RangeRows(pl.DataFrame(), {h: [] for h in horizons}, {h: [] for h in horizons})
    carry, last = {}, None
    for d in days:
        features = d.features.sort("t")
        pending = set(oos.day_missing_horizons(d.day, d.labels, as_of))
        ready = [h for h in horizons if h not in pending]
        for h in horizons:
            (out.pending if h in pending else out.days)[h].append(d.day)
        if last is None or d.day - last != timedelta(days=1):
            carry = {}
            out.flat_starts.append(d.day)
        rows = oos.evaluate_day(features, d.labels, predict(features), fit, cost=cost, carry=carry, rules=rules)
        carry, last = oos.closing_positions(rows), d.day
        frames.append(rows.filter(pl.col("horizon").is_in(ready)).with_columns(day=pl.lit(d.day)))
    out.rows = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema={**oos.ROW_SCHEMA, "day": pl.Date()})
    return out


def walk_forward(rows: pl.DataFrame, family: str, horizon: str, windows: int = DEFAULT_WINDOWS) -> dict:
    """The family's reference strategy against the baselines in walk-forward sub-windows of
    the range (fewer than ``windows`` when the range is shorter than two days a window)."""
    series = {family: STRATEGY, **{b: b for b in BASELINES}}
    daily = None
    for name, column in series.items():
        one = metrics.daily_pnl(rows.filter((pl.col("family") == name) & (pl.col("horizon") == horizon)))
        one = one.rename({"pnl": column})
        daily = one if daily is None else daily.join(one, on="day", how="full", coalesce=True)
    k = min(windows, daily.height // 2)
    if k < 1:
        return {"windows": 0, "days": daily.height, "estimate": None, "low": None, "high": None, "sharpes": [], "windows_beaten": 0}
    table = window_sharpes(daily, k=k)
    sharpes = table[STRATEGY].to_list()
    finite = [s for s in sharpes if math.isfinite(s)]
    return oos.json_safe(
        {
            "windows": k,
            "days": daily.height,
            "estimate": float(np.mean(finite)) if finite else math.nan,
            "low": min(finite) if finite else math.nan,
            "high": max(finite) if finite else math.nan,
            "sharpes": sharpes,
            "windows_beaten": beats_baselines(table),
        }
    )
