"""A trader over the served home (real champions, the lake's features and bars, a paper venue)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import polars as pl

from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.registry.names import registered_name
from quant_assets.registry.store import MlflowStore
from quant_assets.registry.tracking import Tracking
from quant_assets_tests import fitted_models
from serving.execution.batch import Book
from serving.execution.paper import PaperAdapter
from serving.features import FeatureServer
from serving.ledger import Ledger
from serving.models import ChampionModels
from serving.risk.checks import RiskLimits
from serving.settings import PaperCosts, serving_settings
from serving.tick import Trader, lake_bars

UTC = timezone.utc
LOOSE = RiskLimits(max_daily_loss=0.5, max_consecutive_losses=100, max_drawdown=0.5, max_position=1.0)


def crown(home, version_index: int = -1, horizons=("1h", "4h", "1d", "7d"), symbol=fitted_models.SYMBOL) -> str:
    """Point ``champion`` of ``symbol``'s horizons at one of its versions (what a person does)."""
    tracking = Tracking(MlflowStore.from_env())
    name = registered_name(symbol, horizons[0])
    versions = sorted(int(v.version) for v in tracking.client.search_model_versions(f"name = '{name}'"))
    version = str(versions[version_index])
    for h in horizons:
        tracking.client.set_registered_model_alias(registered_name(symbol, h), "champion", version)
    return version


def trader(home, ledger: Ledger, clock: list[datetime], symbols=(fitted_models.SYMBOL,), costs=PaperCosts(10, 1, 1.0), **config) -> Trader:
    """``clock[0]`` is the simulated now the paper venue sees."""
    features = FeatureServer(ParquetLake(str(home / "lake")))
    cfg = replace(serving_settings(), **config)
    models = ChampionModels(Tracking(MlflowStore.from_env()), home / "cache" / "serving-models")
    adapter = PaperAdapter(lake_bars(features, lambda: clock[0]), costs)
    return Trader(ledger, adapter, models, features, Book("paper", cfg.strategy, "USDT", cfg.capital), list(symbols), cfg, LOOSE)


def file_drop(home, days, name: str = "drop"):
    """A folder holding the lake's BTC bars of ``days`` as ``bars.parquet`` (what an exchange
    download looks like): a ``file`` market source over it serves the tick's fetched bars."""
    store = ParquetLake(str(home / "lake"))
    frame = pl.concat([store.read(BARS_ASSET, DaySymbol(d, fitted_models.SYMBOL)) for d in days])
    folder = home / name
    folder.mkdir(exist_ok=True)
    frame.select("ts", "open", "high", "low", "close", "volume").with_columns(symbol=pl.lit("BTC/USDT")).write_parquet(folder / "bars.parquet")
    return folder


def one_horizon_desk(home, ledger_path) -> tuple[Trader, Ledger, list[datetime]]:
    """A crowned home traded on the 1h horizon alone with the whole risk budget, its own ledger
    at ``ledger_path`` and a clock at the served day's noon (the round-trip cost is the caller's)."""
    from quant_assets_tests.serving.conftest import SERVED

    crown(home)
    ledger = Ledger.open(f"sqlite:///{ledger_path}")
    clock = [datetime(SERVED[1].year, SERVED[1].month, SERVED[1].day, 12, tzinfo=UTC)]
    return trader(home, ledger, clock, weights={"1h": 1.0}, risk_budget=1.0), ledger, clock
