"""Shared pieces of the trading tests: a ledger, bars, orders and a recorded Binance."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from quant_assets.settings import REPO_ROOT
from quant_assets_tests.binance_double import BinanceDouble
from quant_assets_tests.recorded_exchange import RecordedExchange, fixture
from serving.execution.batch import BatchResult, Book, run_batch
from serving.execution.live import LiveAdapter, live_exchange
from serving.execution.paper import Bar, PaperAdapter
from serving.ledger import Ledger
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


# The live book's marks: the recorded BTCUSDT open and the double's ETH and SOL books.
LIVE_MARKS = {"BTC/USDT": BTC_1205_OPEN, "ETH/USDT": 4300.0, "SOL/USDT": 220.0}


@dataclass
class Desk:
    """One live book trading on the stateful Binance double: its ledger, a ccxt client whose
    clock is the venue's test clock, and a batch runner on that clock. Build one per process
    (``Desk.open``); the venue's state file and the ledger's URL are what processes share."""

    ledger: Ledger
    venue: BinanceDouble
    adapter: LiveAdapter
    recorded: RecordedExchange

    @classmethod
    def open(cls, ledger_url: str, venue_file: Path | None) -> "Desk":
        return cls.on(Ledger.open(ledger_url), BinanceDouble(venue_file))

    @classmethod
    def on(cls, ledger: Ledger, venue: BinanceDouble) -> "Desk":
        exchange = live_exchange("binance", "spot", FAKE)
        recorded = venue.attach(exchange)
        return cls(ledger, venue, LiveAdapter(exchange), recorded)

    def batch(self, bar: datetime, orders: list, limits: RiskLimits = LOOSE, **kw) -> BatchResult:
        return run_batch(self.ledger, self.adapter, LIVE, bar, orders, LIVE_MARKS, limits, keys_present=True, clock=self.venue.clock, **kw)


def live_order(symbol="BTC/USDT", side="buy", quantity=None, bar=BAR_T):
    quantity = quantity if quantity is not None else {"BTC/USDT": 0.01, "ETH/USDT": 0.1, "SOL/USDT": 2.0}[symbol]
    return order(symbol=symbol, side=side, quantity=quantity, bar=bar, mode="live", price=LIVE_MARKS[symbol])


def bar(n: int) -> datetime:
    """The ``n``-th decision bar after ``BAR_T``."""
    return BAR_T + timedelta(minutes=5 * n)


def kill_at_step(code: str, *args: str, marker: Path) -> None:
    """Run ``python -c code *args`` until it writes ``marker`` (its batch reached the step it
    waits at), then SIGKILL it: no cleanup, no finally, as a power cut."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.stderr.read()
        assert time.monotonic() < deadline, "the child never reached the step"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
