"""The trading job and its two sensors, mounted in the one ``Definitions``.

``trading_tick`` is one op that fetches the decision day's closed bars from the configured
market source and runs ``serving.tick.run_tick`` with them for one bar and one mode (run
config); its output metadata is the book after the tick (positions, cash, PnL, orders, halts).
``paper_trading_sensor`` asks for one run per new closed 5m bar of the universe (cursor: the
last bar requested; ``run_key``: the bar, so Dagster itself never starts two runs
for one bar, and the ledger's client order ids make a rerun place nothing twice).
``live_trading_sensor`` is the same job with the live adapter: STOPPED by default, and even
when a person starts it, it requests nothing unless live trading was enabled in the ledger by
a person (``quant-assets trading enable-live``) and the ``exchange_account`` resource holds the
keys of its mode (real, or testnet under ``QUANT_ASSETS_EXCHANGE_SANDBOX``) and not the other's;
the order batch checks both again before any order. The keys are EnvVar fields of that
resource: no run config, resource config or metadata carries them.
"""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
from dagster import (
    Config,
    DefaultSensorStatus,
    MetadataValue,
    OpExecutionContext,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    job,
    op,
    sensor,
)

from quant_assets import settings, venues
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.market_data import MarketDataSource
from quant_assets.resources.models import MlflowTracking
from quant_assets.timegrid import BAR, utc_now
from serving.execution.batch import Book
from serving.ledger import Bookkeeping, Ledger
from serving.ledger.daily import opening_equity
from serving.models import ChampionModels
from serving.settings import ExchangeAccount, paper_costs, risk_limits, serving_settings
from serving.tick import Trader, lake_bars, run_tick

UTC = timezone.utc
JOB = "trading_tick"
OP = "run_trading_tick"  # op and job names share one namespace in a repository


class TickConfig(Config):
    mode: str = "paper"  # paper or live
    bar: str  # ISO decision time: the close of the newest closed bar
    now: str = ""  # the clock, ISO; only tests and drills set it (empty: the wall clock)


def build_trader(mode: str, lake: LakeResource, mlflow_tracking: MlflowTracking, ledger: Ledger, clock,
                 account: ExchangeAccount) -> Trader:  # fmt: skip
    from serving.execution.paper import PaperAdapter
    from serving.features import FeatureServer

    cfg = serving_settings()
    features = FeatureServer(lake.lake())
    models = ChampionModels(mlflow_tracking.tracking(), Path(mlflow_tracking.cache_root).parent / "serving-models")
    market_type = settings.current().sources.market_type
    book = Book(mode, cfg.strategy if mode == "paper" else account.strategy(cfg.strategy), "USDT", cfg.capital)
    common = dict(ledger=ledger, models=models, features=features, book=book, symbols=settings.universe(), config=cfg,
                  limits=risk_limits(), market_type=market_type)  # fmt: skip
    if mode == "paper":
        return Trader(adapter=PaperAdapter(lake_bars(features, clock), paper_costs()), **common)
    from quant_assets.venues.limits import market_refusal
    from serving.execution.live import LiveAdapter

    exchange = live_client(account, settings.current().sources.exchange or venues.default().name, market_type)
    exchange.load_markets()
    return Trader(
        adapter=LiveAdapter(exchange), keys_present=True,
        venue_refusal=lambda s, q, p: market_refusal(exchange, s, q, p),
        precision=lambda s, q: float(exchange.amount_to_precision(s, q)), **common,
    )  # fmt: skip


def live_client(account: ExchangeAccount, exchange_id: str, market_type: str):
    """The live adapter's ccxt client for ``account``: on the venue's testnet in sandbox mode
    (ccxt's ``set_sandbox_mode(True)`` swaps ``urls['api']`` for ``urls['test']``, the venue's
    testnet host), before any request, so no call reaches the real venue."""
    from serving.execution.live import live_exchange

    credentials = account.credentials()
    if credentials is None:  # the batch would halt with LIVE_KEYS_MISSING; without keys there is no client either
        raise RuntimeError(f"live trading refused: {account.refusal()}")
    exchange = live_exchange(exchange_id, market_type, credentials)
    if account.sandbox:
        exchange.set_sandbox_mode(True)  # ccxt raises NotSupported for a venue without a testnet
    return exchange


def newest_bars(market_data: MarketDataSource, store: ParquetLake, symbols: list[str], t: datetime, now: datetime) -> pl.DataFrame:
    """The closed bars the configured market source has for ``t``'s day (and the day before,
    where the lake lacks it): what the tick appends to the lake's bars. The lake is written by
    ``market_bars`` alone; a tick only reads what it fetched."""
    day = (t - BAR).date()
    before = day - timedelta(days=1)
    parts = [DaySymbol(day, s) for s in symbols]
    parts += [DaySymbol(before, s) for s in symbols if not store.partition_path(BARS_ASSET, DaySymbol(before, s)).exists()]
    frame, _ = market_data.fetch_bars(sorted(parts), now)
    return frame.filter(pl.col("available_at") <= now)


@op(name=OP, description="Ingest the newest closed bars from the market source, then one trading tick for one closed bar: "
                         "champions, features, signals, risk, orders, fills.")  # fmt: skip
