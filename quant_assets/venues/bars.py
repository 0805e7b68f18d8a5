"""Fetch closed 5m bars for a time window through ccxt's unified ``fetch_ohlcv``, any venue."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

import ccxt
import polars as pl

from quant_assets.market.bars import bars_from_ohlcv, only_closed
from quant_assets.timegrid import BAR_MS, to_ms
from quant_assets.venues.client import call_with_retries


def closed_bars_stop_ms(end: datetime, now: datetime) -> int:
    """Open time (ms) before which every bar is closed by ``now`` and inside ``[.., end)``.

    A bar opened at ``t`` is closed once ``t + 5m <= now``; on the 5m grid that is
    ``t < floor_5m(now)``. At 12:07 the 12:05 bar is still forming and 12:00 is the last one.
    """
    now_ms = to_ms(now)
    return min(to_ms(end), now_ms - now_ms % BAR_MS)


def fetch_bars(
    exchange: ccxt.Exchange,
    symbol: str,
    start: datetime,
    end: datetime,
    now: datetime,
    limit: int = 1000,
    sleep: Callable[[float], None] | None = None,
) -> pl.DataFrame:
    """Bars opened in ``[start, end)`` and closed by ``now``, paginated by ``since``.

    Each page asks for bars from the bar after the last one received, so pages never
    overlap, and a page shorter than ``limit`` is not taken for the end (ccxt clamps a page to
    the venue's own maximum, 1000 bars or fewer). An empty or stale page ends the loop:
    the exchange has nothing newer. The loop never asks past the last closed bar, but
    ``until``/``endTime`` is deliberately not sent (not every ccxt exchange understands it),
    so rows past the window in a page, such as the bar still forming that a venue returns,
    are dropped here.
    """
    rows: list[list[float]] = []
    since, stop = to_ms(start), closed_bars_stop_ms(end, now)
    retry_kwargs = {"sleep": sleep} if sleep else {}
    while since < stop:
        page = call_with_retries(
            lambda: exchange.fetch_ohlcv(symbol, "5m", since=since, limit=limit),
            what=f"{exchange.id} fetch_ohlcv {symbol} since {since}",
            **retry_kwargs,
        )
        page = [row for row in page if row[0] >= since]
        if not page:
            break
        rows.extend(row for row in page if row[0] < stop)
        since = int(page[-1][0]) + BAR_MS
    source = f"ccxt:{exchange.id}"
    # Belt and braces: a bar is kept only once ``available_at <= now``.
    return only_closed(bars_from_ohlcv(rows, source), now)
