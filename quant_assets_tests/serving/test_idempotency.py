"""One order per (mode, strategy, symbol, decision bar): a tick run twice, and a process killed
between recording, placing and booking then retried, end with one order and each fill once."""

from __future__ import annotations

import re
from datetime import timedelta, timezone

import pytest

from quant_assets_tests.serving.trading_fixtures import BAR_T, BTC_1205_OPEN, LOOSE, PAPER, kill_at_step, order, paper
from serving.execution.batch import run_batch
from serving.ledger import Ledger
from serving.records import FILLED, NEW, client_order_id


def test_the_client_order_id_is_deterministic_distinct_and_binance_safe():
    cid = client_order_id("paper", "ref", "BTC/USDT", BAR_T)
    assert cid == client_order_id("paper", "ref", "BTC/USDT", BAR_T.astimezone(timezone(timedelta(hours=2))))
    others = {
        client_order_id("live", "ref", "BTC/USDT", BAR_T),
        client_order_id("paper", "other", "BTC/USDT", BAR_T),
        client_order_id("paper", "ref", "ETH/USDT", BAR_T),
        client_order_id("paper", "ref", "BTC/USDT", BAR_T + timedelta(minutes=5)),
    }
    assert cid not in others and len(others) == 4
    assert re.fullmatch(r"[.A-Z:/a-z0-9_-]{1,36}", cid), cid
    with pytest.raises(ValueError):
        client_order_id("backtest", "ref", "BTC/USDT", BAR_T)


def test_a_tick_run_twice_for_the_same_bar_places_one_order(ledger):
    orders = [order(), order(symbol="ETH/USDT", quantity=0.1, price=4300.0)]
    adapter = paper({("BTC/USDT", BAR_T + timedelta(minutes=5)): _bar(), ("ETH/USDT", BAR_T + timedelta(minutes=5)): _bar(4300.0)})
    for _ in range(2):
        run_batch(ledger, adapter, PAPER, BAR_T, orders, {"BTC/USDT": BTC_1205_OPEN, "ETH/USDT": 4300.0}, LOOSE)
    assert len(ledger.bookkeeping.orders()) == 2 and len(ledger.bookkeeping.fills()) == 2
    assert {p["symbol"]: round(p["quantity"], 10) for p in ledger.bookkeeping.positions()} == {"BTC/USDT": 0.01, "ETH/USDT": 0.1}


def _bar(price: float = BTC_1205_OPEN):
    from serving.execution.paper import Bar

    return Bar(price, 50.0)


# The child runs one paper batch and, at the named step, says so and waits to be killed.
CHILD = """
import sys, time
from pathlib import Path
from quant_assets_tests.serving.trading_fixtures import BAR_T, BTC_1205_OPEN, LOOSE, PAPER, order, paper
from serving.execution.batch import run_batch
from serving.ledger import Ledger

url, crash_at, marker = sys.argv[1:4]

def step(name):
    if name == crash_at:
        Path(marker).write_text(name)
        time.sleep(600)

run_batch(Ledger.open(url), paper(), PAPER, BAR_T, [order()], {"BTC/USDT": BTC_1205_OPEN}, LOOSE, step=step)
"""


@pytest.mark.parametrize("crash_at, status_after_crash", [("recorded", NEW), ("placed", NEW)])
def test_a_process_killed_between_steps_then_retried_ends_with_one_order(tmp_path, crash_at, status_after_crash):
    url = f"sqlite:///{tmp_path}/ledger.sqlite3"
    marker = tmp_path / "reached"
    kill_at_step(CHILD, url, crash_at, str(marker), marker=marker)

    ledger = Ledger.open(url)
    (crashed,) = ledger.bookkeeping.orders()
    assert crashed["status"] == status_after_crash and ledger.bookkeeping.fills() == []

    run_batch(ledger, paper(), PAPER, BAR_T, [order()], {"BTC/USDT": BTC_1205_OPEN}, LOOSE)  # the retry
    (done,) = ledger.bookkeeping.orders()
    assert done["id"] == crashed["id"] and done["status"] == FILLED
    assert len(ledger.bookkeeping.fills()) == 1
    (pos,) = ledger.bookkeeping.positions()
    assert pos["quantity"] == pytest.approx(0.01)
