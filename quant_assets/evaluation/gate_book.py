"""gate_verdict's book of one symbol: its oos_eval days boiled down, once, to what any trailing
window of them needs, so the verdicts of consecutive days (whose 60-day windows share all but
one day) slice one book instead of each re-grouping 60 days of rows.

- per series (family, horizon) and decision day: the after-cost PnL of its evaluable decisions
  (``metrics.daily_pnl``'s sum), its trades, its evaluable decisions, and its trade sizes in row
  order (a window's turnover sums them as the window's own rows would be summed);
- per stored day: when its every label was known (``completeness.rows_known_at``) and which
  series its rows hold;
- per features partition: its rows and, per source, the rows the source reached and the rows
  that say (``gate_window.source_coverage``'s mean, as counts a window adds up).

Exact: a window sliced from a book gives the figures the window's own rows give, bit for bit
(the same values, summed by the same kernels in the same order), so a verdict is the same row
whichever partitions were judged with it. Rows count on their decision day, as the gate's
filter counts them; oos_eval's partition of day D holds day D's decisions only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import polars as pl

from quant_assets.evaluation.completeness import rows_known_by_day
from quant_assets.evaluation.metrics import decision_day
from quant_assets.evaluation.strategy import TRADE_EPS
from quant_assets.features.contract import FLAGS_BY_SOURCE
from quant_assets.labels.horizons import HORIZONS

PARTITION_DAY = "partition_day"  # the stored day a row was read from (``ParquetLake.read_many``)
Series = tuple[str, str]  # (family, horizon)


@dataclass(frozen=True)
class Book:
    known_at: dict[date, datetime | None]  # per stored day: when its every label was known (None: not all)
    held: dict[date, frozenset[Series]]  # per stored day: the series its rows hold
    keys: tuple[Series, ...]  # every series with a row, sorted
    columns: dict[Series, int]  # series -> its column below
    days: dict[date, int]  # decision day -> its row below
    pnl: np.ndarray  # [day, series] PnL summed over the evaluable decisions, 0.0 where there is none
    present: np.ndarray  # [day, series] the series has a row that day
    trades: np.ndarray  # [day, series] rows with a trade
    evaluable: np.ndarray  # [day, series] evaluable rows
    trade_sizes: np.ndarray  # every row's trade size, by series, then day, then row order
    bounds: np.ndarray  # [series, day + 1] where each (series, day)'s trade sizes start in trade_sizes
    sources: dict[date, tuple[int, dict[str, tuple[int, int]]]]  # per features day: rows, per source (reached, said)

    def rows_of(self, days: Sequence[date]) -> np.ndarray:
        """The rows of those of ``days`` that hold a decision, in order."""
        return np.array([self.days[d] for d in days if d in self.days], dtype=np.int64)

    def turnover_sum(self, column: int, rows: np.ndarray) -> float:
        """Sum of the series' trade sizes on ``rows`` (in order), summed as polars sums the
        window's rows of the series: one array, one kernel."""
        bounds = self.bounds[column]
        runs = np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1) if rows.size else []
        parts = [self.trade_sizes[bounds[r[0]] : bounds[r[-1] + 1]] for r in runs]
        values = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0)
        return float(pl.Series(values, dtype=pl.Float64).sum())

    def source_coverage(self, days: Sequence[date]) -> dict[str, float]:
        """``gate_window.source_coverage`` of the feature rows of ``days`` (those held)."""
        held = [self.sources[d] for d in days if d in self.sources]
        if sum(rows for rows, _ in held) == 0:
            return {}
        reached = {s: sum(per[s][0] for _, per in held) for s in FLAGS_BY_SOURCE}
        said = {s: sum(per[s][1] for _, per in held) for s in FLAGS_BY_SOURCE}
        return {s: reached[s] / said[s] if said[s] else None for s in FLAGS_BY_SOURCE}


