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

import polars as pl

from quant_assets.evaluation.oos import CARRY_KEY, SUMMARY_KEY, carry_from_record, summary
from quant_assets.labels.forward import gross_column, net_column
from quant_assets.labels.horizons import HORIZON_NAMES, embargo
from quant_assets.models.pooled import POOLED_FAMILY
from quant_assets.partitions import DaySymbol
from quant_assets.timegrid import BAR, TS_DTYPE

RTOL, ATOL = 1e-9, 1e-12


def embargo_problems(part: DaySymbol, rows: pl.DataFrame, record: dict) -> list[str]:
    """Every prediction row's fit ends an embargo before its row's day starts, and is the
    fit the model partition (D, S) names."""
    gap = embargo()
    problems = []
    if record["fit_end"] + gap > part.start:
        problems.append(f"{part}: model partition fit ends {record['fit_end']}; + embargo {gap} is after the day starts {part.start}")
    predicted = rows.filter(pl.col("prediction").is_not_null() | pl.col("model_uri").is_not_null())
    row_day_start = (pl.col("t") - BAR).dt.truncate("1d")  # the day of the bar closing at t
    late = predicted.filter(pl.col("fit_end").is_null() | (pl.col("fit_end") + gap > row_day_start))
    if late.height:
        first = late.row(0, named=True)
        problems.append(
            f"{part}: {late.height} prediction rows from a fit ending less than {gap} before their day "
            f"(first: {first['family']} {first['horizon']} t={first['t']}, fit_end {first['fit_end']})"
        )
    # the pooled family's rows name the pooled fit the record names (quant_assets.models.pooled)
    pooled = pl.col("family") == POOLED_FAMILY
    uri = pl.when(pooled).then(pl.lit(record.get("pooled_model_uri"), pl.String)).otherwise(pl.lit(record["model_uri"]))
    end = pl.when(pooled).then(pl.lit(record.get("pooled_fit_end"), TS_DTYPE)).otherwise(pl.lit(record["fit_end"], TS_DTYPE))
    other = predicted.filter(~pl.col("model_uri").eq_missing(uri) | ~pl.col("fit_end").eq_missing(end))
    if other.height:
        problems.append(
            f"{part}: {other.height} prediction rows name a fit other than the model partition's ({record['model_uri']}, fit_end {record['fit_end']})"
        )
    pooled_late = record.get("pooled_fit_end")
    if pooled_late is not None and pooled_late + gap > part.start:
        problems.append(f"{part}: the pooled fit ends {pooled_late}; + embargo {gap} is after the day starts {part.start}")
    return problems


def label_problems(part: DaySymbol, rows: pl.DataFrame, labels: pl.DataFrame) -> list[str]:
    """Stored ``label``/``label_net`` equal the labels asset's ``fwd_ret_<h>``/``fwd_ret_net_<h>``
    at the same ``t``, bit for bit (both null counts as equal)."""
    truth = pl.concat([labels.select("t", horizon=pl.lit(h), _label=pl.col(gross_column(h)), _net=pl.col(net_column(h))) for h in HORIZON_NAMES])
    joined = rows.join(truth, on=["t", "horizon"], how="left")
    differs = joined.filter(~pl.col("label").eq_missing(pl.col("_label")) | ~pl.col("label_net").eq_missing(pl.col("_net")))
    if differs.is_empty():
        return []
    first = differs.row(0, named=True)
    return [
        f"{part}: {differs.height} rows' labels differ from the labels asset (first: {first['family']} {first['horizon']} "
        f"t={first['t']}: stored {first['label']} / net {first['label_net']}, labels asset {first['_label']} / net {first['_net']})"
    ]


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


def carry_problems(part: DaySymbol, rows: pl.DataFrame, file_metadata: dict[str, str], closed: dict | None) -> list[str]:
    """The footer's opening positions are ``closed`` (``closing_positions`` of D-1's stored
    rows; None: D-1 is not published, so the day must open flat), and each series' first
    trade is its change from them."""
    if CARRY_KEY not in file_metadata:
        return [f"{part}: the partition file has no {CARRY_KEY} footer"]
    record = json.loads(file_metadata[CARRY_KEY])
    carried = carry_from_record(record)
    problems = []
    if closed is None:
        if record["from"] is not None or carried:
            problems.append(f"{part}: opens with positions carried from {record['from']}, but no previous day is published")
    else:
        differ = sorted(k for k in set(closed) | set(carried) if k in closed and not math.isclose(carried.get(k, 0.0), closed[k], abs_tol=ATOL))
        if record["from"] is None:
            problems.append(f"{part}: opens flat, but the previous day's book closed with positions ({len(closed)} series)")
        elif differ:
            f, h = differ[0]
            problems.append(f"{part}: {len(differ)} series open with a position other than the previous day's close "
                            f"(first: {f}/{h}: opened {carried.get((f, h), 0.0)}, closed {closed[f, h]})")  # fmt: skip
    first = rows.group_by("family", "horizon", maintain_order=True).agg(pl.all().sort_by("t").first())
    opened = pl.Series("opened", [carried.get((f, h), 0.0) for f, h in first.select("family", "horizon").iter_rows()], dtype=pl.Float64)
    jumped = first.with_columns(opened).filter(((pl.col("position") - pl.col("opened")).abs() - pl.col("trade_size")).abs() > ATOL)
    if jumped.height:
        r = jumped.row(0, named=True)
        problems.append(f"{part}: {jumped.height} series' first trade is not their change from the opening position "
                        f"(first: {r['family']}/{r['horizon']} t={r['t']}: position {r['position']}, traded {r['trade_size']})")  # fmt: skip
    return problems


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
