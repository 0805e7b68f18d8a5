"""Risk that can always reduce, on the served home's real champions: after a loss a capped
order is sized down to the cap at the current equity (not refused by the risk check), and a
horizon whose champion alias is removed is flattened by the next tick with a ledger event."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from quant_assets.registry.names import registered_name
from quant_assets_tests import fitted_models
from quant_assets_tests.serving import served_trader
from quant_assets_tests.serving.conftest import SERVED
from serving.allocator import Sizing, allocate
from serving.execution.batch import risk_state
from serving.risk.checks import MAX_POSITION, admit
from serving.tick import NO_CHAMPION, NO_CHAMPION_FLATTEN, run_tick

UTC = timezone.utc
NOON = datetime(SERVED[1].year, SERVED[1].month, SERVED[1].day, 12, tzinfo=UTC)
BTC = "BTC/USDT"
CAP = 0.01  # max_position: small enough that any real 1h signal is capped


@pytest.fixture
def trade(home, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANT_ASSETS_ROUND_TRIP_COST_BPS", "0")
    return served_trader.one_horizon_desk(home, tmp_path / "reduce.sqlite3")


def test_after_a_loss_a_capped_order_is_sized_to_the_cap_at_equity_and_passes_the_risk_check(trade):
    trader, ledger, _ = trade
    trader.limits = replace(trader.limits, max_position=CAP)
    capital = trader.config.capital
    # The planted loss: the book holds 80% of its capital (a fifth lost before this tick).
    ledger.bookkeeping.open_account("paper", trader.book.strategy, "USDT", 0.8 * capital)
    equity = 0.8 * capital

    report = run_tick(trader, NOON)
    (order,) = report.orders
    assert order.quantity * order.reference_price == pytest.approx(CAP * equity, rel=1e-6)  # the cap at equity, not at capital
    assert report.batch.refusals == {} and ledger.bookkeeping.order(order.client_order_id) is not None
    assert MAX_POSITION not in {e["code"] for e in ledger.journal.risk_events("paper")}

    # Before: the allocator capped at max_position x capital, and the same order was refused.
    target = report.targets[fitted_models.SYMBOL]
    assert abs(target) > CAP, "the planted signal must be one the cap binds"
    old = Sizing(capital, 1.0, CAP, trader.config.max_gross, trader.config.min_change)  # no equity: the capital
    (proposal,), _ = allocate({BTC: target}, {BTC: order.reference_price}, {}, old)
    state = risk_state(ledger, trader.book, NOON, equity, keys_present=False)
    allowed, refusal = admit(BTC, proposal.quantity, order.reference_price, state, trader.limits, [])
    assert allowed == 0.0 and refusal is not None and refusal.code == MAX_POSITION


def _into_a_position(trader, ledger, clock) -> float:
    """Decide at noon, fill at the next tick: the book holds the 1h champion's position."""
    first = run_tick(trader, NOON)
    assert len(first.orders) == 1
    clock[0] = NOON + timedelta(minutes=5)
    run_tick(trader, clock[0])
    (position,) = ledger.bookkeeping.positions("paper", trader.book.strategy)
    assert position["quantity"] != 0
    return position["quantity"]


def _remove_champion(trader):
    trader.models.tracking.client.delete_registered_model_alias(registered_name(fitted_models.SYMBOL, "1h"), "champion")


def test_a_horizon_whose_champion_is_removed_is_flattened_by_the_next_tick(trade):
    trader, ledger, clock = trade
    held = _into_a_position(trader, ledger, clock)
    _remove_champion(trader)

    clock[0] = NOON + timedelta(minutes=10)
    report = run_tick(trader, clock[0])
    assert set(report.flattened) == {(fitted_models.SYMBOL, "1h")}
    (order,) = report.orders
    assert order.signed_quantity == pytest.approx(-held)
    codes = {e["code"]: e for e in ledger.journal.risk_events("paper")}
    assert NO_CHAMPION in codes and "1h: held" in codes[NO_CHAMPION_FLATTEN]["detail"]
    assert "has no alias 'champion'" in codes[NO_CHAMPION_FLATTEN]["detail"]  # it says why
    assert ledger.journal.held_positions("paper", trader.book.strategy, clock[0])[fitted_models.SYMBOL, "1h"] == 0.0

    clock[0] = NOON + timedelta(minutes=15)
    later = run_tick(trader, clock[0])  # the flat order fills; nothing more to flatten
    assert later.flattened == {} and later.orders == []
    (position,) = ledger.bookkeeping.positions("paper", trader.book.strategy)
    assert position["quantity"] == pytest.approx(0.0, abs=1e-12)


def test_with_the_setting_off_a_horizon_without_champion_holds(trade):
    trader, ledger, clock = trade
    trader.config = replace(trader.config, flatten_without_champion=False)
    held = _into_a_position(trader, ledger, clock)
    _remove_champion(trader)

    for minutes in (10, 15):
        clock[0] = NOON + timedelta(minutes=minutes)
        report = run_tick(trader, clock[0])
        assert report.flattened == {} and report.orders == []
    (position,) = ledger.bookkeeping.positions("paper", trader.book.strategy)
    assert position["quantity"] == held
    assert NO_CHAMPION_FLATTEN not in {e["code"] for e in ledger.journal.risk_events("paper")}
