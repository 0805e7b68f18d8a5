"""The 5-minute decision grid shared by every time-stamped source."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

BAR = timedelta(minutes=5)
BAR_MS = 5 * 60 * 1000
BARS_PER_DAY = 288
TS_DTYPE = pl.Datetime("us", "UTC")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def floor_to_bar(moment: datetime) -> datetime:
    epoch_s = int(moment.timestamp())
    return datetime.fromtimestamp(epoch_s - epoch_s % 300, tz=timezone.utc)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
