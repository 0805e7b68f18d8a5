"""Paper execution: the next bar's open, slippage against the order, fees, the volume cap."""

from __future__ import annotations

from datetime import timedelta

import pytest

from quant_assets_tests.serving.trading_fixtures import BAR_T, BTC_1205_OPEN, LOOSE, NEXT_T, PAPER, bars, order, paper
from serving.execution.batch import run_batch
from serving.execution.paper import Bar, PaperAdapter
from serving.records import FILLED, OPEN, PARTIAL
from serving.settings import PaperCosts


def test_a_buy_fills_at_the_next_open_plus_slippage_with_the_fee_in_quote():
    (update,) = paper().place([order(quantity=0.01)]).updates
    (fill,) = update.fills
    assert update.status == FILLED and fill.ts == NEXT_T
    assert fill.price == pytest.approx(BTC_1205_OPEN * 1.0001)
    assert fill.fee == pytest.approx(0.01 * BTC_1205_OPEN * 1.0001 * 0.001) and fill.fee_currency == "USDT"


def test_a_sell_fills_below_the_open():
    (update,) = paper().place([order(side="sell", quantity=0.01)]).updates
    assert update.fills[0].price == pytest.approx(BTC_1205_OPEN * 0.9999)


def test_an_order_larger_than_the_volume_share_fills_partly_and_the_rest_expires():
    adapter = PaperAdapter(bars({("BTC/USDT", NEXT_T): Bar(BTC_1205_OPEN, 34.05098)}), PaperCosts(10, 1, 0.1))
    (update,) = adapter.place([order(quantity=5.0)]).updates
    assert update.status == PARTIAL and update.reason_code == "VOLUME_CAP"
    assert update.fills[0].quantity == pytest.approx(3.405098)


def test_without_the_next_bar_the_order_waits_and_the_next_batch_fills_it(ledger):
    table: dict = {}
    adapter = PaperAdapter(bars(table), PaperCosts(10, 1, 0.1))
    first = run_batch(ledger, adapter, PAPER, BAR_T, [order()], {"BTC/USDT": BTC_1205_OPEN}, LOOSE)
    assert first.new_fills == 0 and ledger.bookkeeping.order(order().client_order_id)["status"] == OPEN
    table[("BTC/USDT", NEXT_T)] = Bar(BTC_1205_OPEN, 34.05098)  # the bar closes
    second = run_batch(ledger, adapter, PAPER, BAR_T + timedelta(minutes=5), [], {"BTC/USDT": BTC_1205_OPEN}, LOOSE)
    assert second.new_fills == 1
    assert ledger.bookkeeping.order(order().client_order_id)["status"] == FILLED
    (pos,) = ledger.bookkeeping.positions("paper")
    assert pos["quantity"] == pytest.approx(0.01)
