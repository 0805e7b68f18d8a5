"""Re-derive, from a partition's recorded inputs, what each row could know at its ``t``.

The structural as-of check compares a stamp with ``t``, but the stamp comes from the same
code that did the join: a join that picks a record not yet available while stamping a time
that looks right (joined on ``event_time`` and stamped with it, say) passes it. This module
takes the upstream records a partition read and finds, per source stream and decision time,
the newest record with ``available_at <= t``, then checks the stored row against it, on
every row:

- ``asof_bars`` / ``asof_text`` equal the newest bar / text bucket available at ``t``;
- ``asof_derivatives`` equals the newest ``available_at`` among the metrics behind the
  derivatives features the row has (``compute.DERIVATIVE_INPUTS``);
- features that are one record's value (:data:`VALUE_FEATURES`) equal that record's value,
  ``funding_age_h`` its age, ``text_projection_fit_end`` the newest bucket's fit end.

It deliberately does not use the feature code's as-of join: records are bucketed onto the
first decision time that may see them (``available_at`` rounded up to the 5m grid) and
carried forward, so a fault in the join cannot hide itself here.
"""

from __future__ import annotations

import polars as pl

from quant_assets.derivatives.frame import BASIS, FUNDING, LONG_SHORT
from quant_assets.features import contract
from quant_assets.features.compute import DERIVATIVE_INPUTS, usable_rows
from quant_assets.features.inputs import BARS, DERIVATIVES, SERIES, TEXT_LATENTS
from quant_assets.timegrid import BAR

# Features that are the value of exactly one record: the newest of their metric at t.
VALUE_FEATURES = {"funding_rate": FUNDING, "basis_bps": BASIS, "long_short_ratio": LONG_SHORT}
HOUR_US = 3.6e9


def _streams(series_inputs: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Stream name -> records (``series``, ``available_at``, ``value``)."""
    out = {
        "bars": series_inputs[BARS].select(SERIES, "available_at", value=pl.lit(None, pl.Float64)),
        "text": series_inputs[TEXT_LATENTS].select(SERIES, "available_at", value=pl.col("projection_fit_end")),
    }
    metrics = sorted({m for ms in DERIVATIVE_INPUTS.values() for m in ms})
    for metric in metrics:
        out[metric] = usable_rows(series_inputs[DERIVATIVES], metric).select(SERIES, "available_at", "value")
    return out


def newest_available(records: pl.DataFrame, times: pl.DataFrame) -> pl.DataFrame:
    """For each (series, t) of ``times``, the newest record with ``available_at <= t``:
    columns ``series``, ``t``, ``at`` (its available_at), ``value`` (null when none)."""
    # The first decision time that may use a record: available_at rounded up to the grid.
    first_t = (pl.col("available_at") - pl.duration(microseconds=1)).dt.truncate(BAR) + BAR
    slots = (
        records.sort(SERIES, "available_at", maintain_order=True)
        .group_by(SERIES, first_t.alias("t"), maintain_order=True)
        .agg(at=pl.col("available_at").last(), value=pl.col("value").last())
        .with_columns(_rid=pl.int_range(pl.len(), dtype=pl.Int64))
    )
    asks = times.select(SERIES, "t", _rid=pl.lit(None, pl.Int64))
    # records before asks at an equal t: a record available exactly at t is usable at t
    merged = pl.concat([slots.select(SERIES, "t", "_rid", _ask=pl.lit(False)), asks.with_columns(_ask=pl.lit(True))])
    carried = merged.sort(SERIES, "t", "_ask").with_columns(pl.col("_rid").forward_fill().over(SERIES)).filter(pl.col("_ask"))
    return carried.join(slots.select("_rid", "at", "value"), on="_rid", how="left").select(SERIES, "t", "at", "value")


def replay_frame(stored: pl.DataFrame, series_inputs: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """``stored`` (``partition`` + contract) with ``_at_<stream>`` / ``_v_<stream>`` columns."""
    times = stored.select(pl.col("partition").alias(SERIES), "t")
    out = stored
    for stream, records in _streams(series_inputs).items():
        found = newest_available(records, times).rename({SERIES: "partition", "at": f"_at_{stream}", "value": f"_v_{stream}"})
        out = out.join(found, on=["partition", "t"], how="left")
    return out


def _expected_derivatives_stamp() -> pl.Expr:
    used = {
        m: pl.any_horizontal([pl.col(f).is_not_null() for f, ms in DERIVATIVE_INPUTS.items() if m in ms])
        for m in sorted({m for ms in DERIVATIVE_INPUTS.values() for m in ms})
    }
    return pl.max_horizontal([pl.when(cond).then(pl.col(f"_at_{m}")) for m, cond in used.items()])


def rules(rtol: float, atol: float) -> dict[str, tuple[str, pl.Expr, pl.Expr, str]]:
    """Name -> (stored column, expected expression, mismatch mask, detail); the stored value
    is checked only where it is present (a missing one is the missing policy's business)."""
    asof = contract.ASOF_COLUMNS
    expected = {
        asof["bars"]: (pl.col("_at_bars"), "not the newest bar available at t"),
        asof["text"]: (pl.col("_at_text"), "not the newest text bucket available at t"),
        asof["derivatives"]: (_expected_derivatives_stamp(), "not the newest derivatives record behind the row's features"),
        contract.PROJECTION_FIT_END: (pl.col("_v_text"), "not the fit end of the newest text bucket available at t"),
        **{f: (pl.col(f"_v_{m}"), f"not the newest {m} available at t") for f, m in VALUE_FEATURES.items()},
    }
    out = {}
    for column, (want, detail) in expected.items():
        out[column] = (column, want, pl.col(column).is_not_null() & ~pl.col(column).eq_missing(want), detail)
    age = (pl.col("t") - pl.col(f"_at_{FUNDING}")).dt.total_microseconds() / HOUR_US
    stored_age = pl.col("funding_age_h")
    off = (stored_age - age).abs() > atol + rtol * age.abs()
    out["funding_age_h"] = (
        "funding_age_h",
        age,
        stored_age.is_not_null() & (age.is_null() | off.fill_null(True)),
        f"not the age of the newest {FUNDING} available at t",
    )
    return out
