"""``quant-assets positions``, ``orders`` and ``trading status`` print what the ledger holds."""

from __future__ import annotations

from click.testing import CliRunner

from quant_assets_tests.serving.trading_fixtures import BAR_T, BTC_1205_OPEN, PAPER, order, paper
from serving.execution.batch import run_batch
from serving.risk.checks import RiskLimits


def test_positions_orders_and_status_print_the_ledger(ledger, monkeypatch):
    from quant_assets.cli import main

    monkeypatch.setenv("QUANT_ASSETS_LEDGER_URL", str(ledger.engine.url))
    runner = CliRunner()
    assert runner.invoke(main, ["positions"]).output.splitlines() == ["no positions", "no cash accounts"]

    limits = RiskLimits(0.5, 100, 0.5, 0.25)
    run_batch(
        ledger,
        paper(),
        PAPER,
        BAR_T,
        [order(quantity=0.01), order(symbol="ETH/USDT", quantity=100.0, price=4300.0)],
        {"BTC/USDT": BTC_1205_OPEN, "ETH/USDT": 4300.0},
        limits,
    )
    runner.invoke(main, ["trading", "kill", "--by", "ana", "--reason", "drill"])

    positions = runner.invoke(main, ["positions", "--mode", "paper"]).output
    (btc,) = [line.split() for line in positions.splitlines() if "BTC/USDT" in line]
    assert btc[:4] == ["paper", "ref", "BTC/USDT", "0.01"]
    assert any(line.split()[:4] == ["paper", "ref", "USDT", "100000"] for line in positions.splitlines())

    orders = runner.invoke(main, ["orders"]).output
    (line,) = [line for line in orders.splitlines() if "BTC/USDT" in line and "buy" in line]
    assert "filled" in line.split() and order().client_order_id in line
    assert any("MAX_POSITION" in line and "ETH/USDT" in line for line in orders.splitlines())

    status = runner.invoke(main, ["trading", "status"]).output
    assert status.splitlines()[0].startswith("kill switch: ON (by ana at ") and status.splitlines()[0].endswith(": drill)")
    assert status.splitlines()[1] == "live trading: disabled (never set)"
