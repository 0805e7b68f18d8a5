"""What the oos_eval checks re-derive from the lake, independent of the code that evaluated.

- embargo: from the model partition's record and the horizons (never from a recorded embargo),
  and per stored prediction row, from the fit it names and the day of its ``t``;
- labels: the stored label and net label of every row against the labels asset's;
- summary: the figures recomputed from the stored rows against the stored summary;
- carry: the positions the day opened with are those the previous day's stored rows closed
  with (or flat, said so, where there is no previous day), and every series' first row
  trades exactly its change from them.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import polars as pl

from quant_assets.evaluation.oos import CARRY_KEY, SUMMARY_KEY, carry_from_record, summary
from quant_assets.labels.forward import gross_column, net_column
from quant_assets.labels.horizons import HORIZON_NAMES, embargo
from quant_assets.partitions import DaySymbol
from quant_assets.timegrid import BAR

RTOL, ATOL = 1e-9, 1e-12
PART = ["symbol", "partition_day"]  # a run's frames carry their partition in these columns (``read_many``)


def embargo_problems(parts: list[DaySymbol], rows: pl.DataFrame, records: pl.DataFrame) -> dict[DaySymbol, list[str]]:
    """Per partition of the run: every prediction row's fit ends an embargo before its row's
    day starts, and is the fit the model partition (D, S) names. ``rows``: the run's stored
    rows, ``records``: its model partitions' records, both with ``PART``."""
    gap = embargo()
    problems: dict[DaySymbol, list[str]] = {part: [] for part in parts}
    records = records.unique(PART, keep="first", maintain_order=True)
    for record in records.iter_rows(named=True):
        part = _part(record)
        if part in problems and record["fit_end"] + gap > part.start:
            problems[part].append(f"{part}: model partition fit ends {record['fit_end']}; + embargo {gap} is after the day starts {part.start}")
    served = records.select(*PART, _model_uri="model_uri", _fit_end="fit_end")
    predicted = rows.filter(pl.col("prediction").is_not_null() | pl.col("model_uri").is_not_null())
    predicted = predicted.join(served, on=PART, how="left", maintain_order="left")
    row_day_start = (pl.col("t") - BAR).dt.truncate("1d")  # the day of the bar closing at t
    late = predicted.filter(pl.col("fit_end").is_null() | (pl.col("fit_end") + gap > row_day_start))
    other = predicted.filter((pl.col("model_uri") != pl.col("_model_uri")) | (pl.col("fit_end") != pl.col("_fit_end")))
    for part, n, first in _first_per_part(late):
        problems[part].append(f"{part}: {n} prediction rows from a fit ending less than {gap} before their day (first: {first['family']} {first['horizon']} t={first['t']}, fit_end {first['fit_end']})")
    for part, n, first in _first_per_part(other):
        problems[part].append(f"{part}: {n} prediction rows name a fit other than the model partition's ({first['_model_uri']}, fit_end {first['_fit_end']})")
    return problems


def label_problems(parts: list[DaySymbol], rows: pl.DataFrame, labels: pl.DataFrame) -> dict[DaySymbol, list[str]]:
    """Per partition of the run: stored ``label``/``label_net`` equal the labels asset's
    ``fwd_ret_<h>``/``fwd_ret_net_<h>`` at the same ``t`` of the same partition, bit for bit
    (both null counts as equal). ``rows``, ``labels``: the run's, with ``PART``."""
    truth = pl.concat(
        [labels.select(*PART, "t", horizon=pl.lit(h), _label=pl.col(gross_column(h)), _net=pl.col(net_column(h))) for h in HORIZON_NAMES]
    )
    joined = rows.join(truth, on=[*PART, "t", "horizon"], how="left", maintain_order="left")
    differs = joined.filter(~pl.col("label").eq_missing(pl.col("_label")) | ~pl.col("label_net").eq_missing(pl.col("_net")))
    problems: dict[DaySymbol, list[str]] = {part: [] for part in parts}
    for part, n, first in _first_per_part(differs):
        problems[part].append(
            f"{part}: {n} rows' labels differ from the labels asset (first: {first['family']} {first['horizon']} "
            f"t={first['t']}: stored {first['label']} / net {first['label_net']}, labels asset {first['_label']} / net {first['_net']})"
        )
    return problems


def _part(row: dict) -> DaySymbol:
    return DaySymbol(row["partition_day"], row["symbol"])


def _first_per_part(offending: pl.DataFrame) -> list[tuple[DaySymbol, int, dict]]:
    """(partition, offending rows, its first offending row) for each partition with any."""
    if offending.is_empty():
        return []
    grouped = offending.group_by(PART, maintain_order=True).agg(pl.len().alias("_n"), pl.all().exclude(PART).first())
    return [(_part(r), r["_n"], r) for r in grouped.iter_rows(named=True)]


