"""oos_eval's rows and summary for one (day, symbol): the day-D model's predictions on
day D's feature rows, joined to the labels asset's labels, run through the one reference
strategy (``strategy.reference``) and the baselines (``strategy.baseline``), per horizon.

Long format, one row per (family, horizon, t): model families are whatever the fitted model
predicts, plus ``mean`` (the average of lgbm and mhnet, a family serving can trade);
baselines are families ``flat``, ``buy_and_hold`` and ``momentum`` (no prediction); and
``portfolio``, the combined position serving would hold for the symbol
(``portfolio.book``: the served family's horizons weighted and sized by serving's rules),
booked on the finest weighted horizon (its ``horizon`` column names it).

One book across days: every series continues the previous day's book. ``carry`` gives each
series' position at the end of day D-1 (``closing_positions`` of D-1's stored rows); a
position held over midnight is then no trade, and buy-and-hold pays its entry once. A series
without a carried position starts flat and pays its entry. Positions depend only on inputs
known at their decision (never on labels), so D's closing positions are final once D's
features and model are, whenever D's labels arrive.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from quant_assets.evaluation import metrics, portfolio, strategy
from quant_assets.evaluation.completeness import missing_horizons
from quant_assets.labels.forward import gross_column, missing_column, net_column
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS
from quant_assets.partitions import DaySymbol
from quant_assets.timegrid import TS_DTYPE

OOS_ASSET = "oos_eval"
SUMMARY_KEY = "oos_summary"  # parquet footer key of the partition's summary JSON
CARRY_KEY = "oos_carry"  # parquet footer key of where the day's opening positions came from


@dataclass(frozen=True)
class TrailingInputs:
    """Where the reference strategy's trailing inputs for a horizon come from in feature_matrix."""

    vol: str  # realised volatility column (std of log returns over its window)
    vol_scale: float  # sqrt(horizon / window): the iid scaling to the horizon's std
    momentum: str  # trailing log return column: the momentum baseline's signal


# The one mapping per horizon. feature_matrix has windows up to 1d, so 7d scales the 1d
# volatility by sqrt(7) and uses the 1d return as its momentum signal.
TRAILING: dict[str, TrailingInputs] = {
    "1h": TrailingInputs("rv_1h", 1.0, "ret_1h"),
    "4h": TrailingInputs("rv_4h", 1.0, "ret_4h"),
    "1d": TrailingInputs("rv_1d", 1.0, "ret_1d"),
    "7d": TrailingInputs("rv_1d", math.sqrt(7.0), "ret_1d"),
}

ROW_SCHEMA: dict[str, pl.DataType] = {
    "t": TS_DTYPE,
    "family": pl.String(),
    "horizon": pl.String(),
    "prediction": pl.Float64(),  # null for baselines
    "label": pl.Float64(),  # the labels asset's fwd_ret_<h>, unchanged
    "label_net": pl.Float64(),  # the labels asset's fwd_ret_net_<h>, unchanged
    "position": pl.Float64(),
    "trade_size": pl.Float64(),
    "evaluable": pl.Boolean(),
    "pnl": pl.Float64(),
    "exit_cost": pl.Float64(),  # |position| * cost / 2: what closing the book here would cost (stated, not charged)
    "model_uri": pl.String(),  # the fit that predicted (null for baselines)
    "fit_end": TS_DTYPE,
}


@dataclass(frozen=True)
class Fit:
    model_uri: str
    fit_end: datetime


