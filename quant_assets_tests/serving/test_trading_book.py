"""trading_book: a day's positions and PnL per book, from the ledger's permanent rows, so a
past day reads the same after later trading; materialized through Dagster with its metadata."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dagster import materialize

from quant_assets_tests.serving.trading_fixtures import BAR_T, NEXT_T, order
from serving.assets import trading_book
from serving.ledger.daily import day_books
from serving.records import FILLED, Fill, OrderUpdate

DAY1 = BAR_T.date()
DAY2 = DAY1 + timedelta(days=1)


def _buy_day1(ledger) -> None:
    ledger.bookkeeping.open_account("paper", "ref", "USDT", 10_000.0)
    buy = order(quantity=0.01)
    ledger.bookkeeping.record_order(buy)
    # 0.01 BTC at 100,000, the fee paid in BTC (Binance's default on buys): 0.00001 BTC
    ledger.bookkeeping.apply(OrderUpdate(buy.client_order_id, FILLED, "x1", (Fill("f1", NEXT_T, 0.01, 100_000.0, 0.00001, "BTC"),)))
    ledger.bookkeeping.mark_equity("paper", "ref", NEXT_T, 9_999.0)
    ledger.journal.record_risk_event("paper", "ref", BAR_T + timedelta(hours=1), "halt", "DATA_STALE_BARS", "no bar", "BTC/USDT")


def _sell_day2(ledger) -> None:
    sell = order(side="sell", quantity=0.00999, bar=BAR_T + timedelta(days=1))
    ledger.bookkeeping.record_order(sell)
    ledger.bookkeeping.apply(OrderUpdate(sell.client_order_id, FILLED, "x2",
                             (Fill("f2", NEXT_T + timedelta(days=1), 0.00999, 101_000.0, 1.0, "USDT"),)))  # fmt: skip
    ledger.bookkeeping.mark_equity("paper", "ref", NEXT_T + timedelta(days=1), 10_008.9)


def test_a_day_shows_its_close_and_reads_the_same_after_later_trading(ledger):
    _buy_day1(ledger)
    (first,) = day_books(ledger, DAY1)
    assert first.positions == {"BTC/USDT": pytest.approx(0.00999)}, "the fee in BTC leaves the position"
    assert (first.equity_open, first.equity_close, first.pnl) == (10_000.0, 9_999.0, -1.0)
    assert (first.orders, first.fills, first.halts) == (1, 1, {"DATA_STALE_BARS": 1})
    assert first.fees_quote == pytest.approx(1.0), "0.00001 BTC at the fill price"

    _sell_day2(ledger)
    (again,) = day_books(ledger, DAY1)
    assert again.as_dict() == first.as_dict(), "day 2's sell must not reach day 1's close"
    (second,) = day_books(ledger, DAY2)
    assert second.positions == {}, "flat after the sell"
    assert (second.equity_open, second.equity_close) == (9_999.0, 10_008.9)
    assert second.pnl == pytest.approx(9.9)
    assert (second.orders, second.fills, second.halts) == (1, 1, {})
    assert second.realized_pnl == pytest.approx(0.00999 * 1_000.0 - 1.0)
    assert ledger.bookkeeping.positions("paper")[0]["quantity"] == pytest.approx(0.0), "the replay agrees with the running position"


def test_the_asset_records_each_books_day_as_metadata(ledger, monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_LEDGER_URL", str(ledger.engine.url))
    monkeypatch.setenv("QUANT_ASSETS_START_DATE", DAY1.isoformat())
    _buy_day1(ledger)
    result = materialize([trading_book], partition_key=DAY1.isoformat())
    (event,) = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert meta["pnl/paper/ref"].value == -1.0
    (row,) = meta["day_books"].value
    assert row["book"] == "paper/ref" and row["positions"] == {"BTC/USDT": pytest.approx(0.00999)}
    assert "DATA_STALE_BARS x1" in meta["summary"].value
