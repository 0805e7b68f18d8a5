"""trading_book's daily check ``paper_tracks_reference``: a paper day replayed on the real
champions (every horizon weighted, risk budget, caps at equity, minimum change: the paper
sensor's own sizing) passes against the reference strategy on its decisions; the same day
with the paper fee left at its 10 bps default while the decisions assume a 2 bps round trip
(planted where it would happen: the paper venue's costs) fails with the figures, as a warning."""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from dagster import AssetCheckSeverity, materialize

from quant_assets.evaluation import oos
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets.timegrid import BAR
from quant_assets_tests import fitted_models
from quant_assets_tests.serving import served_trader
from quant_assets_tests.serving.conftest import SERVED
from serving.assets import PAPER_CHECK, paper_check, trading_book
from serving.ledger import Ledger
from serving.parity import paper_parity
from serving.replay import replay_trader
from serving.settings import risk_limits, serving_settings

UTC = timezone.utc
DAY = SERVED[1]
START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
COST_BPS = 2.0  # low enough that the fast test model trades


def _replay(strategy: str) -> None:
    """The day's ticks from its 00:00 close to the next 00:00 close (the two marks the check reads)."""
    replay_trader(Ledger.open(), [fitted_models.SYMBOL], strategy).run(START - BAR, START + timedelta(days=1))


def _check(day=DAY):
    result = materialize([trading_book], partition_key=day.isoformat())
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == PAPER_CHECK]
    return evaluation


def _env(monkeypatch, **more):
    for name, value in {
        "QUANT_ASSETS_ROUND_TRIP_COST_BPS": str(COST_BPS),
        "QUANT_ASSETS_PAPER_FEE_BPS": str(COST_BPS / 4),  # fee + slippage = half the round trip, as the reference charges
        "QUANT_ASSETS_PAPER_SLIPPAGE_BPS": str(COST_BPS / 4),
        "QUANT_ASSETS_PAPER_MAX_VOLUME_SHARE": "1",
        "QUANT_ASSETS_RISK_MAX_DAILY_LOSS": "1",
        "QUANT_ASSETS_RISK_MAX_DRAWDOWN": "1",
        "QUANT_ASSETS_RISK_MAX_CONSECUTIVE_LOSSES": "100000",
        "QUANT_ASSETS_SYMBOLS": fitted_models.SYMBOL,
        **more,
    }.items():
        monkeypatch.setenv(name, value)


def test_an_honest_paper_day_passes_and_a_mispriced_fee_warns_with_the_figures(home, monkeypatch):
    _env(monkeypatch)  # the paper sensor's default sizing: four horizons, budget 0.5, caps 0.25 of equity, min change
    served_trader.crown(home, -1)
    _replay("replay")

    honest = _check()
    assert honest.passed, honest.description
    (figures,) = honest.metadata["books"].value
    assert figures["book"] == "paper/replay" and figures["within"] and figures["sizings"] >= 5
    assert figures["pnl_reference"] != 0 and abs(figures["gap"]) <= figures["bound"]
    print(f"honest day: {honest.description}")

    monkeypatch.delenv("QUANT_ASSETS_PAPER_FEE_BPS")  # the planted fault: the default 10 bps fee, 20 times the honest one
    _replay("replay-fees")
    planted = _check()
    assert not planted.passed and planted.severity == AssetCheckSeverity.WARN
    by_book = {b["book"]: b for b in planted.metadata["books"].value}
    assert by_book["paper/replay"]["within"] and not by_book["paper/replay-fees"]["within"]
    fees = by_book["paper/replay-fees"]
    assert fees["gap"] < -fees["bound"]  # the extra fees: the book earned less than its decisions were worth
    assert fees["pnl_reference"] == pytest.approx(by_book["paper/replay"]["pnl_reference"])  # the same decisions
    assert "paper/replay-fees" in planted.description and "OUTSIDE" in planted.description
    assert f"{fees['pnl_book']:+,.4f}" in planted.description  # the figures, in the warning itself
    print(f"planted fees: {planted.description}")


def test_a_book_that_stopped_ticking_is_named_not_compared(home, monkeypatch):
    """A book that ticked from noon to 13:00 only: its first day opens at its starting cash,
    and without the closing mark at the next 00:00 the day is not compared, and says why."""
    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", fitted_models.SYMBOL)
    served_trader.crown(home, -1)
    replay_trader(Ledger.open(), [fitted_models.SYMBOL], "noon").run(START + timedelta(hours=12), START + timedelta(hours=13))
    (parity,) = paper_parity(Ledger.open(), ParquetLake(str(home / "lake")), DAY, serving_settings(), risk_limits())
    assert not parity.within and parity.problem.startswith(f"no equity mark at {DAY + timedelta(days=1)} 00:00")
    assert "noon: not compared" in paper_check([parity]).description and not paper_check([parity]).passed


def test_like_for_like_the_checks_reference_is_oos_evals(home, monkeypatch):
    """With one horizon, budget 1, no cap and no minimum change (the replay-parity setting) the
    check's reference PnL is oos.evaluate_day's for the champion and day, and its bound is the
    replay-parity test's."""
    _env(monkeypatch, QUANT_ASSETS_SERVING_HORIZON_WEIGHTS="1h=1", QUANT_ASSETS_SERVING_RISK_BUDGET="1",
         QUANT_ASSETS_RISK_MAX_POSITION="1", QUANT_ASSETS_SERVING_MIN_CHANGE="0")  # fmt: skip
    served_trader.crown(home, -1)
    _replay("replay")
    store = ParquetLake(str(home / "lake"))
    (parity,) = paper_parity(Ledger.open(), store, DAY, serving_settings(), risk_limits())
    assert parity.within, parity.line()

    part = DaySymbol(DAY, fitted_models.SYMBOL)
    features = store.read(FEATURES_ASSET, part).sort("t")
    champion = replay_trader(Ledger.open(), [fitted_models.SYMBOL]).trader.models.resolve([fitted_models.SYMBOL], ["1h"])[fitted_models.SYMBOL, "1h"]
    rows = oos.evaluate_day(features, store.read(LABELS_ASSET, part), champion.model.predict(features),
                            oos.Fit(champion.model_uri, START), cost=COST_BPS / 1e4)  # fmt: skip
    ref = rows.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "1h") & pl.col("evaluable"))
    capital = serving_settings().capital
    assert (ref["trade_size"] > 0).sum() >= 5  # the day really trades
    assert parity.pnl_reference == pytest.approx(capital * ref["pnl"].sum(), rel=1e-9, abs=1e-9 * capital)
