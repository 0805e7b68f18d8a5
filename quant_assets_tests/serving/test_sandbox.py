"""Sandbox mode, the step between paper and live: the live path on the venue's testnet with
testnet keys, behind ccxt's real request code (the recorded exchange replaces only HTTP). A
sandbox order goes to Binance's testnet host and never to api.binance.com; each mode refuses
the other's keys, in the sensor and where the trader is built; testnet fills stay out of the
real live book."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlsplit

import ccxt
import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context

from quant_assets.resources.market_data import BundleMarketData
from quant_assets_tests.recorded_exchange import RecordedExchange, fixture
from quant_assets_tests.serving.trading_fixtures import BAR_T, BTC_1205_OPEN, FAKE, LOOSE, echo_client_id, order
from serving import jobs
from serving.execution.batch import Book, run_batch
from serving.execution.live import LiveAdapter
from serving.ledger import Ledger
from serving.settings import REAL_KEYS, SANDBOX_KEYS, ExchangeAccount, exchange_account

TESTNET_KEYS = {"sandbox_api_key": "QATESTNETKEY-LEAKCANARY", "sandbox_secret": "QATESTNETSECRET-LEAKCANARY"}
REAL = {"api_key": FAKE.api_key, "secret": FAKE.secret}


def _venue(account: ExchangeAccount) -> tuple[LiveAdapter, RecordedExchange]:
    """The live adapter on the client ``jobs.live_client`` builds, served recorded replies."""
    exchange = jobs.live_client(account, "binance", "spot")
    recorded = RecordedExchange(exchange)
    recorded.route("/api/v3/exchangeInfo", fixture("binance", "api_v3_exchangeInfo.json"))
    recorded.route("/api/v3/order", echo_client_id(fixture("binance", "api_v3_order_market_buy_full.json")))
    return LiveAdapter(exchange), recorded


def _trade(account: ExchangeAccount, ledger: Ledger) -> tuple[set[str], Book]:
    adapter, recorded = _venue(account)
    book = Book("live", account.strategy("ref"), "USDT", 10_000.0)
    placed = order(mode="live", strategy=book.strategy)
    result = run_batch(ledger, adapter, book, BAR_T, [placed], {"BTC/USDT": BTC_1205_OPEN}, LOOSE, keys_present=True)
    assert result.new_fills >= 1 and recorded.requests_to("/api/v3/order")
    return {urlsplit(r.url).hostname for r in recorded.requests}, book


def test_a_sandbox_order_goes_to_the_testnet_and_stays_out_of_the_live_book(ledger):
    ledger.journal.set_live_enabled(True, "ana", "testnet drill")
    hosts, book = _trade(ExchangeAccount(sandbox=True, **TESTNET_KEYS), ledger)
    assert hosts == {urlsplit(ccxt.binance().urls["test"]["private"]).hostname} == {"testnet.binance.vision"}
    assert book.strategy == "ref-testnet"
    assert ledger.bookkeeping.positions("live", "ref") == [] and ledger.bookkeeping.positions("live", "ref-testnet")  # its own book

    real, _ = _trade(ExchangeAccount(**REAL), ledger)  # the same code without sandbox: the real host
    assert real == {"api.binance.com"}


@pytest.mark.parametrize(
    "account, refused",
    [
        (ExchangeAccount(sandbox=True, **REAL, **TESTNET_KEYS), REAL_KEYS[0]),  # real keys while sandbox is on
        (ExchangeAccount(sandbox=False, **REAL, **TESTNET_KEYS), SANDBOX_KEYS[0]),  # testnet keys while it is off
        (ExchangeAccount(sandbox=True, **REAL), REAL_KEYS[0]),
        (ExchangeAccount(sandbox=True), SANDBOX_KEYS[0]),  # no testnet keys at all
    ],
    ids=["real-keys-in-sandbox", "testnet-keys-live", "only-real-keys-in-sandbox", "no-testnet-keys"],
)
def test_each_mode_refuses_the_other_modes_keys(account, refused):
    line = account.refusal()
    assert line and refused in line and "\n" not in line
    assert account.credentials() is None
    with pytest.raises(RuntimeError, match=refused):
        jobs.live_client(account, "binance", "spot")  # build_trader's client: nothing is built, nothing sent
    for secret in (*REAL.values(), *TESTNET_KEYS.values()):
        assert secret not in line


def test_the_live_sensor_records_the_refusal_as_its_skip_reason(home, monkeypatch):
    now = datetime(2025, 11, 10, 12, 3, tzinfo=timezone.utc)
    monkeypatch.setattr(jobs, "utc_now", lambda: now)
    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", "BTC-USDT")  # the served home's one symbol
    for name in (*REAL_KEYS, *SANDBOX_KEYS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QUANT_ASSETS_EXCHANGE_SANDBOX", "true")
    monkeypatch.setenv(REAL_KEYS[0], FAKE.api_key)
    monkeypatch.setenv(REAL_KEYS[1], FAKE.secret)
    Ledger.open().journal.set_live_enabled(True, "ana", "testnet drill")

    def evaluate():
        resources = {"market_data": BundleMarketData(bundles_root=str(home / "bundles")), "exchange_account": exchange_account()}
        with DagsterInstance.ephemeral() as instance:
            return jobs.live_trading_sensor(build_sensor_context(instance=instance, resources=resources))

    skipped = evaluate()
    assert isinstance(skipped, SkipReason) and "real keys are refused" in skipped.skip_message
    assert FAKE.api_key not in skipped.skip_message
    for name in REAL_KEYS:
        monkeypatch.delenv(name)
    monkeypatch.setenv(SANDBOX_KEYS[0], TESTNET_KEYS["sandbox_api_key"])
    monkeypatch.setenv(SANDBOX_KEYS[1], TESTNET_KEYS["sandbox_secret"])
    request = evaluate()  # testnet keys in sandbox mode: the tick is requested
    assert isinstance(request, RunRequest) and request.run_config["ops"]["run_trading_tick"]["config"]["mode"] == "live"
    monkeypatch.setenv("QUANT_ASSETS_EXCHANGE_SANDBOX", "false")
    assert "testnet keys are refused" in evaluate().skip_message
