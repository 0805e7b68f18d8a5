"""Shared pieces of the trading tests: a ledger, bars, orders and a recorded Binance."""

from __future__ import annotations

from datetime import datetime, timezone

from serving.records import OrderRequest

UTC = timezone.utc
BAR_T = datetime(2025, 10, 10, 12, 0, tzinfo=UTC)  # a decision bar of the recorded BTCUSDT day
NEXT_T = datetime(2025, 10, 10, 12, 5, tzinfo=UTC)
BTC_1205_OPEN = 121665.34  # the real open of BTCUSDT at 12:05 (fixtures/binance klines)

def order(symbol="BTC/USDT", side="buy", quantity=0.01, bar=BAR_T, mode="paper", strategy="ref", price=BTC_1205_OPEN):
    return OrderRequest(mode, strategy, symbol, side, quantity, bar, price)