def day_inputs(features: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Feature rows' ``t`` with, per horizon, label, net label, vol and momentum (``_<h>``).

    Every feature row is kept; a row the labels asset lacks has null labels (not evaluable).
    """
    lab = labels.select("t", *[pl.col(c(h)) for h in HORIZON_NAMES for c in (gross_column, net_column)])
    trailing = [
        expr
        for h, src in TRAILING.items()
        for expr in ((pl.col(src.vol) * src.vol_scale).alias(f"vol_{h}"), pl.col(src.momentum).alias(f"momentum_{h}"))
    ]
    return features.select("t", *trailing).sort("t").join(lab, on="t", how="left")


def _series(inputs: pl.DataFrame, h: str, prediction) -> pl.DataFrame:
    return inputs.select(
        "t",
        prediction=pl.Series(prediction, dtype=pl.Float64) if prediction is not None else pl.lit(None, pl.Float64),
        label=pl.col(gross_column(h)),
        label_net=pl.col(net_column(h)),
        vol=pl.col(f"vol_{h}"),
        momentum=pl.col(f"momentum_{h}"),
    )


Carry = Mapping[tuple[str, str], float]  # (family, horizon) -> position carried in
Fits = Fit | Mapping[date, Fit]  # the fit that predicted, or per decision day the one that served it


def evaluate_day(
    features: pl.DataFrame,
    labels: pl.DataFrame,
    predictions: dict[str, np.ndarray],
    fit: Fits,
    *,
    cost: float,
    carry: Carry | None = None,
    rules: portfolio.Rules | None = None,
) -> pl.DataFrame:
    """The partition's rows (``ROW_SCHEMA``). ``predictions[family][i, j]``: feature row i
    (sorted by t), horizon ``HORIZON_NAMES[j]``; ``cost``: round trip as a fraction;
    ``carry``: positions carried in from the previous day (a series not in it starts flat);
    ``rules``: what serving trades, for the ``portfolio`` series (default: the serving
    settings, ``portfolio.Rules.from_env``).

    ``features`` may hold several consecutive days of the symbol (``fit`` then maps each
    decision day, ``metrics.decision_day``, to its fit): one book, so the rows are each
    day's as evaluated alone with the day before's ``closing_positions`` carried in, in the
    same order per day (``split_days`` cuts them back), at the cost of one day."""
    inputs = day_inputs(features, labels)
    carry = carry or {}
    rules = rules or portfolio.Rules.from_env()
    predictions = portfolio.with_mean(predictions)
    fitted = _fit_columns(inputs, fit)
    frames, served = [], {}
    for j, h in enumerate(HORIZON_NAMES):
        horizon = HORIZONS[h]
        for family, matrix in predictions.items():
            if matrix.shape != (inputs.height, len(HORIZON_NAMES)):
                raise ValueError(f"{OOS_ASSET}: family {family} predicted shape {matrix.shape}, expected ({inputs.height}, {len(HORIZON_NAMES)})")
            run = strategy.reference(_series(inputs, h, matrix[:, j]), horizon=horizon, cost=cost, initial_position=carry.get((family, h), 0.0))
            frames.append(_rows(run, family, h, fitted))
            if family == rules.family:
                served[h] = run
        for name in strategy.BASELINES:
            run = strategy.baseline(_series(inputs, h, None), name, horizon=horizon, cost=cost, initial_position=carry.get((name, h), 0.0))
            frames.append(_rows(run, name, h, None))
    if rules.family in predictions:
        run = portfolio.book(served, rules, cost=cost, carry=carry.get((portfolio.PORTFOLIO, rules.booked_on), 0.0))
        frames.append(_rows(run, portfolio.PORTFOLIO, rules.booked_on, fitted))
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=ROW_SCHEMA)


@dataclass(frozen=True)
class DayRows:
    """One decision day's rows of a span, and the positions its series close the day with."""

    rows: pl.DataFrame
    closing: dict[tuple[str, str], float]


def split_days(rows: pl.DataFrame) -> dict[date, DayRows]:
    """A span's rows as ``evaluate_day`` gives them (series after series, each in time order)
    per decision day: each day's rows in their order in the span, which is a day evaluated
    alone's, and each series' position at its last row of the day (``closing_positions``).
    Cut by index: a series' rows of one day are one run of the span's rows."""
    if rows.is_empty():
        return {}
    keys = rows.select("family", "horizon", day=metrics.decision_day())
    run = keys.select(pl.struct(pl.all()).rle_id()).to_series().to_numpy()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(run)) + 1])
    ends = np.append(starts[1:], rows.height)
    position = rows["position"].to_numpy()
    slices: dict[date, list[pl.DataFrame]] = {}
    closing: dict[date, dict[tuple[str, str], float]] = {}
    for (family, h, day), a, b in zip(keys[starts.tolist()].rows(), starts.tolist(), ends.tolist()):
        slices.setdefault(day, []).append(rows.slice(a, b - a))
        closing.setdefault(day, {})[family, h] = float(position[b - 1])
    return {day: DayRows(pl.concat(frames, how="vertical"), closing[day]) for day, frames in slices.items()}


