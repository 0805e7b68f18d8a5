"""Each book's UTC day, read back from the ledger: what the ``trading_book`` asset records.

Everything is derived from rows the ledger keeps for good (fills, orders, equity marks, risk
events), never from its running totals (positions, cash), so a past day read again gives the
same answer however much has been traded since:

- positions at the day's close: every fill up to then, moved as the ledger moved them
  (``position_change``);
- equity at the day's open and close: the last equity mark before each (the start of the
  book's first day is its starting cash); PnL is their difference;
- the day's orders (by decision bar), fills, fees, realised PnL, and halts by reason code.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa

from serving.ledger.bookkeeping import Bookkeeping, fee_in_quote, position_change
from serving.ledger.store import Ledger


@dataclass
class DayBook:
    mode: str
    strategy: str
    day: date
    equity_open: float
    equity_close: float
    positions: dict[str, float] = field(default_factory=dict)  # symbol -> base quantity at the close
    orders: int = 0
    fills: int = 0
    fees_quote: float = 0.0
    realized_pnl: float = 0.0
    halts: dict[str, int] = field(default_factory=dict)  # reason code -> events that day

    @property
    def pnl(self) -> float:
        return self.equity_close - self.equity_open

    def as_dict(self) -> dict:
        return {"book": f"{self.mode}/{self.strategy}", "day": self.day.isoformat(), "equity_open": self.equity_open,
                "equity_close": self.equity_close, "pnl": self.pnl, "positions": self.positions, "orders": self.orders,
                "fills": self.fills, "fees_quote": self.fees_quote, "realized_pnl": self.realized_pnl, "halts": self.halts}  # fmt: skip


def day_books(ledger: Ledger, day: date) -> list[DayBook]:
    """Every book the ledger holds, as of the close of UTC ``day`` (``day + 1 00:00``)."""
    start = datetime.combine(day, time())  # naive UTC, as stored
    end = start + timedelta(days=1)
    t = ledger.t
    with ledger.engine.connect() as conn:
        books = conn.execute(sa.select(t["cash"].c.mode, t["cash"].c.strategy, t["cash"].c.starting)).all()
        fills = conn.execute(
            sa.select(t["orders"].c.mode, t["orders"].c.strategy, t["orders"].c.symbol, t["orders"].c.side, t["fills"].c.ts,
                      t["fills"].c.quantity, t["fills"].c.price, t["fills"].c.fee, t["fills"].c.fee_currency, t["fills"].c.realized_pnl)
            .join(t["orders"], t["orders"].c.client_order_id == t["fills"].c.client_order_id)
            .where(t["fills"].c.ts < end)
            .order_by(t["fills"].c.ts, t["fills"].c.id)
        ).mappings().all()  # fmt: skip
        orders = conn.execute(
            sa.select(t["orders"].c.mode, t["orders"].c.strategy, sa.func.count())
            .where(t["orders"].c.decision_bar >= start, t["orders"].c.decision_bar < end)
            .group_by(t["orders"].c.mode, t["orders"].c.strategy)
        ).all()
        halts = conn.execute(
            sa.select(t["risk_events"].c.mode, t["risk_events"].c.strategy, t["risk_events"].c.code, sa.func.count())
            .where(t["risk_events"].c.decision_bar >= start, t["risk_events"].c.decision_bar < end)
            .group_by(t["risk_events"].c.mode, t["risk_events"].c.strategy, t["risk_events"].c.code)
        ).all()

    held: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    today: dict[tuple[str, str], list] = defaultdict(list)
    for f in fills:
        key = (f["mode"], f["strategy"])
        held[key][f["symbol"]] += position_change(f["side"], f["quantity"], f["fee"], f["fee_currency"], f["symbol"])
        if f["ts"] >= start:
            today[key].append(f)
    order_counts = {(m, s): n for m, s, n in orders}
    halt_counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for m, s, code, n in halts:
        halt_counts[m, s][code] += n

    out = []
    for mode, strategy, starting in books:
        key = (mode, strategy)
        opened, closed = _equity_at(ledger.bookkeeping, mode, strategy, day, starting)
        out.append(DayBook(
            mode, strategy, day, opened, closed,
            positions={s: q for s, q in sorted(held[key].items()) if abs(q) > 1e-12},
            orders=order_counts.get(key, 0), fills=len(today[key]),
            fees_quote=sum(fee_in_quote(f["symbol"], f["fee"], f["fee_currency"], f["price"]) for f in today[key]),
            realized_pnl=sum(f["realized_pnl"] or 0.0 for f in today[key]),
            halts=dict(sorted(halt_counts[key].items())),
        ))  # fmt: skip
    return out


def _equity_at(bookkeeping: Bookkeeping, mode: str, strategy: str, day: date, starting: float) -> tuple[float, float]:
    """Equity at the day's open (``opening_equity``) and close (the day's last mark, else the
    open: nothing was marked, nothing moved)."""
    marks = bookkeeping.equity_marks(mode, strategy, day)
    opened = opening_equity(marks, day, starting)
    midnight = datetime.combine(day, time(), timezone.utc)
    during = [eq for ts, eq in marks if ts >= midnight]
    return opened, (during[-1] if during else opened)


def opening_equity(marks: list[tuple[datetime, float]], day: date, starting: float) -> float:
    """A book's equity at the open of UTC ``day``: the last mark before it (``marks`` as
    ``Bookkeeping.equity_marks`` gives them), else its starting cash (the book's first day)."""
    midnight = datetime.combine(day, time(), timezone.utc)
    before = [eq for ts, eq in marks if ts < midnight]
    return before[-1] if before else starting
