"""Paper against its reference, every day: a paper book's PnL over a UTC day beside the
reference strategy's PnL on the same decisions, and the bound their gap must stay within.

The reference (``quant_assets.evaluation.strategy.simulate``, the accounting oos_eval runs):
between two sizing instants a symbol holds a constant notional and earns ``notional x log
return`` to the next instant; every change of notional pays ``cost / 2`` per unit. Here the
notionals are the book's own: at each instant the book sized the symbol (a ``signals`` row),
the held decisions of its horizons combined with the weights (``signals.targets``) and sized
by the allocator itself (``allocator.allocate``: risk budget, the cap at that tick's equity,
the gross cap, the minimum change) from the reference's own quantities. The day starts from
the book's holdings at 00:00 (each day's check judges that day's trading alone) and runs from
the close at 00:00 to the next 00:00 close, the window of the book's equity marks at those
two ticks.

The ledger differs from that by second-order terms only (``parity_bound``): it holds a
quantity (the notional drifts with the price), fills at the next bar's open (not the
decision's close) and trades the drifted notional back to its target. A gap beyond the bound
is the paper book not doing what the reference says its decisions are worth: fees or
slippage other than half the round-trip cost, a fill at a wrong price, an order the risk
checks refused, a partial fill. Where the book lacks the marks of either end of the day (a
book's first day opens at its starting cash), or the lake a bar it needs, the day is not
compared and the problem is named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import polars as pl
import sqlalchemy as sa

from quant_assets.evaluation import strategy
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.symbols import Symbol
from quant_assets.timegrid import BAR, TS_DTYPE, utc_now
from serving import signals
from serving.allocator import Sizing, allocate
from serving.ledger import Bookkeeping, Ledger
from serving.ledger.daily import day_books
from serving.ledger.engine import naive
from serving.risk.checks import RiskLimits
from serving.settings import ServingSettings

UTC = timezone.utc
MODE = "paper"


def parity_bound(rows: pl.DataFrame, cost: float, capital: float) -> float:
    """The largest gap, in quote, between a paper ledger's PnL and the reference's on the same
    decisions, from second-order terms only.

    ``rows``: one per held interval, with the reference's ``notional`` (signed quote) held
    over it, its ``label`` (log return of the close over the interval), the decision bar's
    ``close`` and the fill bar's ``open``. Per interval: ``|notional| x (label^2 / 2`` (log
    against simple return) ``+ |open - close| / close`` (filled at the next open, not the
    close) ``+ |label| x cost)`` (the cost on the drift of a held notional traded back); plus
    1e-6 of capital for float noise.
    """
    if rows.is_empty():
        return 1e-6 * capital
    n, lab = pl.col("notional").abs(), pl.col("label")
    per = n * (lab * lab / 2 + (pl.col("open") - pl.col("close")).abs() / pl.col("close") + lab.abs() * cost)
    return 1e-6 * capital + float(rows.select(per.sum()).item())


@dataclass(frozen=True)
class DayParity:
    book: str  # mode/strategy
    day: date
    pnl_book: float | None  # equity at the day's 00:00 close to the next 00:00 close
    pnl_reference: float | None
    bound: float | None
    sizings: int  # sizing instants of the day, all symbols
    problem: str | None = None  # why the day could not be compared

    @property
    def gap(self) -> float | None:
        return None if self.problem else self.pnl_book - self.pnl_reference

    @property
    def within(self) -> bool:
        return self.problem is None and abs(self.gap) <= self.bound

    def line(self) -> str:
        if self.problem:
            return f"{self.book}: not compared: {self.problem}"
        verdict = "within" if self.within else "OUTSIDE"
        return (f"{self.book}: book PnL {self.pnl_book:+,.4f} vs reference {self.pnl_reference:+,.4f} on the same decisions "
                f"({self.sizings} sizings), gap {self.gap:+,.4f} {verdict} the bound {self.bound:,.4f}")  # fmt: skip

    def as_dict(self) -> dict:
        return {"book": self.book, "day": self.day.isoformat(), "pnl_book": self.pnl_book, "pnl_reference": self.pnl_reference,
                "gap": self.gap, "bound": self.bound, "sizings": self.sizings, "within": self.within, "problem": self.problem}  # fmt: skip


def paper_parity(ledger: Ledger, store: ParquetLake, day: date, cfg: ServingSettings, limits: RiskLimits) -> list[DayParity]:
    """Every paper book that ticked during UTC ``day``, against the reference on its decisions
    (none before the day is over: its closing mark does not exist yet)."""
    start = datetime.combine(day, time(), UTC)
    if start + timedelta(days=1) > utc_now():
        return []
    marks = ledger.t["equity_marks"]
    with ledger.engine.connect() as conn:
        books = conn.execute(
            sa.select(marks.c.strategy).distinct()
            .where(marks.c.mode == MODE, marks.c.ts >= naive(start), marks.c.ts < naive(start + timedelta(days=1)))
        ).scalars().all()  # fmt: skip
    opening = {(b.mode, b.strategy): b.positions for b in day_books(ledger, day - timedelta(days=1))}  # at the day's 00:00
    return [
        book_parity(ledger, store, name, day, cfg, limits, {Symbol.from_ccxt(s).key: q for s, q in opening.get((MODE, name), {}).items()})
        for name in sorted(books)
    ]


def book_parity(ledger: Ledger, store: ParquetLake, strategy_name: str, day: date, cfg: ServingSettings, limits: RiskLimits,
                opening: dict[str, float]) -> DayParity:  # fmt: skip
    """One paper book's day. ``opening``: lake key -> the quantity it held at the day's 00:00
    (the reference starts from the book's own holdings: each day's check judges that day)."""
    start = datetime.combine(day, time(), UTC)
    end = start + timedelta(days=1)
    book = f"{MODE}/{strategy_name}"
    equity = _equity_marks(ledger, strategy_name, start, end)
    if start not in equity and not _marked_before(ledger, strategy_name, start):  # its first day: it opened flat, with its cash
        equity[start] = _starting_cash(ledger.bookkeeping, strategy_name)
    missing = [f"{t:%Y-%m-%d %H:%M}" for t in (start, end) if t not in equity]
    if missing:
        return DayParity(book, day, None, None, None, 0, f"no equity mark at {' and '.join(missing)} (the book did not tick then)")
    pnl_book = equity[end] - equity[start]

    instants, cost = _sizing_instants(ledger, strategy_name, start, end)
    symbols = sorted({s for ss in instants.values() for s in ss} | {s for s, q in opening.items() if q})
    bars = _bars(store, symbols, day - timedelta(days=1), day)
    needed = sorted({(s, t) for s in symbols for t in (start, end)} | {(s, t) for t, ss in instants.items() for s in ss})
    absent = [(s, t) for s, t in needed if t not in bars.get(s, {})]
    if absent:
        s, t = absent[0]
        return DayParity(book, day, pnl_book, None, None, len(instants), f"{s}: no bar closes at {t:%Y-%m-%d %H:%M} in the lake")

    quantity = {s: opening.get(s, 0.0) for s in symbols}
    held: dict[str, dict[datetime, tuple[float, bool]]] = {s: {} for s in symbols}  # t -> (notional, traded)
    for t, deciding in sorted(instants.items()):
        targets = signals.targets(ledger.journal.held_positions(MODE, strategy_name, t), cfg.weights, sorted(deciding))
        sizing = Sizing(cfg.capital, cfg.risk_budget, limits.max_position, cfg.max_gross, cfg.min_change, equity.get(t))
        prices = {s: bars[s][t][0] for s in deciding}
        proposals, _ = allocate(targets, prices, {s: quantity[s] for s in deciding}, sizing)  # the tick's sizing, skips included
        traded = {p.symbol for p in proposals}
        for p in proposals:
            quantity[p.symbol] += p.quantity
        for s in deciding:
            held[s][t] = (quantity[s] * prices[s], s in traded)

    frames, total = [], 0.0
    for symbol in symbols:
        rows = _symbol_rows(held[symbol], bars[symbol], opening.get(symbol, 0.0), start, end)
        # THE reference call: oos_eval's accounting on the book's own notionals (quote units).
        carried = opening.get(symbol, 0.0) * bars[symbol][start][0]
        ref = strategy.simulate(rows, pl.col("notional"), ["notional"], horizon=BAR, cost=cost, initial_position=carried)
        total += float(ref["pnl"].sum())
        frames.append(rows)
    return DayParity(book, day, pnl_book, total, parity_bound(pl.concat(frames), cost, cfg.capital), len(instants))


def _equity_marks(ledger: Ledger, strategy_name: str, since: datetime, until: datetime) -> dict[datetime, float]:
    """ts -> equity of the book's marks in ``[since, until]`` (a tick marks at its decision time)."""
    marks = ledger.t["equity_marks"]
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            sa.select(marks.c.ts, marks.c.equity)
            .where(marks.c.mode == MODE, marks.c.strategy == strategy_name, marks.c.ts >= naive(since), marks.c.ts <= naive(until))
        ).all()  # fmt: skip
    return {ts.replace(tzinfo=UTC): eq for ts, eq in rows}


