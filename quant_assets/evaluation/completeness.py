"""When is a day's evaluation complete? When every label of its rows is known.

Day D's rows run to t = D+1 00:00 (the bar closing at midnight), and a label over
horizon h is known at t + h. So horizon h of day D is complete once D+1 + h <= as_of,
and the day is complete once its longest horizon is (D+1 + 7d for the usual set).
Before that, oos_eval materializes the day as partial and names what is still missing.

A verdict for day D counts only the days complete by D 00:00 (``evidence_days``), never by
the wall clock: the same verdict comes out whenever it is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone

import polars as pl

from quant_assets.labels.forward import available_column, missing_column


def missing_horizons(day: date, horizons: Mapping[str, timedelta], as_of: datetime) -> list[str]:
    """Names of the horizons whose labels for ``day`` are not all known at ``as_of``."""
    if as_of.tzinfo is None:
        raise ValueError(f"completeness: as_of {as_of} must be timezone-aware (UTC)")
    last_row = datetime.combine(day + timedelta(days=1), time(), tzinfo=timezone.utc)
    return [name for name, h in horizons.items() if last_row + h > as_of]


# ---- point in time: what a verdict for day D may count --------------------------------------
#
# A verdict for day D is judged as of D 00:00, whatever the clock says when it is computed: an
# evaluation day is evidence only if every one of its labels was available by then. So a verdict
# computed on D and one computed a year later count the same days and come out the same.


def verdict_cutoff(day: date) -> datetime:
    """D 00:00 UTC: the moment a verdict for ``day`` is judged at."""
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def rows_known_at(rows: pl.DataFrame, horizons: Mapping[str, timedelta]) -> datetime | None:
    """When every label of an oos_eval day's rows was available: the latest ``t + h`` over its
    rows of the horizons in ``horizons`` (the labels asset's ``label_available_at``, which its
    blocking check holds to exactly ``t + h``); None when a row still lacks its label or there
    are none. Rows of other series (a ``portfolio`` over every horizon) carry no label of their own."""
    return rows_known_by_day(rows.with_columns(pl.lit(0).alias(_ONE_DAY)), horizons, _ONE_DAY).get(0)


def rows_known_by_day(rows: pl.DataFrame, horizons: Mapping[str, timedelta], day: str) -> dict:
    """``rows_known_at`` of each day's rows (column ``day`` names it), in one pass; a day
    without labelled rows is absent (None)."""
    step = pl.col("horizon").replace_strict({h: d for h, d in horizons.items()}, return_dtype=pl.Duration("us"))
    labelled = rows.filter(pl.col("horizon").is_in(list(horizons)))
    per_day = labelled.group_by(day).agg(nulls=pl.col("label").null_count(), at=(pl.col("t") + step).max())
    return {d: None if nulls else at for d, nulls, at in per_day.iter_rows()}


def labels_known_at(labels: pl.DataFrame, horizons: Mapping[str, timedelta]) -> datetime | None:
    """When every label of a labels partition was available: its latest ``label_available_at``
    over ``horizons``; None when one is missing (not computable yet) or the partition is empty."""
    return labels_known_by_day(labels.with_columns(pl.lit(0).alias(_ONE_DAY)), horizons, _ONE_DAY).get(0)


def labels_known_by_day(labels: pl.DataFrame, horizons: Mapping[str, timedelta], day: str) -> dict:
    """``labels_known_at`` of each day's labels (column ``day`` names it), in one pass; a day
    without rows is absent (None)."""
    per_day = labels.group_by(day).agg(
        missing=pl.any_horizontal(missing_column(h) for h in horizons).any(),
        latest=pl.max_horizontal(available_column(h) for h in horizons).max(),
        nulls=pl.sum_horizontal(pl.col(available_column(h)).null_count() for h in horizons),
    )
    return {d: None if missing or nulls else latest for d, missing, latest, nulls in per_day.iter_rows()}


_ONE_DAY = "__day"  # the one day of a single partition's rows


def evidence_days(known_at: Mapping[date, datetime | None], day: date) -> list[date]:
    """The days whose every label was available by ``day`` 00:00 (``known_at``: per stored
    evaluation day, ``rows_known_at`` or ``labels_known_at``), in order."""
    cutoff = verdict_cutoff(day)
    return sorted(d for d, at in known_at.items() if at is not None and at <= cutoff)
