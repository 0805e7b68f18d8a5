"""The ledger's bookkeeping: orders, their fills, and the positions, cash and equity marks
they move, per book (mode, strategy).

An order is recorded once under its client order id (a repeated tick gets the one already
recorded, :meth:`Bookkeeping.record_order`), and only the run that stamps its send may send
it (:meth:`Bookkeeping.claim_send`). Fills, the positions and cash they move, and the order's
status change in one transaction (:meth:`Bookkeeping.apply`): a fill is either fully booked
or not at all, and each fill is booked once.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from quant_assets.timegrid import utc_now
from serving.ledger.engine import Database, aware, aware_row, naive
from serving.records import FINAL, NEW, OrderRequest, OrderUpdate


def position_change(side: str, quantity: float, fee: float, fee_currency: str, symbol: str) -> float:
    """How one fill moves the base quantity held: signed by side, less a fee paid in the base
    currency (the default venue's default on buys)."""
    signed = quantity if side == "buy" else -quantity
    return signed - (fee if fee_currency == symbol.partition("/")[0] else 0.0)


def fee_in_quote(symbol: str, fee: float, fee_currency: str, price: float) -> float:
    """A fill's fee in the quote currency: as is, converted at the fill price when paid in the
    base currency, 0 when paid in a third asset (BNB; recorded on the fill only)."""
    base, _, quote = symbol.partition("/")
    if fee_currency == quote.split(":")[0]:
        return fee
    return fee * price if fee_currency == base else 0.0


class Bookkeeping:
    """Orders, fills, positions, cash and equity marks: what each book did and holds."""

    def __init__(self, db: Database):
        self.db = db

    # -- orders --------------------------------------------------------------------------

    def record_order(self, order: OrderRequest) -> tuple[dict, bool]:
        """Record ``order`` under its client order id, or find the one already recorded.

        Returns the stored row and whether this call created it. The first recording wins:
        a retry that computed a different quantity still gets the original order.
        """
        now = naive(utc_now())
        values = dict(
            client_order_id=order.client_order_id,
            mode=order.mode,
            strategy=order.strategy,
            symbol=order.symbol,
            decision_bar=naive(order.decision_bar),
            side=order.side,
            quantity=order.quantity,
            reference_price=order.reference_price,
            status=NEW,
            filled_quantity=0.0,
            created_at=now,
            updated_at=now,
        )
        with self.db.engine.begin() as conn:
            created = self.db.insert_once(conn, "orders", values, ["client_order_id"])
            return self._order(conn, order.client_order_id), created

    def _order(self, conn: Connection, client_order_id: str) -> dict | None:
        orders = self.db.t["orders"]
        row = conn.execute(sa.select(orders).where(orders.c.client_order_id == client_order_id)).mappings().one_or_none()
        return None if row is None else aware_row(row)

    def order(self, client_order_id: str) -> dict | None:
        """The order recorded under ``client_order_id``, or None."""
        with self.db.engine.connect() as conn:
            return self._order(conn, client_order_id)

    def orders(self, mode: str | None = None, status: tuple[str, ...] | None = None, limit: int | None = None) -> list[dict]:
        """Orders, newest first."""
        orders = self.db.t["orders"]
        where = [orders.c.status.in_(status)] if status else []
        return self.db.rows("orders", *where, order_by=[orders.c.id.desc()], limit=limit, mode=mode)

    def claim_send(self, client_order_id: str, seen_sent_at: datetime | None, now: datetime) -> bool:
        """Stamp ``now`` as the order's newest send, if it is still ``new`` and nobody stamped it
        since this run read ``seen_sent_at`` (compare-and-set): True means this run may send it.
        Two runs racing for one order cannot both send it."""
        orders = self.db.t["orders"]
        seen = orders.c.sent_at.is_(None) if seen_sent_at is None else orders.c.sent_at == naive(seen_sent_at)
        with self.db.engine.begin() as conn:
            stamped = conn.execute(
                orders.update()
                .where(orders.c.client_order_id == client_order_id, orders.c.status == NEW, seen)
                .values(sent_at=naive(now), updated_at=naive(utc_now()))
            )
            return stamped.rowcount == 1

    def apply(self, update: OrderUpdate) -> int:
        """Book what a venue reported: new fills (each once), positions, cash, status.

        Returns how many fills were new. A final status is never reopened, so a stale report
        arriving late cannot undo a fill.
        """
        t = self.db.t
        with self.db.engine.begin() as conn:
            order = self._order(conn, update.client_order_id)
            if order is None:
                raise KeyError(f"no order {update.client_order_id} in the ledger: record it before placing it")
            new_fills = 0
            for fill in update.fills:
                inserted = self.db.insert_once(
                    conn,
                    "fills",
                    dict(
                        client_order_id=update.client_order_id,
                        fill_id=fill.fill_id,
                        ts=naive(fill.ts),
                        quantity=fill.quantity,
                        price=fill.price,
                        fee=fill.fee,
                        fee_currency=fill.fee_currency,
                        realized_pnl=None,
                    ),
                    ["client_order_id", "fill_id"],
                )
                if inserted:
                    new_fills += 1
                    pnl = self._book(conn, order, fill)
                    conn.execute(
                        t["fills"]
                        .update()
                        .where(t["fills"].c.client_order_id == update.client_order_id, t["fills"].c.fill_id == fill.fill_id)
                        .values(realized_pnl=pnl)
                    )
            filled = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(t["fills"].c.quantity), 0.0)).where(t["fills"].c.client_order_id == update.client_order_id)
            ).scalar_one()
            if update.status == NEW and order["status"] != NEW:
                update = OrderUpdate(update.client_order_id, order["status"])  # "outcome unknown" never undoes what is known
            status = order["status"] if order["status"] in FINAL else update.status
            conn.execute(
                t["orders"]
                .update()
                .where(t["orders"].c.client_order_id == update.client_order_id)
                .values(
                    status=status,
                    filled_quantity=filled,
                    exchange_order_id=update.exchange_order_id or order["exchange_order_id"],
                    reason_code=update.reason_code or order["reason_code"],
                    reason=update.reason or order["reason"],
                    updated_at=naive(utc_now()),
                )
            )
            return new_fills

    def _book(self, conn: Connection, order: dict, fill) -> float | None:
        """Move the position and cash by one fill; the fill's realised PnL if it closes any."""
        mode, strategy, symbol = order["mode"], order["strategy"], order["symbol"]
        quote = symbol.partition("/")[2].split(":")[0]
        positions, cash = self.db.t["positions"], self.db.t["cash"]
        key = (positions.c.mode == mode) & (positions.c.strategy == strategy) & (positions.c.symbol == symbol)
        pos = conn.execute(sa.select(positions).where(key)).mappings().one_or_none()
        qty, avg, realized = (pos["quantity"], pos["avg_price"], pos["realized_pnl"]) if pos else (0.0, 0.0, 0.0)

        signed = fill.quantity if order["side"] == "buy" else -fill.quantity
        closing = min(abs(qty), fill.quantity) if qty * signed < 0 else 0.0
        gross = closing * (fill.price - avg) * (1 if qty > 0 else -1) if closing else 0.0
        # Fees in the quote currency leave cash; fees in the base currency (the default venue's
        # default on buys) leave the position. Fees in a third asset (a venue's own token) are
        # recorded on the fill only.
        fee_quote = fee_in_quote(symbol, fill.fee, fill.fee_currency, fill.price)
        new_qty = qty + position_change(order["side"], fill.quantity, fill.fee, fill.fee_currency, symbol)
        if qty * signed >= 0:  # opening or extending: the average cost moves
            avg = (abs(qty) * avg + fill.quantity * fill.price) / (abs(qty) + fill.quantity)
        elif abs(signed) > abs(qty):  # flipped through zero: the rest opened at this price
            avg = fill.price
        pnl = gross - fee_quote if closing else None
        realized += gross - fee_quote
        values = dict(quantity=new_qty, avg_price=avg if abs(new_qty) > 1e-12 else 0.0, realized_pnl=realized, updated_at=naive(fill.ts))
        if pos:
            conn.execute(positions.update().where(key).values(**values))
        else:
            conn.execute(positions.insert().values(mode=mode, strategy=strategy, symbol=symbol, **values))
        cash_key = (cash.c.mode == mode) & (cash.c.strategy == strategy)
        flow = -signed * fill.price - (fill.fee if fill.fee_currency == quote else 0.0)
        if conn.execute(cash.update().where(cash_key).values(balance=cash.c.balance + flow, updated_at=naive(fill.ts))).rowcount == 0:
            conn.execute(cash.insert().values(mode=mode, strategy=strategy, currency=quote, starting=0.0, balance=flow, updated_at=naive(fill.ts)))
        return pnl

    # -- books -----------------------------------------------------------------------

    def open_account(self, mode: str, strategy: str, currency: str, starting: float) -> None:
        """Give a book its starting cash once; later calls leave the balance alone."""
        values = dict(mode=mode, strategy=strategy, currency=currency, starting=starting, balance=starting, updated_at=naive(utc_now()))
        with self.db.engine.begin() as conn:
            self.db.insert_once(conn, "cash", values, ["mode", "strategy"])

    def positions(self, mode: str | None = None, strategy: str | None = None) -> list[dict]:
        return self.db.rows("positions", mode=mode, strategy=strategy)

    def cash(self, mode: str | None = None, strategy: str | None = None) -> list[dict]:
        return self.db.rows("cash", mode=mode, strategy=strategy)

    def fills(self, client_order_id: str | None = None) -> list[dict]:
        return self.db.rows("fills", client_order_id=client_order_id)

    def equity(self, mode: str, strategy: str, marks: dict[str, float]) -> float:
        """Cash plus every position at ``marks`` (symbol -> price; a missing mark uses the
        position's average price, so a symbol without a fresh bar neither gains nor loses)."""
        (cash,) = self.cash(mode, strategy) or [{"balance": 0.0}]
        return cash["balance"] + sum(p["quantity"] * marks.get(p["symbol"], p["avg_price"]) for p in self.positions(mode, strategy))

    def mark_equity(self, mode: str, strategy: str, ts: datetime, equity: float) -> None:
        with self.db.engine.begin() as conn:
            self.db.insert_once(conn, "equity_marks", dict(mode=mode, strategy=strategy, ts=naive(ts), equity=equity), ["mode", "strategy", "ts"])

    def equity_marks(self, mode: str, strategy: str, day: date) -> list[tuple[datetime, float]]:
        """Marks of the UTC ``day``, oldest first, led by the last mark before it (the day's start)."""
        marks = self.db.t["equity_marks"]
        start = datetime.combine(day, time())
        book = (marks.c.mode == mode) & (marks.c.strategy == strategy)
        with self.db.engine.connect() as conn:
            before = conn.execute(sa.select(marks.c.ts, marks.c.equity).where(book, marks.c.ts < start).order_by(marks.c.ts.desc()).limit(1)).all()
            today = conn.execute(
                sa.select(marks.c.ts, marks.c.equity).where(book, marks.c.ts >= start, marks.c.ts < start + timedelta(days=1)).order_by(marks.c.ts)
            ).all()
        return [(aware(ts), eq) for ts, eq in [*before, *today]]

    def closing_pnls(self, mode: str, strategy: str, limit: int = 100) -> list[float]:
        """Realised PnL of the newest closing fills, newest first."""
        fills, orders = self.db.t["fills"], self.db.t["orders"]
        query = (
            sa.select(fills.c.realized_pnl)
            .join(orders, orders.c.client_order_id == fills.c.client_order_id)
            .where(orders.c.mode == mode, orders.c.strategy == strategy, fills.c.realized_pnl.is_not(None))
            .order_by(fills.c.ts.desc(), fills.c.id.desc())
            .limit(limit)
        )
        with self.db.engine.connect() as conn:
            return [r for (r,) in conn.execute(query)]