def summary_problems(part: DaySymbol, rows: pl.DataFrame, file_metadata: dict[str, str]) -> list[str]:
    """The summary in the partition file's footer equals the one recomputed from its rows."""
    if SUMMARY_KEY not in file_metadata:
        return [f"{part}: the partition file has no {SUMMARY_KEY} footer"]
    stored = json.loads(file_metadata[SUMMARY_KEY])
    again = json.loads(json.dumps(summary(rows)))  # the same JSON round trip as the stored one
    diffs = list(_differences(stored, again, ""))
    if not diffs:
        return []
    return [f"{part}: stored summary differs from the rows' in {len(diffs)} figures (first: {diffs[0]})"]


def carry_problems(parts: list[DaySymbol], rows: pl.DataFrame, footers: dict[DaySymbol, dict[str, str]],
                   closed_before: dict[DaySymbol, dict | None]) -> dict[DaySymbol, list[str]]:  # fmt: skip
    """Per partition of the run: the footer's opening positions are those D-1's stored rows
    closed with (D-1 of the run, or ``closed_before[part]`` for a partition whose D-1 is not
    in the run: ``closing_positions`` of its published rows, None when it is not published,
    so the day must open flat), and each series' first trade is its change from them.
    ``rows``: the run's stored rows with ``PART``; ``footers``: each partition's file metadata."""
    ends = rows.sort("t", maintain_order=True).group_by(*PART, "family", "horizon", maintain_order=True)
    closes: dict[DaySymbol, dict] = {}
    for r in ends.agg(pl.col("position").last()).iter_rows(named=True):
        closes.setdefault(_part(r), {})[r["family"], r["horizon"]] = r["position"]
    problems: dict[DaySymbol, list[str]] = {}
    opened = []  # (symbol, partition_day, family, horizon, position opened with) from the footers
    for part in parts:
        if CARRY_KEY not in footers[part]:
            problems[part] = [f"{part}: the partition file has no {CARRY_KEY} footer"]
            continue
        record = json.loads(footers[part][CARRY_KEY])
        carried = carry_from_record(record)
        prev = DaySymbol(part.day - timedelta(days=1), part.symbol)
        closed = closes.get(prev, {}) if prev in footers else closed_before.get(part)
        problems[part] = _opening_problems(part, record, carried, closed)
        opened += [(part.symbol, part.day, f, h, p) for (f, h), p in carried.items()]
    first = ends.first()
    opened_frame = pl.DataFrame(opened, schema={"symbol": pl.String, "partition_day": pl.Date, "family": pl.String, "horizon": pl.String,
                                                "opened": pl.Float64}, orient="row")  # fmt: skip
    first = first.join(opened_frame, on=[*PART, "family", "horizon"], how="left", maintain_order="left").with_columns(pl.col("opened").fill_null(0.0))
    jumped = first.filter(((pl.col("position") - pl.col("opened")).abs() - pl.col("trade_size")).abs() > ATOL)
    for part, n, r in _first_per_part(jumped):
        if CARRY_KEY in footers.get(part, {}):
            problems[part].append(f"{part}: {n} series' first trade is not their change from the opening position "
                                  f"(first: {r['family']}/{r['horizon']} t={r['t']}: position {r['position']}, traded {r['trade_size']})")  # fmt: skip
    return problems


def _opening_problems(part: DaySymbol, record: dict, carried: dict, closed: dict | None) -> list[str]:
    """The footer's opening positions against the previous day's close (None: not published)."""
    if closed is None:
        if record["from"] is not None or carried:
            return [f"{part}: opens with positions carried from {record['from']}, but no previous day is published"]
        return []
    if record["from"] is None:
        return [f"{part}: opens flat, but the previous day's book closed with positions ({len(closed)} series)"]
    differ = sorted(k for k in closed if not math.isclose(carried.get(k, 0.0), closed[k], abs_tol=ATOL))
    if differ:
        f, h = differ[0]
        return [f"{part}: {len(differ)} series open with a position other than the previous day's close "
                f"(first: {f}/{h}: opened {carried.get((f, h), 0.0)}, closed {closed[f, h]})"]  # fmt: skip
    return []


def _differences(stored, again, path: str):
    if isinstance(stored, dict) and isinstance(again, dict):
        for key in sorted(set(stored) | set(again)):
            if key not in stored or key not in again:
                yield f"{path}/{key} present on one side only"
            else:
                yield from _differences(stored[key], again[key], f"{path}/{key}")
    elif isinstance(stored, list) and isinstance(again, list):
        if len(stored) != len(again):
            yield f"{path}: {len(stored)} stored items, {len(again)} recomputed"
        for i, (a, b) in enumerate(zip(stored, again)):
            yield from _differences(a, b, f"{path}[{i}]")
    elif isinstance(stored, (int, float)) and isinstance(again, (int, float)) and not isinstance(stored, bool):
        if not math.isclose(stored, again, rel_tol=RTOL, abs_tol=ATOL):
            yield f"{path}: stored {stored}, recomputed {again}"
    elif stored != again:
        yield f"{path}: stored {stored!r}, recomputed {again!r}"