def book_of(rows: pl.DataFrame, flags: pl.DataFrame | None = None) -> Book:
    """The book of one symbol's oos_eval ``rows`` (every stored day's, with ``PARTITION_DAY``,
    in day order) and of its feature ``flags`` (the missing flags, with ``PARTITION_DAY``)."""
    day = decision_day().alias("day")
    # One pass: per series and day its counts and its trade sizes (a list keeps the rows' order).
    counts = (
        rows.group_by("family", "horizon", day)
        .agg(trades=(pl.col("trade_size") > TRADE_EPS).sum(), evaluable=pl.col("evaluable").sum(), n=pl.len(),
             sizes=pl.col("trade_size").fill_null(0.0))
        .sort("family", "horizon", "day")
    )  # fmt: skip
    # The window's own expression (``filter(evaluable)`` then a group sum): the same kernel, the same bits.
    booked = rows.filter(pl.col("evaluable")).group_by("family", "horizon", day).agg(pnl=pl.col("pnl").sum())
    keys = tuple(dict.fromkeys(counts.select("family", "horizon").iter_rows()))
    days = {d: i for i, d in enumerate(sorted(set(counts["day"])))}
    column = {k: i for i, k in enumerate(keys)}
    shape = (len(days), len(keys))
    pnl, present = np.zeros(shape), np.zeros(shape, dtype=bool)
    trades, evaluable, n = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
    for family, horizon, d, t, e, c in counts.select("family", "horizon", "day", "trades", "evaluable", "n").iter_rows():
        i, j = days[d], column[(family, horizon)]
        present[i, j], trades[i, j], evaluable[i, j], n[i, j] = True, t, e, c
    for family, horizon, d, value in booked.iter_rows():
        pnl[days[d], column[(family, horizon)]] = value
    # Each series' rows by day, in their stored order: the series' rows of a window, in the window's order.
    sizes = counts["sizes"].explode().to_numpy() if counts.height else np.zeros(0)
    bounds = np.zeros((len(keys), len(days) + 1), dtype=np.int64)
    if keys:
        bounds[:, 1:] = np.cumsum(n.T, axis=1)
        bounds += np.concatenate([[0], np.cumsum(n.sum(axis=0))[:-1]])[:, None]
    return Book(
        known_at=_known_at(rows), held=_held(rows), keys=keys, columns=column, days=days, pnl=pnl, present=present, trades=trades,
        evaluable=evaluable, trade_sizes=sizes, bounds=bounds, sources=_sources(flags),
    )  # fmt: skip


def book_of_days(rows_by_day: Mapping[date, pl.DataFrame], features_by_day: Mapping[date, pl.DataFrame] | None = None) -> Book:
    """The book of a window given as frames per stored day (its oos_eval rows, its feature rows)."""

    def stamped(frames: Mapping[date, pl.DataFrame]) -> pl.DataFrame | None:
        held = [f.with_columns(pl.lit(d, pl.Date()).alias(PARTITION_DAY)) for d, f in sorted(frames.items()) if f.width]
        return pl.concat(held, how="vertical") if held else None

    rows = stamped(rows_by_day)
    if rows is None or rows.is_empty():
        rows = EMPTY_ROWS
    return book_of(rows, stamped(features_by_day or {}))


def _known_at(rows: pl.DataFrame) -> dict[date, datetime | None]:
    """``completeness.rows_known_at`` of each stored day's rows."""
    return {d: None for d in rows[PARTITION_DAY].unique()} | rows_known_by_day(rows, HORIZONS, PARTITION_DAY)


def _held(rows: pl.DataFrame) -> dict[date, frozenset[Series]]:
    pairs = rows.select(PARTITION_DAY, "family", "horizon").unique()
    out: dict[date, set] = {d: set() for d in rows[PARTITION_DAY].unique()}
    for d, family, horizon in pairs.iter_rows():
        out[d].add((family, horizon))
    return {d: frozenset(s) for d, s in out.items()}


def _sources(flags: pl.DataFrame | None) -> dict[date, tuple[int, dict[str, tuple[int, int]]]]:
    if flags is None or flags.is_empty():
        return {}
    reached = {s: ~pl.all_horizontal(list(f)) for s, f in FLAGS_BY_SOURCE.items()}
    per_day = flags.group_by(PARTITION_DAY).agg(
        pl.len().alias("rows"),
        *[e.sum().alias(f"{s}_reached") for s, e in reached.items()],
        *[e.count().alias(f"{s}_said") for s, e in reached.items()],
    )
    return {r[PARTITION_DAY]: (r["rows"], {s: (r[f"{s}_reached"], r[f"{s}_said"]) for s in FLAGS_BY_SOURCE}) for r in per_day.iter_rows(named=True)}


EMPTY_ROWS = pl.DataFrame(
    schema={
        "t": pl.Datetime("us", "UTC"),
        "family": pl.String(),
        "horizon": pl.String(),
        "label": pl.Float64(),
        "trade_size": pl.Float64(),
        "evaluable": pl.Boolean(),
        "pnl": pl.Float64(),
        PARTITION_DAY: pl.Date(),
    }  # fmt: skip
)