def closing_positions(rows: pl.DataFrame) -> dict[tuple[str, str], float]:
    """(family, horizon) -> the position held at the series' last row: what the next day carries in."""
    last = rows.group_by("family", "horizon", maintain_order=True).agg(pl.col("position").sort_by("t").last())
    return {(f, h): p for f, h, p in last.iter_rows()}


def previous_day(part: DaySymbol) -> DaySymbol:
    """The partition whose closing positions open ``part``."""
    return DaySymbol(part.day - timedelta(days=1), part.symbol)


def carry_record(carry: Carry, source: str | None, why: str) -> dict:
    """The footer's account of a day's opening positions: where they came from (``source``,
    the previous day, or None: flat) and why, and the positions, keyed ``family/horizon``."""
    return {"from": source, "why": why, "positions": {f"{f}/{h}": p for (f, h), p in sorted(carry.items())}}


def carry_from_record(record: dict) -> dict[tuple[str, str], float]:
    return {tuple(k.split("/", 1)): v for k, v in record["positions"].items()}


def _fit_columns(inputs: pl.DataFrame, fit: Fits) -> dict[str, pl.Expr | pl.Series]:
    """``model_uri`` and ``fit_end`` of the model series' rows (``inputs``' order)."""
    if isinstance(fit, Fit):
        return {"model_uri": pl.lit(fit.model_uri, pl.String), "fit_end": pl.lit(fit.fit_end, TS_DTYPE)}
    day = inputs.select(metrics.decision_day()).to_series()
    unserved = sorted(set(day.unique().to_list()) - set(fit))
    if unserved:
        raise ValueError(f"{OOS_ASSET}: no fit given for day(s) {', '.join(map(str, unserved))} of the rows")
    return {
        "model_uri": day.replace_strict({d: f.model_uri for d, f in fit.items()}, return_dtype=pl.String).alias("model_uri"),
        "fit_end": day.replace_strict({d: f.fit_end for d, f in fit.items()}, return_dtype=TS_DTYPE).alias("fit_end"),
    }


_NO_FIT = {"model_uri": pl.lit(None, pl.String), "fit_end": pl.lit(None, TS_DTYPE)}


def _rows(run: pl.DataFrame, family: str, h: str, fitted: dict | None) -> pl.DataFrame:
    return run.with_columns(family=pl.lit(family), horizon=pl.lit(h), **(fitted or _NO_FIT)).select(
        [pl.col(c).cast(t) for c, t in ROW_SCHEMA.items()]
    )


def summary(rows: pl.DataFrame) -> dict[str, dict]:
    """``metrics.summarise`` per (family, horizon), keyed ``family/horizon``, JSON-safe
    (a non-finite figure, e.g. rank IC without predictions, becomes null)."""
    figures = metrics.summarise(rows, by=("family", "horizon"))
    return {f"{family}/{h}": json_safe(v) for (family, h), v in sorted(figures.items())}


def json_safe(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def summary_json(rows: pl.DataFrame) -> str:
    return json.dumps(summary(rows), sort_keys=True)


def day_missing_horizons(day: date, labels: pl.DataFrame, as_of: datetime) -> list[str]:
    """Horizons of the day not complete yet: their time has not come (``missing_horizons``),
    or the labels asset still lacks some of the day's labels (bars not yet in the lake; a
    lasting gap in bars keeps the day partial, since its figures miss rows)."""
    by_time = set(missing_horizons(day, HORIZONS, as_of))
    by_labels = {h for h in HORIZON_NAMES if labels.is_empty() or labels[missing_column(h)].any()}
    return [h for h in HORIZON_NAMES if h in by_time | by_labels]
