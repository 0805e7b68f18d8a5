"""Synthetic 5m series for the evaluation tests: rows stamped like feature_matrix rows
(day D holds t = D 00:05 .. D+1 00:00), with a label that a skilled prediction knows."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl

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
    return pl.DataFrame({
        "t": grid(first, days),
        "prediction": skill * label + rng.normal(0.0, vol, n) * (1.0 - skill),
        "label": label,
        "vol": np.full(n, vol),
        "momentum": rng.normal(size=n),
    })


def frame(t: list[datetime], **columns) -> pl.DataFrame:
    return pl.DataFrame({"t": t, **columns}, schema_overrides={"t": pl.Datetime("us", "UTC")})
