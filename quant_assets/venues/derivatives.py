"""Pull perpetual-futures data through ccxt, paginated, keeping only what is known at ``now``.

- funding: unified ``fetch_funding_rate_history``, paged by ``since`` (last funding time + 1ms);
- mark: unified ``fetch_ohlcv(..., '1h', params={'price': 'mark'})``;
- open interest: unified ``fetch_open_interest_history(symbol, '1h', ...)``, ``openInterestValue`` (USD);
- long/short: unified ``fetch_long_short_ratio_history(symbol, '1h', ...)``;
- taker buy/sell: no unified method; the venue's own endpoint (``Venue.taker_volume``), where
  it has one.

Each venue's ``derivatives`` module says which of its endpoints these reach. The three hourly
statistics are served only for a recent window (older requests are refused), so they are
requested from :func:`stats_history_floor` on, in fixed windows of ``limit`` hours. A window
the exchange answers with nothing is not the end of the data (the next may hold some): every
window is asked. Slots with no record become explicit missing rows downstream, never zeros.

Every call goes through :func:`quant_assets.venues.client.call_with_retries`: transient errors
are retried, anything else (an unknown symbol, a refused parameter) fails naming the call.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Callable

import ccxt
import polars as pl

from quant_assets import venues
from quant_assets.derivatives.frame import (
    FUNDING,
    HOUR,
    LONG_SHORT,
    MARK,
    OPEN_INTEREST,
    TAKER_BUY,
    TAKER_SELL,
    empty_observations,
    last_closed_hour,
    observations,
)
from quant_assets.timegrid import to_ms
from quant_assets.venues.client import call_with_retries

HOUR_MS = 3_600_000

Retry = dict  # keyword arguments for call_with_retries (sleep, base_delay_s)


def stats_history_floor(now: datetime, history_days: float, margin: timedelta = HOUR) -> datetime:
    """The oldest hour worth asking the statistics endpoints for.

    ``now - history_days`` rounded up to the hour, plus a margin: a request made a little
    later than ``now`` must not fall off the exchange's window and be refused.
    """
    oldest = now - timedelta(days=history_days)
    floor = oldest.replace(minute=0, second=0, microsecond=0)
    if floor < oldest:
        floor += HOUR
    return floor + margin


def _call(exchange: ccxt.Exchange, what: str, fn: Callable, retry: Retry):
    return call_with_retries(fn, what=f"{exchange.id} {what}", **retry)


def fetch_funding(
    exchange: ccxt.Exchange,
    symbol: str,
    key: str,
    start: datetime,
    end: datetime,
    now: datetime,
    limit: int = 1000,
    retry: Retry | None = None,
) -> pl.DataFrame:
    """Funding events with ``start <= funding time < end`` and funding time ``<= now``."""
    retry = retry or {}
    since, stop = to_ms(start), min(to_ms(end), to_ms(now) + 1)
    stamps, values = [], []
    while since < stop:
        page = _call(
            exchange,
            f"fetch_funding_rate_history {symbol} since {since}",
            lambda: exchange.fetch_funding_rate_history(symbol, since=since, limit=limit, params={"until": stop - 1}),
            retry,
        )
        page = [r for r in page if r["timestamp"] is not None and r["timestamp"] >= since]
        if not page:
            break
        for record in page:
            if record["timestamp"] < stop:
                stamps.append(int(record["timestamp"]))
                values.append(record["fundingRate"])
        since = int(page[-1]["timestamp"]) + 1
    return observations(key, FUNDING, stamps, values, f"ccxt:{exchange.id}")


def fetch_mark(
    exchange: ccxt.Exchange,
    symbol: str,
    key: str,
    start: datetime,
    end: datetime,
    now: datetime,
    limit: int = 1000,
    retry: Retry | None = None,
) -> pl.DataFrame:
    """Closes of the 1h mark-price candles opened in ``[start, end)`` that closed by ``now``."""
    retry = retry or {}
    since = to_ms(start)
    stop = min(to_ms(end), to_ms(last_closed_hour(now)) + HOUR_MS)
    stamps, values = [], []
    while since < stop:
        page = _call(
            exchange,
            f"fetch_ohlcv mark 1h {symbol} since {since}",
            lambda: exchange.fetch_ohlcv(symbol, "1h", since=since, limit=limit, params={"price": "mark", "until": stop - 1}),
            retry,
        )
        page = [row for row in page if row[0] >= since]
        if not page:
            break
        for row in page:
            if row[0] < stop:
                stamps.append(int(row[0]))
                values.append(row[4])
        since = int(page[-1][0]) + HOUR_MS
    return observations(key, MARK, stamps, values, f"ccxt:{exchange.id}")


def _stat_windows(start: datetime, end: datetime, now: datetime, floor: datetime, limit: int) -> list[tuple[int, int]]:
    """``[since, until)`` ms windows of ``limit`` hours covering closed hours in ``[max(start, floor), end)``."""
    first = to_ms(max(start, floor))
    stop = min(to_ms(end), to_ms(last_closed_hour(now)) + HOUR_MS)
    return [(w, min(w + limit * HOUR_MS, stop)) for w in range(first, stop, limit * HOUR_MS)]


def _fetch_windows(
    exchange: ccxt.Exchange, what: str, windows: list[tuple[int, int]], request: Callable[[int, int], list[tuple]], retry: Retry
) -> list[tuple]:
    rows = []
    for since, until in windows:
        page = _call(exchange, f"{what} {since}..{until}", lambda: request(since, until), retry)
        rows.extend(r for r in page if r[0] is not None and since <= r[0] < until)
    return rows


def fetch_open_interest(
    exchange: ccxt.Exchange,
    symbol: str,
    key: str,
    start: datetime,
    end: datetime,
    now: datetime,
    floor: datetime,
    limit: int = 500,
    retry: Retry | None = None,
) -> pl.DataFrame:
    """Hourly open-interest value (USD), stamped at the hour's open, from ``floor`` on."""

    def request(since: int, until: int) -> list[tuple]:
        page = exchange.fetch_open_interest_history(symbol, "1h", since=since, limit=limit, params={"until": until - 1})
        return [(r["timestamp"], r["openInterestValue"]) for r in page]

    rows = _fetch_windows(exchange, f"fetch_open_interest_history 1h {symbol}", _stat_windows(start, end, now, floor, limit), request, retry or {})
    return observations(key, OPEN_INTEREST, [r[0] for r in rows], [r[1] for r in rows], f"ccxt:{exchange.id}")


