"""Forward log-return labels, one row per feature decision time ``t``.

For horizon ``h`` the label is ``ln(close(t + h) / close(t))``, where ``close(x)`` is the
close of the 5m bar that closes at ``x`` (opened at ``x - 5m``); net of cost it is that minus
``-ln(1 - round-trip cost)``, the return a long round trip keeps. The label becomes known
when the bar closing at ``t + h`` does: ``label_available_at_<h> = t + h``.

A label whose bars are not (yet) in the lake is null and flagged ``label_missing_<h>``: the
newest days fill in on a later materialization, once their horizon has passed. Nothing is
interpolated across a gap.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from quant_assets.features.inputs import decision_grid
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS
from quant_assets.partitions import DaySymbol
from quant_assets.timegrid import TS_DTYPE

LABELS_ASSET = "labels"
KEY_COLUMN = "t"


def gross_column(h: str) -> str:
    return f"fwd_ret_{h}"


def net_column(h: str) -> str:
    return f"fwd_ret_net_{h}"


def available_column(h: str) -> str:
    return f"label_available_at_{h}"


def missing_column(h: str) -> str:
    return f"label_missing_{h}"


LABEL_SCHEMA: dict[str, pl.DataType] = {
    KEY_COLUMN: TS_DTYPE,
    "close_t": pl.Float64(),
    **{gross_column(h): pl.Float64() for h in HORIZON_NAMES},
    **{net_column(h): pl.Float64() for h in HORIZON_NAMES},
    **{available_column(h): TS_DTYPE for h in HORIZON_NAMES},
    **{missing_column(h): pl.Boolean() for h in HORIZON_NAMES},
}


def empty_labels() -> pl.DataFrame:
    return pl.DataFrame(schema=LABEL_SCHEMA)


def decision_times(parts: list[DaySymbol], now: datetime | None = None) -> pl.DataFrame:
    """(partition, symbol, t) for every part: the feature matrix's own decision grid."""
    rows = [(str(p), p.symbol, t) for p in parts for t in decision_grid(p, now)]
    return pl.DataFrame(rows, schema={"partition": pl.String(), "symbol": pl.String(), KEY_COLUMN: TS_DTYPE}, orient="row")


def forward_labels(bars: pl.DataFrame, parts: list[DaySymbol], log_cost: float, now: datetime | None = None) -> pl.DataFrame:
    """Labels for every part, in one vectorised pass.

    ``bars`` holds at least ``symbol``, ``available_at`` (the bar's close time) and ``close``
    for the days each part needs (D..D+7). Returns ``partition`` plus ``LABEL_SCHEMA``,
    sorted by partition and ``t``.
    """
    closes = bars.select(
        pl.col("symbol").cast(pl.String), pl.col("available_at").cast(TS_DTYPE).alias("_close_time"), pl.col("close").cast(pl.Float64)
    ).unique(["symbol", "_close_time"], keep="first")
    frame = decision_times(parts, now).join(
        closes.rename({"close": "close_t"}), left_on=["symbol", KEY_COLUMN], right_on=["symbol", "_close_time"], how="left"
    )
    for h in HORIZON_NAMES:
        ahead = closes.rename({"close": "_close_h"})
        frame = (
            frame.with_columns(_at=pl.col(KEY_COLUMN) + HORIZONS[h])
            .join(ahead, left_on=["symbol", "_at"], right_on=["symbol", "_close_time"], how="left")
            .with_columns(
                (pl.col("_close_h") / pl.col("close_t")).log().alias(gross_column(h)),
            )
            .with_columns(
                (pl.col(gross_column(h)) - log_cost).alias(net_column(h)),
                pl.when(pl.col(gross_column(h)).is_not_null()).then(pl.col("_at")).alias(available_column(h)),
                pl.col(gross_column(h)).is_null().alias(missing_column(h)),
            )
            .drop("_at", "_close_h")
        )
    return frame.select("partition", *[pl.col(c).cast(t) for c, t in LABEL_SCHEMA.items()]).sort("partition", KEY_COLUMN)


def coverage(frame: pl.DataFrame) -> dict[str, float]:
    """Share of rows with a known label, per horizon."""
    if frame.is_empty():
        return {h: 0.0 for h in HORIZON_NAMES}
    return {h: round(1.0 - frame[missing_column(h)].mean(), 6) for h in HORIZON_NAMES}