def trading_tick_op(context: OpExecutionContext, config: TickConfig, lake: LakeResource, mlflow_tracking: MlflowTracking,
                    market_data: MarketDataSource, exchange_account: ExchangeAccount) -> dict:  # fmt: skip
    if config.mode not in ("paper", "live"):
        raise ValueError(f"mode must be paper or live, not {config.mode!r}")
    t = datetime.fromisoformat(config.bar).astimezone(UTC)
    ledger = Ledger.open()
    try:
        now = datetime.fromisoformat(config.now).astimezone(UTC) if config.now else utc_now()
        trader = build_trader(config.mode, lake, mlflow_tracking, ledger, lambda: now, exchange_account)
        fetched = newest_bars(market_data, lake.lake(), trader.symbols, t, now)
        report = run_tick(trader, t, now=now, fetched_bars=fetched)
        context.add_output_metadata(book_metadata(ledger.bookkeeping, trader, report, t))
    finally:
        ledger.close()
    summary = {
        "bar": t.isoformat(),
        "mode": config.mode,
        "fetched_bars": fetched.height,
        "no_champion": len(report.no_champion),
        "data_halts": {s: [h.code for h in hs] for s, hs in report.data_halts.items()},
        "decisions": len(report.decisions),
        "orders": [o.client_order_id for o in report.orders],
        "halts": [h.code for h in report.batch.halts],
        "new_fills": report.batch.new_fills,
    }
    context.log.info("tick %s", summary)
    return summary


def book_metadata(bookkeeping: Bookkeeping, trader: Trader, report, t: datetime) -> dict:
    """What the run's page shows: the book's positions, cash, equity and the UTC day's PnL at the
    tick's marks, the orders placed and the halts. Ledger rows only: no setting, no key."""
    book = trader.book
    marks = {trader.ccxt(s): c for s, c in report.marks.items()}  # the tick's, fetched bars included
    equity = bookkeeping.equity(book.mode, book.strategy, marks)
    day = (t - BAR).date()
    start = opening_equity(bookkeeping.equity_marks(book.mode, book.strategy, day), day, book.starting_cash)
    positions = [{k: p[k] for k in ("symbol", "quantity", "avg_price", "realized_pnl")} for p in bookkeeping.positions(book.mode, book.strategy)]
    (cash,) = bookkeeping.cash(book.mode, book.strategy) or [{"balance": book.starting_cash}]
    halts = [h.code for h in report.batch.halts] + [f"{s}:{h.code}" for s, hs in report.data_halts.items() for h in hs]
    return {
        "book": f"{book.mode}/{book.strategy}",
        "positions": MetadataValue.json(positions),
        "cash": float(cash["balance"]),
        "equity": float(equity),
        "pnl_day": float(equity - start),
        "pnl_total": float(equity - book.starting_cash),
        "orders_placed": len(report.orders),
        "halts": MetadataValue.json(halts),
    }


@job(name=JOB, description="The trading tick the paper and live sensors run, one run per closed bar.")
def trading_tick_job():
    trading_tick_op()


def newest_closed_bar(store: ParquetLake, symbols: list[str], now: datetime) -> datetime | None:
    """The newest close time every symbol of the universe has a bar for in the lake, by ``now``."""
    newest = []
    for symbol in symbols:
        found = None
        today = (now - BAR).date()
        for day in (today, today - timedelta(days=1)):
            part = DaySymbol(day, symbol)
            if store.exists(BARS_ASSET, part):
                stored = pl.read_parquet(store.read_bytes(BARS_ASSET, part), columns=["available_at"])  # local or object store
                times = stored.filter(pl.col("available_at") <= now)["available_at"]
                if times.len():
                    found = times.max()
                    break
        if found is None:
            return None
        newest.append(found)
    return min(newest)


def decision_bar(market_data: MarketDataSource, now: datetime) -> datetime | None:
    """The bar a tick at ``now`` decides on: the newest close the market source serves live
    (ccxt: the clock's newest closed bar, fetched by the tick), else the newest close every
    symbol has in the lake (bundles and file drops reach serving only through market_bars)."""
    live = market_data.newest_close(now)
    if live is not None:
        return live
    return newest_closed_bar(ParquetLake(settings.home().lake), settings.universe(), now)


def _request(context: SensorEvaluationContext, mode: str, market_data: MarketDataSource, now: datetime | None = None):
    now = now or utc_now()
    bar = decision_bar(market_data, now)
    if bar is None:
        return SkipReason("no closed bar in the lake for every symbol of the universe")
    if context.cursor and datetime.fromisoformat(context.cursor) >= bar:
        return SkipReason(f"bar {bar.isoformat()} already requested")
    context.update_cursor(bar.isoformat())
    return RunRequest(
        run_key=f"{mode}:{bar.isoformat()}",
        run_config={"ops": {OP: {"config": {"mode": mode, "bar": bar.isoformat()}}}},
        tags={"quant_assets/trading_mode": mode, "quant_assets/bar": bar.isoformat()},
    )


@sensor(job=trading_tick_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Paper trading: one trading_tick run per new closed 5m bar (cursor: the last bar).")  # fmt: skip
def paper_trading_sensor(context: SensorEvaluationContext, market_data: MarketDataSource):
    return _request(context, "paper", market_data)


@sensor(job=trading_tick_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.STOPPED,
        description="Live trading: STOPPED by default; requests nothing unless a person enabled live trading "
                    "(quant-assets trading enable-live) and the keys of the account's mode (real or testnet) are set.")  # fmt: skip
def live_trading_sensor(context: SensorEvaluationContext, market_data: MarketDataSource, exchange_account: ExchangeAccount):
    ledger = Ledger.open()
    try:
        enabled, killed = ledger.journal.live_enabled(), ledger.journal.kill_switch()
    finally:
        ledger.close()
    if not enabled.on:
        return SkipReason("live trading has not been enabled by a person (quant-assets trading enable-live)")
    refusal = exchange_account.refusal()
    if refusal:
        return SkipReason(refusal)
    if killed.on:
        return SkipReason(f"the kill switch is set (by {killed.by}: {killed.reason})")
    return _request(context, "live", market_data)