def _marked_before(ledger: Ledger, strategy_name: str, start: datetime) -> bool:
    marks = ledger.t["equity_marks"]
    with ledger.engine.connect() as conn:
        first = conn.execute(sa.select(sa.func.min(marks.c.ts)).where(marks.c.mode == MODE, marks.c.strategy == strategy_name)).scalar()
    return first is not None and first < naive(start)


def _starting_cash(bookkeeping: Bookkeeping, strategy_name: str) -> float:
    (cash,) = bookkeeping.cash(MODE, strategy_name)
    return float(cash["starting"])


def _sizing_instants(ledger: Ledger, strategy_name: str, start: datetime, end: datetime) -> tuple[dict[datetime, set[str]], float]:
    """Instant of the day -> the symbols sized then (they had a decision); and the decisions' cost."""
    s = ledger.t["signals"]
    with ledger.engine.connect() as conn:
        today = conn.execute(
            sa.select(s.c.t, s.c.symbol, s.c.cost)
            .where(s.c.mode == MODE, s.c.strategy == strategy_name, s.c.t >= naive(start), s.c.t < naive(end))
        ).all()  # fmt: skip
    instants: dict[datetime, set[str]] = {}
    for t, symbol, _ in today:
        instants.setdefault(t.replace(tzinfo=UTC), set()).add(symbol)
    return instants, max((c for *_, c in today), default=0.0)


