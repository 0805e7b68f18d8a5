"""Binance USD-M derivatives: the endpoints behind each metric, and taker volume.

- funding: ``fapi/v1/fundingRate`` (ccxt ``fetch_funding_rate_history``);
- mark: ``fapi/v1/markPriceKlines`` (ccxt ``fetch_ohlcv`` with ``price: mark``);
- open interest: ``futures/data/openInterestHist``, ``sumOpenInterestValue`` in USD;
- long/short: the global long/short *account* ratio, ``futures/data/globalLongShortAccountRatio``;
- taker buy/sell: ``futures/data/takerlongshortRatio`` (``buyVol``/``sellVol`` as Binance
  reports them), which ccxt does not unify: read here through its implicit method.

The three ``futures/data`` statistics cover about the last 30 days; an older ``startTime`` is
refused with HTTP 400, which is why the shared fetcher starts them at a floor.
"""

from __future__ import annotations

import ccxt


def taker_volume(exchange: ccxt.Exchange, symbol: str, since: int, until: int, limit: int) -> list[tuple]:
    """Hourly ``(ms, buy volume, sell volume)`` of a linear perpetual over ``[since, until)``."""
    market = exchange.market(symbol)
    if not market.get("linear"):
        raise ccxt.NotSupported(f"{exchange.id} taker volume is read for linear perpetuals only, not {symbol}")
    page = exchange.fapiDataGetTakerlongshortRatio({"symbol": market["id"], "period": "1h", "startTime": since, "endTime": until - 1, "limit": limit})
    return [(exchange.safe_integer(r, "timestamp"), exchange.safe_number(r, "buyVol"), exchange.safe_number(r, "sellVol")) for r in page]
