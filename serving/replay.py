"""``quant-assets paper replay``: the paper path over recorded lake bars, on a simulated clock.

Tick by tick, every 5m decision time ``t`` in ``(start, end]`` runs ``serving.tick.run_tick``
(the function the trading job's op runs) with the clock at ``t``: the paper venue sees only
bars closed by then, so an order decided at ``t`` fills at the next bar's open on the next
tick, exactly as it would live. The champions' aliases are re-read at most once a minute of
wall time (``REFRESH_S``), not every simulated tick. After the last decision one more sync at ``end + 5m`` books
the last fills (no new decision). Replays book under their own strategy name (default
``replay``), so they never touch the paper sensor's book.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from quant_assets import settings
from quant_assets.lake.store import ParquetLake
from quant_assets.registry.store import MlflowStore
from quant_assets.registry.tracking import Tracking
from quant_assets.timegrid import BAR
from serving.execution.batch import Book, run_batch
from serving.execution.paper import PaperAdapter
from serving.features import FeatureServer
from serving.ledger import Ledger
from serving.models import ChampionModels
from serving.settings import paper_costs, risk_limits, serving_settings
from serving.tick import Trader, lake_bars, run_tick

REFRESH_S = 60.0


@dataclass
class Replay:
    trader: Trader
    clock: list[datetime]

    def run(self, start: datetime, end: datetime, on_tick=lambda report: None) -> int:
        """Tick every decision time in ``(start, end]``; returns how many ticks ran."""
        t, ticks = start + BAR, 0
        while t <= end:
            self.clock[0] = t
            on_tick(run_tick(self.trader, t, now=t))
            ticks += 1
            t += BAR
        self.settle(end + BAR)
        return ticks

    def settle(self, at: datetime) -> None:
        """Book fills that were waiting for the bar after the last decision; decide nothing."""
        self.clock[0] = at
        tr = self.trader
        _, closes = tr.features.snapshot(tr.symbols, at)
        marks = {tr.ccxt(s): c for s, c in closes.items()}
        run_batch(tr.ledger, tr.adapter, tr.book, at - BAR, [], marks, tr.limits)


def replay_trader(ledger: Ledger, symbols: list[str], strategy: str = "replay") -> Replay:
    """The paper trader of a replay: the home's lake and MLflow champions, settings from the env."""
    home = settings.home()
    features = FeatureServer(ParquetLake(home.lake))
    clock: list[datetime] = [datetime.min]
    cfg = replace(serving_settings(), strategy=strategy)
    models = ChampionModels(Tracking(MlflowStore.from_env()), Path(home.cache) / "serving-models", refresh_s=REFRESH_S)
    adapter = PaperAdapter(lake_bars(features, lambda: clock[0]), paper_costs())
    book = Book("paper", strategy, "USDT", cfg.capital)
    market_type = settings.current().sources.market_type
    return Replay(Trader(ledger, adapter, models, features, book, symbols, cfg, risk_limits(), market_type), clock)
