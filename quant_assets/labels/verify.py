"""Independent verification of stored labels, for the blocking checks.

Written apart from ``forward`` on purpose (sampled rows recomputed one by one with plain
Python lookups), so a bug in the vectorised join cannot hide by being repeated in its own
check. Both rules take the whole run at once: the bars' closes are indexed once per symbol
and the availability rules run once over every partition's rows, not once per partition.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import polars as pl

from quant_assets.features.inputs import decision_grid_series
from quant_assets.labels.forward import available_column, gross_column, missing_column, net_column
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS, LOOKAHEAD_DAYS
from quant_assets.partitions import DaySymbol
from quant_assets.timegrid import TS_DTYPE

TOLERANCE = 1e-12


def bar_days(part: DaySymbol) -> list[DaySymbol]:
    """The bar partitions a label partition reads: D..D+7 of the same symbol."""
    return [DaySymbol(part.day + timedelta(days=k), part.symbol) for k in range(LOOKAHEAD_DAYS + 1)]


def by_partition(labels: pl.DataFrame) -> dict[tuple, pl.DataFrame]:
    """``labels`` (with ``symbol`` and ``partition_day``) split per ``(symbol, day)``."""
    return labels.partition_by("symbol", "partition_day", as_dict=True) if not labels.is_empty() else {}


def availability_problems(
    labels: pl.DataFrame, by_part: dict[tuple, pl.DataFrame], parts: list[DaySymbol], now: datetime | None = None
) -> dict[DaySymbol, list[str]]:
    """Per partition of ``parts``: t is the day's decision grid; per horizon, missing iff
    null, and known exactly at t + h.

    ``labels``: the rows of every partition, with ``symbol`` and ``partition_day`` (one read
    of the run's batch; ``by_part``: split by ``by_partition``); the per-horizon rules run
    once over all of them, not per partition.
    """
    counts = _horizon_counts(labels)
    problems = {}
    for part in parts:
        frame = by_part.get((part.symbol, part.day))
        found = _grid_problems(part, frame["t"] if frame is not None else pl.Series("t", [], dtype=TS_DTYPE), now)
        row = counts.get((part.symbol, part.day))
        for h in HORIZON_NAMES if row is not None else ():
            if row[f"_flag_{h}"]:
                found.append(f"{part}: {h}: {row[f'_flag_{h}']} rows where missing flag, value and label_available_at disagree")
            if row[f"_early_{h}"]:
                found.append(
                    f"{part}: {h}: {row[f'_early_{h}']} rows with label_available_at != t + {h}; first t={row[f'_early_t_{h}']} "
                    f"label_available_at={row[f'_early_at_{h}']}"
                )
        problems[part] = found
    return problems


def _grid_problems(part: DaySymbol, t: pl.Series, now: datetime | None) -> list[str]:
    grid = decision_grid_series(part, now)
    if t.dtype == grid.dtype and t.null_count() == 0:
        same = t.len() == grid.len() and bool((t == grid).all())
    else:  # another time type: compare the instants one by one
        same = t.to_list() == grid.to_list()
    return [] if same else [f"{part}: t is not the day's decision grid ({t.len()} rows, expected {grid.len()})"]


def _horizon_counts(labels: pl.DataFrame) -> dict[tuple, dict]:
    """Per (symbol, partition_day): per horizon, rows whose flag, value and availability
    disagree, and rows known at another time than t + h (with the first of them)."""
    if labels.is_empty():
        return {}
    aggs = []
    for h in HORIZON_NAMES:
        gross, avail, flag = pl.col(gross_column(h)), pl.col(available_column(h)), pl.col(missing_column(h))
        early = avail.is_not_null() & (avail != pl.col("t") + HORIZONS[h])
        aggs += [
            ((flag != gross.is_null()).sum() + (avail.is_null() != gross.is_null()).sum()).alias(f"_flag_{h}"),
            early.sum().alias(f"_early_{h}"),
            pl.col("t").filter(early).first().alias(f"_early_t_{h}"),
            avail.filter(early).first().alias(f"_early_at_{h}"),
        ]
    grouped = labels.group_by("symbol", "partition_day").agg(aggs)
    return {(row["symbol"], row["partition_day"]): row for row in grouped.iter_rows(named=True)}


def sample_rows(frame: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    if frame.height <= n + 2:
        return frame
    picks = {0, frame.height - 1, *random.Random(seed).sample(range(1, frame.height - 1), n)}
    return frame[sorted(picks)]


def close_lookup(bars: pl.DataFrame) -> dict[str, dict[datetime, float]]:
    """Per symbol, each bar's close by its close time (``available_at``): built once per run,
    then looked up row by row."""
    return {
        symbol: dict(zip(frame["available_at"].to_list(), frame["close"].to_list()))
        for (symbol,), frame in bars.partition_by("symbol", as_dict=True).items()
    }


def recompute_problems(part: DaySymbol, sample: pl.DataFrame, close_at: dict[datetime, float], log_cost: float) -> list[str]:
    """Recompute sampled rows from the bars' closes by close time (``close_lookup``)."""
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
