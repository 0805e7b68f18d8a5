"""Shared pieces of the trading tests: a ledger, bars, orders and a recorded Binance."""

from __future__ import annotations

from datetime import datetime, timezone

from quant_assets_tests.recorded_exchange import RecordedExchange, fixture
from serving.execution.batch import Book
from serving.execution.live import LiveAdapter, live_exchange
from serving.execution.paper import Bar, PaperAdapter
from serving.records import OrderRequest
from serving.risk.checks import RiskLimits
from serving.settings import Credentials, PaperCosts

UTC = timezone.utc
BAR_T = datetime(2025, 10, 10, 12, 0, tzinfo=UTC)  # a decision bar of the recorded BTCUSDT day
NEXT_T = datetime(2025, 10, 10, 12, 5, tzinfo=UTC)
BTC_1205_OPEN = 121665.34  # the real open of BTCUSDT at 12:05 (fixtures/binance klines)

COSTS = PaperCosts(fee_bps=10, slippage_bps=1, max_volume_share=0.1)
LOOSE = RiskLimits(max_daily_loss=0.5, max_consecutive_losses=100, max_drawdown=0.5, max_position=1.0)
PAPER = Book("paper", "ref", "USDT", 100_000.0)
LIVE = Book("live", "ref", "USDT", 10_000.0)  # the account's USDT when the book opened

# A key and secret no one could mistake for anything else: the leak test greps for them.
FAKE = Credentials("QAFAKEKEY-7f3e9c1d-LEAKCANARY-KEY", "QAFAKESECRET-b2a4-LEAKCANARY-SECRET")


def order(symbol="BTC/USDT", side="buy", quantity=0.01, bar=BAR_T, mode="paper", strategy="ref", price=BTC_1205_OPEN):
    return OrderRequest(mode, strategy, symbol, side, quantity, bar, price)


def bars(table: dict[tuple[str, datetime], Bar]):
    """A paper bar lookup over ``{(symbol, open time): Bar}``."""
    return lambda symbol, ts: table.get((symbol, ts))


def paper(table=None, costs=COSTS) -> PaperAdapter:
    table = {("BTC/USDT", NEXT_T): Bar(BTC_1205_OPEN, 34.05098)} if table is None else table
    return PaperAdapter(bars(table), costs)


def echo_client_id(payload: dict):
    """A Binance order body carrying the request's client order id, as Binance echoes it."""

    def body(params: dict) -> dict:
        cid = params.get("newClientOrderId") or params.get("origClientOrderId")
        return {**payload, "clientOrderId": cid}

    return body


def binance_live(credentials: Credentials = FAKE) -> tuple[LiveAdapter, RecordedExchange]:
    """The live adapter on a real ccxt binance spot client served recorded payloads."""
    exchange = live_exchange("binance", "spot", credentials)
    recorded = RecordedExchange(exchange)
    recorded.route("/api/v3/exchangeInfo", fixture("binance", "api_v3_exchangeInfo.json"))
    return LiveAdapter(exchange), recorded


def errors() -> dict:
    return fixture("binance", "api_v3_order_errors.json")
