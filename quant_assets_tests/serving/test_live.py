"""The live adapter through ccxt's real Binance request building, error mapping and parsing,
served recorded order, trade and error payloads (fixtures/binance). No network."""

from __future__ import annotations

import ccxt
import pytest

from quant_assets_tests.recorded_exchange import fixture, http_error, network_error
from quant_assets_tests.serving.trading_fixtures import BAR_T, BTC_1205_OPEN, LIVE, LOOSE, binance_live, echo_client_id, errors, live_order
from serving.execution.batch import run_batch
from serving.records import FILLED, NEW, REJECTED

ORDER = "/api/v3/order"
TRADES = "/api/v3/myTrades"


def serve_filled_order(recorded):
    recorded.route(ORDER, echo_client_id(fixture("binance", "api_v3_order_market_buy_full.json")))


def serve_lookup(recorded):
    recorded.route(ORDER, echo_client_id(fixture("binance", "api_v3_order_query_filled.json")), when=lambda q: "origClientOrderId" in q)
    recorded.route(TRADES, fixture("binance", "api_v3_myTrades_order.json"), when={"orderId": "52218341702"})


def test_a_market_order_carries_our_client_order_id_and_is_cut_to_the_market_precision():
    adapter, recorded = binance_live()
    serve_filled_order(recorded)
    want = live_order(quantity=0.0100049)  # BTCUSDT's step is 0.00001: 0.01000 goes out

    (update,) = adapter.place([want]).updates

    (sent,) = recorded.requests_to(ORDER)
    assert sent.method == "POST"
    assert sent.form["newClientOrderId"] == want.client_order_id
    assert {k: sent.form[k] for k in ("symbol", "side", "type", "quantity", "newOrderRespType")} == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quantity": "0.01",
        "newOrderRespType": "FULL",
    }
    assert "signature" in sent.form  # a signed call: the client carried the keys
    assert update.status == FILLED and update.exchange_order_id == "52218341702"
    assert [(f.fill_id, f.quantity, f.price, f.fee, f.fee_currency) for f in update.fills] == [
        ("5283394011", 0.006, 121665.34, 0.000006, "BTC"),
        ("5283394012", 0.004, 121668.9, 0.000004, "BTC"),
    ]


@pytest.mark.parametrize(
    "quantity, why",
    [(0.00003, "notional 3.65 is below the minimum 5"), (0.000004, "minimum amount"), (200.0, "above the market order maximum")],
)
def test_orders_outside_the_market_limits_are_refused_before_sending(quantity, why):
    adapter, recorded = binance_live()
    (update,) = adapter.place([live_order(quantity=quantity)]).updates
    assert update.status == REJECTED and update.reason_code == "OUTSIDE_EXCHANGE_LIMITS"
    assert why in update.reason
    assert recorded.requests_to(ORDER) == []


def test_insufficient_balance_is_a_rejection_with_binances_reason():
    adapter, recorded = binance_live()
    recorded.route(ORDER, http_error(400, errors()["insufficient_balance"]))
    (update,) = adapter.place([live_order()]).updates
    assert update.status == REJECTED and update.reason_code == "INSUFFICIENT_BALANCE"
    assert "insufficient balance" in update.reason and update.fills == ()


def test_a_duplicate_client_order_id_finds_the_existing_order_and_its_fills():
    adapter, recorded = binance_live()
    recorded.route(ORDER, http_error(400, errors()["duplicate_order"]), when=lambda q: "newClientOrderId" in q)
    serve_lookup(recorded)
    want = live_order()

    (update,) = adapter.place([want]).updates

    lookup = [r for r in recorded.requests_to(ORDER) if r.method == "GET"]
    assert [r.query["origClientOrderId"] for r in lookup] == [want.client_order_id]
    assert update.status == FILLED and [f.fill_id for f in update.fills] == ["5283394011", "5283394012"]


def test_a_lost_reply_leaves_the_order_new_and_the_retry_looks_it_up_instead_of_sending_it_again(ledger):
    ledger.journal.set_live_enabled(True, "ana", "test")
    adapter, recorded = binance_live()
    # The first POST reaches Binance but the reply is lost; a second POST would be accepted
    # (a filled order's id is free again at Binance), so none may go out.
    recorded.route(ORDER, network_error(ccxt.RequestTimeout), echo_client_id(fixture("binance", "api_v3_order_market_buy_full.json")),
                   when=lambda q: "newClientOrderId" in q)  # fmt: skip
    serve_lookup(recorded)
    want = live_order()

    first = run_batch(ledger, adapter, LIVE, BAR_T, [want], {"BTC/USDT": BTC_1205_OPEN}, LOOSE, keys_present=True)
    assert first.venue_stop.code == "VENUE_OUTCOME_UNKNOWN" and "RequestTimeout" in first.venue_stop.detail
    assert ledger.bookkeeping.order(want.client_order_id)["status"] == NEW
    assert ("halt", "VENUE_OUTCOME_UNKNOWN") in [(e["kind"], e["code"]) for e in ledger.journal.risk_events()]

    for _ in range(2):  # the retry, and a sensor firing once more
        run_batch(ledger, adapter, LIVE, BAR_T, [want], {"BTC/USDT": BTC_1205_OPEN}, LOOSE, keys_present=True)
    (row,) = ledger.bookkeeping.orders()
    assert row["status"] == FILLED and row["exchange_order_id"] == "52218341702"
    assert len(ledger.bookkeeping.fills()) == 2
    (pos,) = ledger.bookkeeping.positions("live")
    assert pos["quantity"] == pytest.approx(0.01 - 0.00001), "Binance takes the buy fee in BTC"
    assert len([r for r in recorded.requests_to(ORDER) if r.method == "POST"]) == 1, "looked up, never sent again"
    (lookup,) = [r for r in recorded.requests_to(ORDER) if r.method == "GET"]
    assert lookup.query["origClientOrderId"] == want.client_order_id


def test_an_order_the_venue_never_saw_is_final_when_synced(ledger):
    adapter, recorded = binance_live()
    recorded.route(ORDER, http_error(400, errors()["unknown_order"]))
    (update,) = adapter.lookup([live_order()], {}).updates
    assert update.status == REJECTED and update.reason_code == "NOT_AT_VENUE"
