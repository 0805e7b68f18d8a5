"""oos_eval over a run's partitions: each symbol's consecutive days evaluated as the one
book they are, in one ``oos.evaluate_day`` call per span instead of one per day.

A series' book runs on across midnight, so ``oos.evaluate_day`` over consecutive days gives
each day exactly the rows it gets evaluated alone with the previous day's close carried in
(``oos.split_days`` cuts them back). A span costs about what one day costs (its ~33 strategy
simulations), and each fit predicts all the days it serves in the span in one call. A span is
cut (into segments, each opening with the previous one's close) only where evaluating it at
once would differ from day by day: at a day without feature rows (it closes with no position,
so the next day opens flat), and where the days' fits predict different families.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from quant_assets.evaluation import oos, portfolio
from quant_assets.partitions import DaySymbol, split_by_partition

# (fit, symbol, feature rows) -> family -> [rows, horizons]: the fit's predictions on the
# symbol's rows, and any family evaluated beside the fit's own (e.g. a pooled model's)
Predict = Callable[[oos.Fit, str, pl.DataFrame], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Day:
    """One partition's inputs: feature rows (sorted by t), labels, and the fit serving it."""

    part: DaySymbol
    features: pl.DataFrame
    labels: pl.DataFrame
    fit: oos.Fit


@dataclass(frozen=True)
class Evaluated:
    """One partition's rows and the footer's account of its opening positions (``oos.carry_record``)."""

    part: DaySymbol
    rows: pl.DataFrame
    carried: dict


def by_partition(frame: pl.DataFrame, parts: list[DaySymbol]) -> dict[DaySymbol, pl.DataFrame]:
    """A run's rows of one asset (``ParquetLake.read_many`` with ``partition_day``) per
    partition: slices of the frame where each partition's rows are together (as they come,
    a file after the other), else cut by a group-by."""
    keys = frame.select("partition_day", "symbol")
    runs = keys.select(pl.struct("partition_day", "symbol").rle_id()).to_series().to_numpy()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(runs)) + 1]) if frame.height else np.array([], dtype=np.int64)
    names = [DaySymbol(day, symbol) for day, symbol in keys[starts.tolist()].rows()]
    if len(set(names)) < len(names):  # a partition's rows apart: cut them out
        cut = split_by_partition(frame, parts, "partition_day", frame.clear().drop("symbol"))
        return {part: f.drop("partition_day") for part, f in cut}
    body = frame.drop("partition_day", "symbol")
    found = {part: body.slice(a, b - a) for part, a, b in zip(names, starts.tolist(), [*starts[1:].tolist(), frame.height])}
    return {part: found.get(part, body.clear()) for part in parts}


def consecutive(parts: list[DaySymbol]) -> list[list[DaySymbol]]:
    """Each symbol's runs of consecutive days, in day order: D carries into D+1."""
    spans: list[list[DaySymbol]] = []
    for part in sorted(parts, key=lambda p: (p.symbol, p.day)):
        last = spans[-1][-1] if spans else None
        if last is not None and last.symbol == part.symbol and part.day - last.day == timedelta(days=1):
            spans[-1].append(part)
        else:
            spans.append([part])
    return spans


def evaluate_span(days: list[Day], predict: Predict, carry: oos.Carry, carried: dict, *, cost: float,
                  rules: portfolio.Rules) -> list[Evaluated]:  # fmt: skip
    """Rows of ``days`` (one symbol, consecutive), the first opening with ``carry`` (whose
    account is ``carried``), each next one with the previous day's close."""
    out: list[Evaluated] = []
    for segment, predictions in _segments(days, predict):
        features = pl.concat([d.features for d in segment], how="vertical")
        labels = pl.concat([d.labels for d in segment], how="vertical")
        fits = {d.part.day: d.fit for d in segment}
        rows = oos.evaluate_day(features, labels, predictions, fits, cost=cost, carry=carry, rules=rules)
        by_day = oos.split_days(rows)
        for d in segment:
            day = by_day.get(d.part.day, oos.DayRows(rows.clear(), {}))
            out.append(Evaluated(d.part, day.rows, carried))
            carry = day.closing
            carried = oos.carry_record(carry, str(d.part.day), "evaluated earlier in this run")
    return out


def _segments(days: list[Day], predict: Predict) -> Iterator[tuple[list[Day], dict[str, np.ndarray]]]:
    """Runs of days evaluated at once, with their predictions (family -> rows of the run's
    days in order): each fit predicts its block of days in one call; a run ends at a day
    without rows and where the families predicted change."""
    run: list[tuple[list[Day], dict[str, np.ndarray]]] = []
    for block in _fit_blocks(days):
        predictions = predict(block[0].fit, block[0].part.symbol, pl.concat([d.features for d in block], how="vertical"))
        if run and not (_has_rows(run[-1][0][-1]) and _has_rows(block[0]) and set(predictions) == set(run[-1][1])):
            yield _joined(run)
            run = []
        run.append((block, predictions))
    if run:
        yield _joined(run)


def _fit_blocks(days: list[Day]) -> list[list[Day]]:
    """Consecutive days served by the same fit; a day without feature rows alone."""
    blocks: list[list[Day]] = []
    for d in days:
        last = blocks[-1][-1] if blocks else None
        if last is not None and _has_rows(last) and _has_rows(d) and last.fit == d.fit:
            blocks[-1].append(d)
        else:
            blocks.append([d])
    return blocks


def _has_rows(day: Day) -> bool:
    return day.features.height > 0


def _joined(run: list[tuple[list[Day], dict[str, np.ndarray]]]) -> tuple[list[Day], dict[str, np.ndarray]]:
    days = [d for block, _ in run for d in block]
    return days, {f: np.concatenate([predictions[f] for _, predictions in run]) for f in run[0][1]}
