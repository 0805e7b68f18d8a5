"""The recorded-exchange helper that every exchange-backed test relies on."""

from __future__ import annotations

import ccxt
import pytest

from quant_assets.venues.client import make_exchange
from quant_assets_tests.recorded_exchange import (
    RecordedExchange,
    UnroutedRequest,
    fixture,
    http_error,
    windowed,
)

ROWS = [[t, str(t)] for t in (100, 200, 300, 400, 500)]


def recorded_binance() -> tuple[ccxt.Exchange, RecordedExchange]:
    exchange = make_exchange("binance", "spot")
    recorded = RecordedExchange(exchange)
    recorded.route("/api/v3/exchangeInfo", fixture("binance", "api_v3_exchangeInfo.json"))
    return exchange, recorded


def test_unrouted_request_fails_the_test_loudly():
    exchange, recorded = recorded_binance()
    with pytest.raises(UnroutedRequest, match="/api/v3/klines"):
        exchange.fetch_ohlcv("BTC/USDT", "5m")
    assert recorded.requests[-1].path == "/api/v3/klines" and recorded.requests[-1].status is None


def test_replies_are_used_in_order_and_the_last_one_repeats():
    exchange, recorded = recorded_binance()
    recorded.route("/api/v3/klines", http_error(503, ""), [[0, "1", "2", "0.5", "1.5", "10"]])
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.fetch_ohlcv("BTC/USDT", "5m")
    for _ in range(2):
        assert exchange.fetch_ohlcv("BTC/USDT", "5m") == [[0, 1.0, 2.0, 0.5, 1.5, 10.0]]
    assert [r.status for r in recorded.requests_to("/api/v3/klines")] == [503, 200, 200]


def test_routes_match_on_query_parameters():
    exchange, recorded = recorded_binance()
    recorded.route("/api/v3/klines", [[0, "1", "1", "1", "1", "1"]], when={"symbol": "BTCUSDT"})
    recorded.route("/api/v3/klines", [[0, "2", "2", "2", "2", "2"]], when=lambda q: q["symbol"] == "ETHUSDT")
    assert exchange.fetch_ohlcv("ETH/USDT", "5m")[0][1] == 2.0
    assert exchange.fetch_ohlcv("BTC/USDT", "5m")[0][1] == 1.0


def test_windowed_pages_like_binance():
    page = windowed(ROWS, default_limit=2, max_limit=3)
    assert page({"startTime": "200"}) == ROWS[1:3]  # oldest first from the start
    assert page({"startTime": "200", "limit": "10"}) == ROWS[1:4]  # limit clamped to max
    assert page({"startTime": "200", "endTime": "300", "limit": "3"}) == ROWS[1:3]
    assert page({"endTime": "400"}) == ROWS[2:4]  # no start: the newest before the end
    assert page({}) == ROWS[3:]
    assert windowed(ROWS, now_ms=350)({"startTime": "0"}) == ROWS[:3]  # later rows do not exist yet
