"""One trading tick: the newest closed bar in, orders and fills out. The paper sensor, the live
sensor and ``quant-assets paper replay`` all run this function; they differ only in the
adapter, the book and the clock.

For decision time ``t`` (the close of the newest closed bar), at clock ``now``:

1. resolve each (symbol, horizon)'s champion; one without writes ``NO_CHAMPION`` and makes no
   new decision; a held non-zero decision of it is flattened (a flat ``signals`` row, order and
   ``NO_CHAMPION_FLATTEN`` event) unless ``QUANT_ASSETS_SERVING_FLATTEN_WITHOUT_CHAMPION=false``
   holds it (a symbol under a data halt is flattened at its next clean tick);
2. the feature rows at ``t`` (``serving.features``, feature_matrix's own code) and the marks;
3. data halts per symbol (``serving.risk.data``), each a ledger event; a halted symbol makes
   no decision and gets no order this tick;
4. predict with the champions, decide the horizons due at ``t`` (``serving.signals``, the
   reference strategy's rule), record the decisions once;
5. for the symbols that decided, combine the held decisions with the weights and size
   orders (``serving.allocator``, capped against the book's equity at the tick's marks, as the
   risk check caps); the others hold their quantity until their next decision;
6. the shared order batch (``execution.batch.run_batch``): kill switch, loss halts, live
   gate, idempotent orders by client order id, fills.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
import torch

from quant_assets.labels.costs import cost_from_env
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models.dataset import design_matrix
from quant_assets.models.lgbm import MAIN, predict_boosters
from quant_assets.symbols import Symbol
from quant_assets.timegrid import BAR
from serving import signals
from serving.allocator import Sizing, allocate
from serving.execution.base import ExecutionAdapter
from serving.execution.batch import BatchResult, Book, run_batch
from serving.execution.paper import Bar
from serving.features import FeatureServer
from serving.ledger import Journal, Ledger
from serving.models import Champion, ChampionModels, NoChampion
from serving.records import OrderRequest
from serving.risk.checks import RiskLimits
from serving.risk.data import DataHalt, data_halts
from serving.settings import ServingSettings

NO_CHAMPION = "NO_CHAMPION"
NO_CHAMPION_FLATTEN = "NO_CHAMPION_FLATTEN"


@dataclass
class Trader:
    """What a tick needs, built once per run (a replay keeps it for every tick)."""

    ledger: Ledger
    adapter: ExecutionAdapter
    models: ChampionModels
    features: FeatureServer
    book: Book
    symbols: list[str]  # lake keys, e.g. BTC-USDT
    config: ServingSettings
    limits: RiskLimits
    market_type: str = "spot"
    keys_present: bool = False
    venue_refusal: Callable[[str, float, float], str | None] | None = None
    precision: Callable[[str, float], float] | None = None

    def ccxt(self, symbol: str) -> str:
        return Symbol.from_key(symbol).ccxt_symbol(self.market_type)


@dataclass
class TickReport:
    t: datetime
    no_champion: dict[tuple[str, str], str] = field(default_factory=dict)
    flattened: dict[tuple[str, str], float] = field(default_factory=dict)  # held position flattened for want of a champion
    data_halts: dict[str, list[DataHalt]] = field(default_factory=dict)
    predictions: dict[tuple[str, str], float] = field(default_factory=dict)
    decisions: list[dict] = field(default_factory=list)
    targets: dict[str, float] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)  # lake key -> close of the newest bar at t
    orders: list[OrderRequest] = field(default_factory=list)
    batch: BatchResult | None = None


@contextmanager
def one_thread():
    """A one-row prediction on one thread: thread pools cost more than they save on one row
    (LightGBM's and torch's OpenMP pools, woken per call, took ~10 ms each on a loaded machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def predict(champions: list[Champion], row: pl.DataFrame, family: str) -> dict[str, float]:
    """horizon -> the served prediction of one symbol's row, each model's design matrix built once."""
    with one_thread():
        return _predict(champions, row, family)


def _predict(champions: list[Champion], row: pl.DataFrame, family: str) -> dict[str, float]:
    out = {}
    for uri in dict.fromkeys(c.model_uri for c in champions):
        mine = [c for c in champions if c.model_uri == uri]
        model = mine[0].model
        x = design_matrix(row, model.input_columns)
        wanted = {c.horizon for c in mine}
        by_family = {}
        if family in (MAIN, "mean"):
            by_family[MAIN] = predict_boosters({h: b for h, b in model.boosters.items() if h in wanted}, x, model.input_columns, num_threads=1)[0]
        if family in ("mhnet", "mean"):
            by_family["mhnet"] = model.net.predict(x)[0]
        for h in wanted:
            j = HORIZON_NAMES.index(h)
            out[h] = float(sum(p[j] for p in by_family.values()) / len(by_family))
    return out


def run_tick(
    trader: Trader,
    t: datetime,
    now: datetime | None = None,
    fetched_bars: pl.DataFrame | None = None,
    step: Callable[[str], None] = lambda name: None,
) -> TickReport:
    now = now or t
    cfg, book, ledger = trader.config, trader.book, trader.ledger
    decision_bar = t - BAR
    report = TickReport(t)
    horizons = [h for h in HORIZON_NAMES if cfg.weights.get(h)]
    resolved = trader.models.resolve(trader.symbols, horizons)
    for symbol in trader.symbols:
        missing = [r for h in horizons if isinstance(r := resolved[symbol, h], NoChampion)]
        for r in missing:
            report.no_champion[symbol, r.horizon] = r.reason
        if missing:
            detail = "; ".join(f"{r.horizon}: {r.reason}" for r in missing)
            ledger.journal.record_risk_event(book.mode, book.strategy, decision_bar, "model", NO_CHAMPION, detail, trader.ccxt(symbol))
    orphans = _orphaned(ledger.journal, book, t, report.no_champion) if cfg.flatten_without_champion and report.no_champion else {}

    rows, closes = trader.features.snapshot(trader.symbols, t, fetched_bars)
    report.marks = closes
    by_symbol = {r["symbol"]: r for r in rows.iter_rows(named=True)}
    models = {}
    for symbol in trader.symbols:
        champions = [c for h in horizons if isinstance(c := resolved[symbol, h], Champion)]
        fit = None
        if champions:
            m = champions[0].model
            fit = (m.input_columns, m.net.scaler.mean, m.net.scaler.std)
        halts = data_halts(by_symbol[symbol], now, cfg.max_bar_age_s, cfg.max_missing_sources, cfg.max_drift, fit)
        if halts:
            report.data_halts[symbol] = halts
            for halt in halts:
                ledger.journal.record_risk_event(book.mode, book.strategy, decision_bar, "halt", halt.code, halt.detail, trader.ccxt(symbol))
            continue
        if champions:
            for h, p in predict(champions, rows.filter(pl.col("symbol") == symbol), cfg.family).items():
                report.predictions[symbol, h] = p
            models.update({(symbol, c.horizon): c.uri for c in champions})
    cost = cost_from_env().fraction
    report.decisions = signals.decide(rows, report.predictions, models, t, cost)
    report.flattened = {k: held for k, held in orphans.items() if k[0] not in report.data_halts}
    report.decisions += [signals.flat(s, h, t, cost) for s, h in report.flattened]
    ledger.journal.record_signals(book.mode, book.strategy, report.decisions)
    for symbol in dict.fromkeys(s for s, _ in report.flattened):
        detail = "; ".join(
            f"{h}: held {held:+.4g} flattened ({report.no_champion[s, h]})" for (s, h), held in report.flattened.items() if s == symbol
        )
        ledger.journal.record_risk_event(book.mode, book.strategy, decision_bar, "model", NO_CHAMPION_FLATTEN, detail, trader.ccxt(symbol))
    step("decided")

    # Like the reference strategy, a symbol is sized only when one of its horizons decides;
    # in between it holds its quantity (no rebalancing as the price drifts).
    decided = {d["symbol"] for d in report.decisions}
    tradable = [s for s in trader.symbols if s in decided and s in closes]
    held = ledger.journal.held_positions(book.mode, book.strategy, t)
    report.targets = signals.targets(held, cfg.weights, tradable)
    positions = {p["symbol"]: p["quantity"] for p in ledger.bookkeeping.positions(book.mode, book.strategy)}
    marks = {trader.ccxt(s): c for s, c in closes.items()}
    # The equity the batch's MAX_POSITION check reads (same marks); a book not opened yet has its starting cash.
    equity = ledger.bookkeeping.equity(book.mode, book.strategy, marks) if ledger.bookkeeping.cash(book.mode, book.strategy) else book.starting_cash
    sizing = Sizing(cfg.capital, cfg.risk_budget, trader.limits.max_position, cfg.max_gross, cfg.min_change, equity)
    proposals, _ = allocate(
        {trader.ccxt(s): v for s, v in report.targets.items()},
        {trader.ccxt(s): closes[s] for s in tradable},
        positions,
        sizing,
        trader.venue_refusal,
        trader.precision,
    )
    report.orders = [
        OrderRequest(book.mode, book.strategy, p.symbol, "buy" if p.quantity > 0 else "sell", abs(p.quantity), decision_bar,
                     closes[Symbol.from_ccxt(p.symbol).key])
        for p in proposals
    ]  # fmt: skip
    report.batch = run_batch(ledger, trader.adapter, book, decision_bar, report.orders, marks, trader.limits,
                             keys_present=trader.keys_present, step=step)  # fmt: skip
    return report


def _orphaned(journal: Journal, book: Book, t: datetime, no_champion: dict[tuple[str, str], str]) -> dict[tuple[str, str], float]:
    """(symbol, horizon) without a champion -> its held decision, where that is not flat."""
    held = journal.held_positions(book.mode, book.strategy, t)
    return {k: held[k] for k in no_champion if abs(held.get(k, 0.0)) > 0}


def lake_bars(features: FeatureServer, clock: Callable[[], datetime]) -> Callable[[str, datetime], Bar | None]:
    """The paper venue's bars: the lake's bar (ccxt symbol, open time) once closed by ``clock()``."""

    def lookup(symbol: str, open_time: datetime) -> Bar | None:
        found = features.bar(Symbol.from_ccxt(symbol).key, open_time, clock())
        return Bar(found["open"][0], found["volume"][0]) if found.height else None

    return lookup
