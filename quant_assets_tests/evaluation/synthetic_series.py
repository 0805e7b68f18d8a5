"""Synthetic 5m series for the evaluation tests: rows stamped like feature_matrix rows
(day D holds t = D 00:05 .. D+1 00:00), with a label that a skilled prediction knows."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl

from quant_assets.labels.forward import LABEL_SCHEMA, available_column, gross_column, missing_column, net_column
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS

UTC = timezone.utc
FIVE_MIN = timedelta(minutes=5)
HOUR = timedelta(hours=1)


def grid(first: date, days: int) -> list[datetime]:
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return [start + FIVE_MIN * i for i in range(1, 288 * days + 1)]


def series(first: date, days: int, *, skill: float, seed: int, vol: float = 0.01) -> pl.DataFrame:
    """``label`` ~ N(0, vol); ``prediction`` = skill * label + noise (skill 0: pure noise);
    ``momentum`` an independent coin, so the momentum baseline has no edge."""
    rng = np.random.default_rng(seed)
    n = 288 * days
    label = rng.normal(0.0, vol, n)
    return pl.DataFrame(
        {
            "t": grid(first, days),
            "prediction": skill * label + rng.normal(0.0, vol, n) * (1.0 - skill),
            "label": label,
            "vol": np.full(n, vol),
            "momentum": rng.normal(size=n),
        }
    )


def frame(t: list[datetime], **columns) -> pl.DataFrame:
    return pl.DataFrame({"t": t, **columns}, schema_overrides={"t": pl.Datetime("us", "UTC")})


def oos_day(day: date, *, seed: int = 0, known=HORIZON_NAMES, cost: float = 0.0022):
    """One day's (feature_matrix columns oos_eval reads, labels partition, predictions of two
    families): random, with the labels of the horizons not in ``known`` missing and flagged."""
    rng = np.random.default_rng(seed)
    t = grid(day, 1)
    n = len(t)
    features = pl.DataFrame(
        {
            "t": t,
            **{c: rng.uniform(0.002, 0.02, n) for c in ("rv_1h", "rv_4h", "rv_1d")},
            **{c: rng.normal(0, 0.01, n) for c in ("ret_1h", "ret_4h", "ret_1d")},
        }
    )
    labels = {"t": t, "close_t": np.full(n, 100.0)}
    for h in HORIZON_NAMES:
        gross = rng.normal(0, 0.01, n) if h in known else np.full(n, np.nan)
        labels[gross_column(h)] = gross
        labels[net_column(h)] = gross - cost
        labels[available_column(h)] = [x + HORIZONS[h] if h in known else None for x in t]
        labels[missing_column(h)] = np.full(n, h not in known)
    labels = pl.DataFrame(labels).with_columns(pl.col(pl.Float64).fill_nan(None)).cast(LABEL_SCHEMA)
    predictions = {f: rng.normal(0, 0.01, (n, len(HORIZON_NAMES))) for f in ("lgbm", "lgbm_no_text")}
    return features, labels, predictions