def fetch_long_short(
    exchange: ccxt.Exchange,
    symbol: str,
    key: str,
    start: datetime,
    end: datetime,
    now: datetime,
    floor: datetime,
    limit: int = 500,
    retry: Retry | None = None,
) -> pl.DataFrame:
    """Hourly global long/short account ratio, stamped at the hour's open, from ``floor`` on."""

    def request(since: int, until: int) -> list[tuple]:
        page = exchange.fetch_long_short_ratio_history(symbol, "1h", since=since, limit=limit, params={"until": until - 1})
        return [(r["timestamp"], r["longShortRatio"]) for r in page]

    rows = _fetch_windows(exchange, f"fetch_long_short_ratio_history 1h {symbol}", _stat_windows(start, end, now, floor, limit), request, retry or {})
    return observations(key, LONG_SHORT, [r[0] for r in rows], [r[1] for r in rows], f"ccxt:{exchange.id}")


def has_taker_endpoint(exchange: ccxt.Exchange) -> bool:
    return venues.get(exchange.id).serves_taker_volume


def fetch_taker(
    exchange: ccxt.Exchange,
    symbol: str,
    key: str,
    start: datetime,
    end: datetime,
    now: datetime,
    floor: datetime,
    limit: int = 500,
    retry: Retry | None = None,
) -> pl.DataFrame:
    """Hourly taker buy and sell volume, stamped at the hour's open, from ``floor`` on."""
    if not has_taker_endpoint(exchange):
        return empty_observations()
    endpoint = venues.get(exchange.id).taker_volume
    rows = _fetch_windows(
        exchange,
        f"takerlongshortRatio 1h {symbol}",
        _stat_windows(start, end, now, floor, limit),
        lambda since, until: endpoint(exchange, symbol, since, until, limit),
        retry or {},
    )
    source = f"ccxt:{exchange.id}"
    stamps = [r[0] for r in rows]
    return pl.concat(
        [
            observations(key, TAKER_BUY, stamps, [r[1] for r in rows], source),
            observations(key, TAKER_SELL, stamps, [r[2] for r in rows], source),
        ]
    )


def history_note(start: datetime, floor: datetime, exchange_id: str, history_days: float) -> str | None:
    """Why statistics slots before ``floor`` are missing, for the partition metadata."""
    if start >= floor:
        return None
    return (
        f"{exchange_id} serves open interest, long/short and taker statistics for about "
        f"{math.floor(history_days)} days; hours before {floor.isoformat()} are flagged missing"
    )
