"""A partition big enough to stop a writer halfway through (~17 MB of parquet): the crash tests'
child processes import it (random prices; only its size matters)."""

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl


def big_bars(n: int = 400_000) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    start = datetime(2025, 10, 6, tzinfo=timezone.utc)
    ts = pl.datetime_range(start, start + timedelta(seconds=n - 1), "1s", eager=True, time_unit="us")
    return pl.DataFrame({
        "ts": ts, "available_at": ts + timedelta(minutes=5),
        "open": rng.random(n), "high": rng.random(n), "low": rng.random(n),
        "close": rng.random(n), "volume": rng.random(n), "source": ["big"] * n,
    })  # fmt: skip
