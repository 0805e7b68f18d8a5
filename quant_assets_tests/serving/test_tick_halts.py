"""Data halts and the allocator, proven on planted cases: a stale bar, missing sources and a
drifted row each stop the symbol's new risk with a ledger event; caps, minimum change and the
venue's limits shape the orders."""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from quant_assets.derivatives.frame import DERIVATIVES_ASSET
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.venues.limits import market_refusal
from quant_assets_tests import fitted_models
from quant_assets_tests.serving import served_trader, trading_fixtures
from quant_assets_tests.serving.conftest import SERVED
from serving.allocator import BELOW_MIN_CHANGE, OUTSIDE_EXCHANGE_LIMITS, Sizing, allocate
from serving.risk.data import FEATURE_DRIFT, MISSING_SOURCES, STALE_BARS
from serving.tick import NO_CHAMPION, run_tick

UTC = timezone.utc
NOON = datetime(SERVED[1].year, SERVED[1].month, SERVED[1].day, 12, tzinfo=UTC)
SYMBOL = fitted_models.SYMBOL


@pytest.fixture
def trade(home, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANT_ASSETS_ROUND_TRIP_COST_BPS", "0")
    trader, ledger, _ = served_trader.one_horizon_desk(home, tmp_path / "halts.sqlite3")
    return trader, ledger


def _codes(ledger):
    return {e["code"] for e in ledger.journal.risk_events("paper")}


def test_a_clean_tick_decides_and_orders(trade):
    trader, ledger = trade
    report = run_tick(trader, NOON)
    assert report.data_halts == {} and len(report.decisions) == 1 and len(report.orders) == 1
    assert _codes(ledger) == set()


def test_stale_bars_halt_the_symbol(trade):
    trader, ledger = trade
    report = run_tick(trader, NOON, now=NOON + timedelta(minutes=15))  # the newest bar is 15 minutes old
    assert [h.code for h in report.data_halts[SYMBOL]] == [STALE_BARS]
    assert report.decisions == [] and report.orders == [] and ledger.journal.signals() == []
    assert _codes(ledger) == {STALE_BARS}


def test_missing_sources_halt_the_symbol(trade, home):
    trader, ledger = trade
    store = ParquetLake(str(home / "lake"))
    for day in (NOON.date() - timedelta(days=1), NOON.date(), NOON.date() + timedelta(days=1)):
        store.partition_path(DERIVATIVES_ASSET, DaySymbol(day, SYMBOL)).unlink(missing_ok=True)
    report = run_tick(trader, NOON)  # derivatives gone, text absent in the sample: 2 > 1
    assert [h.code for h in report.data_halts[SYMBOL]] == [MISSING_SOURCES]
    assert report.orders == [] and _codes(ledger) == {MISSING_SOURCES}


def test_feature_drift_halts_the_symbol(trade, home):
    trader, ledger = trade
    store = ParquetLake(str(home / "lake"))
    bars = store.read(BARS_ASSET, DaySymbol(NOON.date(), SYMBOL)).with_columns(symbol=pl.lit(SYMBOL))
    crash = pl.col("available_at") == NOON  # the bar at noon prints at a third of its price
    planted = bars.with_columns([pl.when(crash).then(pl.col(c) / 3).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")])
    report = run_tick(trader, NOON, fetched_bars=planted)
    assert [h.code for h in report.data_halts[SYMBOL]] == [FEATURE_DRIFT]
    assert report.orders == [] and _codes(ledger) == {FEATURE_DRIFT}
    assert "ret_5m" in next(e["detail"] for e in ledger.journal.risk_events("paper"))


def test_no_champion_does_not_trade_and_says_so(trade, home):
    trader, ledger = trade
    from quant_assets.registry.names import registered_name

    trader.models.tracking.client.delete_registered_model_alias(registered_name(SYMBOL, "1h"), "champion")
    report = run_tick(trader, NOON)
    assert report.decisions == [] and report.orders == []
    (event,) = ledger.journal.risk_events("paper")
    assert event["code"] == NO_CHAMPION and "has no alias 'champion'" in event["detail"]


SIZING = Sizing(capital=100_000.0, risk_budget=0.5, max_symbol=0.2, max_gross=0.3, min_change=0.01)


def test_allocator_caps_scales_and_skips_small_changes():
    prices = {"BTC/USDT": 100_000.0, "ETH/USDT": 4_000.0, "SOL/USDT": 200.0}
    targets = {"BTC/USDT": 1.0, "ETH/USDT": -0.2, "SOL/USDT": 0.3}
    # wanted: BTC 50k capped at 20k, ETH -10k, SOL 15k: gross 45k > 30k -> scaled by 2/3
    positions = {"SOL/USDT": 49.0}  # target 10k / 200 = 50 SOL: 1 SOL (200 quote) short of it
    proposals, skips = allocate(targets, prices, positions, SIZING)
    by = {p.symbol: p for p in proposals}
    assert by["BTC/USDT"].target_notional == pytest.approx(20_000 * 2 / 3)
    assert by["ETH/USDT"].quantity == pytest.approx(-10_000 * 2 / 3 / 4_000)
    assert [s.code for s in skips] == [BELOW_MIN_CHANGE] and skips[0].symbol == "SOL/USDT"  # 200 < 1% of capital


def test_allocator_uses_the_venues_limits_and_precision():
    adapter, recorded = trading_fixtures.binance_live()
    exchange = adapter.exchange
    exchange.load_markets()
    sizing = Sizing(capital=1_000.0, risk_budget=1.0, max_symbol=1.0, max_gross=1.0, min_change=0.0)
    proposals, skips = allocate(
        {"BTC/USDT": 0.004, "ETH/USDT": 0.5}, {"BTC/USDT": 121_665.34, "ETH/USDT": 4_000.0}, {}, sizing,
        lambda s, q, p: market_refusal(exchange, s, q, p), lambda s, q: float(exchange.amount_to_precision(s, q)),
    )  # fmt: skip
    assert [(s.symbol, s.code) for s in skips] == [("BTC/USDT", OUTSIDE_EXCHANGE_LIMITS)]  # 4 USDT < min notional
    (eth,) = proposals
    assert eth.quantity == float(exchange.amount_to_precision("ETH/USDT", 500.0 / 4_000.0))
