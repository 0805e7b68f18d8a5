"""What gate_verdict's blocking checks re-derive, independent of the code path that judged.

- evidence known: every day a verdict counted as evidence had every label available at the
  verdict's day 00:00, re-derived from the labels asset's own ``label_available_at`` (not from
  the oos_eval rows the verdict read), and ``completed_days`` is the number of those days. A
  verdict computed late on the wall clock, which counted a day whose 7d labels came after D,
  fails here;
- reproduces: the verdict recomputed from its stored inputs (the window's oos_eval rows, the
  feature flags, the fit's stored purged k-fold, and the failing partitions and configuration
  count the row recorded) is the stored row, column for column.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import polars as pl

from quant_assets.evaluation.completeness import verdict_cutoff
from quant_assets.partitions import DaySymbol


def evidence_days_of(verdicts: pl.DataFrame) -> list[date]:
    """Every day any row of a verdict partition counted as evidence."""
    if verdicts.is_empty():
        return []
    return sorted(set(verdicts["evidence_days"].explode().drop_nulls().to_list()))


def evidence_problems(part: DaySymbol, verdicts: pl.DataFrame, labels_known: Mapping[date, datetime | None]) -> list[str]:
    """One line per evidence day not complete at ``part.day`` 00:00 by the labels' own
    ``label_available_at`` (``labels_known``: ``completeness.labels_known_at`` per day, None
    for a day whose labels are missing or not all computable), and per row whose count differs."""
    cutoff = verdict_cutoff(part.day)
    problems = []
    for day in evidence_days_of(verdicts):
        if day not in labels_known or labels_known[day] is None:
            problems.append(f"{part}: evidence day {day} has no complete labels partition: not known at {cutoff:%Y-%m-%d %H:%M}")
        elif labels_known[day] > cutoff:
            problems.append(
                f"{part}: evidence day {day} was complete only at {labels_known[day]:%Y-%m-%d %H:%M}, after the verdict's {cutoff:%Y-%m-%d %H:%M}"
            )
    for family, horizon, counted, days in verdicts.select("family", "horizon", "completed_days", "evidence_days").iter_rows():
        if counted != len(days or []):
            problems.append(f"{part}: {family}/{horizon} counts {counted} completed days but names {len(days or [])}")
    return problems


def reproduction_problems(part: DaySymbol, stored: pl.DataFrame, recomputed: pl.DataFrame) -> list[str]:
    """Empty when the stored verdict is what its inputs give; else the first differences."""
    if stored.columns != recomputed.columns or stored.height != recomputed.height:
        return [f"{part}: stored verdict has {stored.height} rows x {stored.columns}, recomputed {recomputed.height} rows x {recomputed.columns}"]
    if stored.equals(recomputed):
        return []
    out = []
    for row, again in zip(stored.iter_rows(named=True), recomputed.iter_rows(named=True)):
        differ = [c for c in stored.columns if row[c] != again[c] and not (row[c] != row[c] and again[c] != again[c])]  # NaN == NaN here
        out += [f"{part}: {row['family']}/{row['horizon']} {c} stored {row[c]!r}, recomputed {again[c]!r}" for c in differ[:3]]
    return out[:10] or [f"{part}: stored verdict differs from its recomputation"]