def _bars(store: ParquetLake, symbols: list[str], first: date, last: date) -> dict[str, dict[datetime, tuple[float, float]]]:
    """symbol -> close time -> (close, the next bar's open), from the lake bars of ``first..last``
    and the day after (what the ticks saw; the fill of a decision at t is at the open of t)."""
    out = {}
    days = [first + timedelta(days=i) for i in range((last - first).days + 2)]
    for symbol in symbols:
        parts = [store.read(BARS_ASSET, DaySymbol(d, symbol)) for d in days if store.exists(BARS_ASSET, DaySymbol(d, symbol))]
        if not parts:
            continue
        bars = pl.concat([p.select("ts", "available_at", "open", "close") for p in parts]).sort("ts")
        opens = dict(zip(bars["ts"], bars["open"]))
        out[symbol] = {t: (c, opens.get(t, c)) for t, c in zip(bars["available_at"], bars["close"])}
    return out


def _symbol_rows(held: dict[datetime, tuple[float, bool]], bars: dict[datetime, tuple[float, float]], opening: float,
                 start: datetime, end: datetime) -> pl.DataFrame:  # fmt: skip
    """One symbol's held intervals of the day: from 00:00 and each sizing to the next (or to the
    day's end), with the notional held, the label, the close and the fill's open (the close
    where nothing traded: no fill, no open-vs-close gap)."""
    times = sorted({start, *held})
    notional, opened = [], opening * bars[start][0]  # 00:00 without a sizing: the opening holding
    for t in times:
        opened = held.get(t, (opened, False))[0]
        notional.append(opened)
    return pl.DataFrame(
        {
            "t": times,
            "notional": notional,
            "label": [math.log(bars[b][0] / bars[a][0]) for a, b in zip(times, [*times[1:], end])],
            "close": [bars[t][0] for t in times],
            "open": [bars[t][1] if held.get(t, (0, False))[1] else bars[t][0] for t in times],
        },
        schema={"t": TS_DTYPE, "notional": pl.Float64, "label": pl.Float64, "close": pl.Float64, "open": pl.Float64},
    )
