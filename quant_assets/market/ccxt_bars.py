"""Fetch closed 5m bars for a time window through ccxt's unified ``fetch_ohlcv``."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

import ccxt
import polars as pl

from quant_assets.exchange import call_with_retries
from quant_assets.market.bars import bars_from_ohlcv, only_closed
from quant_assets.timegrid import BAR_MS, to_ms


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
    overlap; an empty or stale page ends the loop (the exchange has nothing newer).
    """
    rows: list[list[float]] = []
    since, stop = to_ms(start), min(to_ms(end), to_ms(now))
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
        rows.extend(row for row in page if row[0] < to_ms(end))
        since = int(page[-1][0]) + BAR_MS
    source = f"ccxt:{exchange.id}"
    return only_closed(bars_from_ohlcv(rows, source), now)
