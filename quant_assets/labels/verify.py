"""Independent verification of stored labels, for the blocking checks.

Written apart from ``forward`` on purpose (row by row, plain Python lookups), so a bug in
the vectorised join cannot hide by being repeated in its own check.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import polars as pl

from quant_assets.features.inputs import decision_grid
from quant_assets.labels.forward import available_column, gross_column, missing_column, net_column
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS, LOOKAHEAD_DAYS
from quant_assets.partitions import DaySymbol

TOLERANCE = 1e-12


def bar_days(part: DaySymbol) -> list[DaySymbol]:
    """The bar partitions a label partition reads: D..D+7 of the same symbol."""
    return [DaySymbol(part.day + timedelta(days=k), part.symbol) for k in range(LOOKAHEAD_DAYS + 1)]


def availability_problems(part: DaySymbol, frame: pl.DataFrame, now: datetime | None = None) -> list[str]:
    """t is the day's decision grid; per horizon, missing iff null, and known exactly at t + h."""
    problems = []
    grid = decision_grid(part, now)
    if frame["t"].to_list() != grid:
        problems.append(f"{part}: t is not the day's decision grid ({frame.height} rows, expected {len(grid)})")
    for h in HORIZON_NAMES:
        gross, avail, flag = frame[gross_column(h)], frame[available_column(h)], frame[missing_column(h)]
        bad_flag = frame.filter(flag != gross.is_null()).height + frame.filter(avail.is_null() != gross.is_null()).height
        if bad_flag:
            problems.append(f"{part}: {h}: {bad_flag} rows where missing flag, value and label_available_at disagree")
        early = frame.filter(pl.col(available_column(h)).is_not_null() & (pl.col(available_column(h)) != pl.col("t") + HORIZONS[h]))
        if early.height:
            first = early.row(0, named=True)
            problems.append(
                f"{part}: {h}: {early.height} rows with label_available_at != t + {h}; first t={first['t']} "
                f"label_available_at={first[available_column(h)]}"
            )
    return problems


def sample_rows(frame: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    if frame.height <= n + 2:
        return frame
    picks = {0, frame.height - 1, *random.Random(seed).sample(range(1, frame.height - 1), n)}
    return frame[sorted(picks)]


def recompute_problems(part: DaySymbol, sample: pl.DataFrame, bars: pl.DataFrame, log_cost: float) -> list[str]:
    """Recompute sampled rows from the bars (``available_at`` = close time, ``close``)."""
    close_at = dict(zip(bars["available_at"].to_list(), bars["close"].to_list()))
    problems = []
    for row in sample.iter_rows(named=True):
        t = row["t"]
        for h in HORIZON_NAMES:
            now, later = close_at.get(t), close_at.get(t + HORIZONS[h])
            expected = math.log(later / now) if now is not None and later is not None else None
            stored = row[gross_column(h)]
            if (expected is None) != (stored is None):
                problems.append(f"{part} t={t} {h}: stored {stored}, bars give {expected}")
            elif expected is not None:
                if abs(stored - expected) > TOLERANCE * max(1.0, abs(expected)):
                    problems.append(f"{part} t={t} {h}: stored {stored!r}, bars give {expected!r}")
                net = row[net_column(h)]
                if abs(net - (expected - log_cost)) > TOLERANCE * max(1.0, abs(expected)):
                    problems.append(f"{part} t={t} {h}: net {net!r} is not gross minus the round-trip cost {log_cost!r}")
    return problems
