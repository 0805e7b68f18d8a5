"""Training sets: feature rows joined to their labels, inside the fit window, purged.

The model's inputs are the feature contract's features and missing flags, in contract order
(:func:`input_columns`); nothing else in the feature matrix, whatever it holds, reaches a
fit. Per horizon, a row trains only if its label is known (not missing) and was known by the
fit end (``label_available_at_<h> <= fit_end``): a row whose label would only be known later
is purged, whatever the embargo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from quant_assets.features import contract
from quant_assets.labels.forward import available_column, gross_column, missing_column
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.window import FitWindow


def input_columns() -> list[str]:
    """The model's input columns: the contract's features, then its missing flags."""
    return [*contract.FEATURE_NAMES, *contract.FLAG_NAMES]


def design_matrix(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """float64 matrix of ``columns``; nulls become NaN, flags 0/1."""
    if frame.height == 1:  # serving's one row: Python floats beat polars' per-column casts (~0.1 vs ~1.2 ms)
        values = frame.row(0, named=True)
        return np.array([[np.nan if (v := values[c]) is None else float(v) for c in columns]], dtype=np.float64)
    return frame.select(columns).cast(pl.Float64).fill_null(float("nan")).to_numpy()


@dataclass
class TrainingSet:
    t: np.ndarray  # decision times (datetime64[us]) of the rows
    x: np.ndarray  # [rows, inputs]
    y: np.ndarray  # [rows, horizons] gross forward log returns; NaN where not usable
    label_available_at: np.ndarray  # [rows, horizons] datetime64[us]; NaT where not usable
    columns: list[str]

    @property
    def usable(self) -> np.ndarray:
        return ~np.isnan(self.y)

    def summary(self) -> dict[str, dict[str, str | int]]:
        """Per horizon: rows used, newest t and newest label_available_at among them."""
        out = {}
        for j, h in enumerate(HORIZON_NAMES):
            used = self.usable[:, j]
            out[h] = {
                "rows": int(used.sum()),
                "t_max": str(self.t[used].max()) if used.any() else "",
                "label_available_at_max": str(self.label_available_at[used, j].max()) if used.any() else "",
            }
        return out


def training_set(features: pl.DataFrame, labels: pl.DataFrame, window: FitWindow) -> TrainingSet:
    """Rows with ``window.start < t <= window.end``, each horizon purged at the fit end."""
    columns = input_columns()
    joined = features.filter((pl.col("t") > window.start) & (pl.col("t") <= window.end)).join(labels, on="t", how="inner").sort("t")
    ys, avails = [], []
    for h in HORIZON_NAMES:
        keep = ~pl.col(missing_column(h)) & (pl.col(available_column(h)) <= window.end)
        ys.append(joined.select(pl.when(keep).then(pl.col(gross_column(h))).otherwise(None).fill_null(float("nan"))).to_series().to_numpy())
        avails.append(joined.select(pl.when(keep).then(pl.col(available_column(h)))).to_series().to_numpy())
    return TrainingSet(
        t=joined["t"].dt.replace_time_zone(None).to_numpy(),
        x=design_matrix(joined, columns),
        y=np.column_stack(ys).astype(np.float64),
        label_available_at=np.column_stack([a.astype("datetime64[us]") for a in avails]),
        columns=columns,
    )
