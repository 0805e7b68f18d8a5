"""The trading ledger: one SQLAlchemy engine over the tables the migrations create.

Every write that must happen once is an insert keyed by a unique constraint with
``ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL both have it), so a repeated tick, a second
sensor run or a retry after a crash finds the row already there instead of adding another.
Fills, the positions and cash they move, and the order's status change in one transaction:
a fill is either fully booked or not at all.

Tables are reflected from the migrated database, so the migrations are the one definition of
the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from serving.ledger import migrate
from serving.records import FINAL, NEW, OrderRequest, OrderUpdate

UTC = timezone.utc


def _naive(ts: datetime) -> datetime:
    """Stored form: naive UTC (SQLite keeps no zone)."""
    return ts.astimezone(UTC).replace(tzinfo=None)


def _aware(ts: datetime | None) -> datetime | None:
    return None if ts is None else ts.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Switch:
    """The newest kill-switch or live-enablement event; ``on`` False when there is none."""

    on: bool
    by: str | None = None
    reason: str | None = None
    at: datetime | None = None


def create_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A sensor tick and a CLI command may write at once: wait for the lock, do not fail.
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_wal)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_wal(dbapi_connection, _record) -> None:
    """Write-ahead logging, still synced on every commit (``synchronous=FULL``): a commit is one
    fsync of the log instead of the rollback journal's several, the tail of a tick's latency
    on a busy disk; readers (``quant-assets positions``) no longer wait for a writing tick.
    Durability is unchanged: a committed order survives a crash or power loss."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


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


class Ledger:
    def __init__(self, engine: Engine):
        self.engine = engine
        meta = sa.MetaData()
        meta.reflect(engine)
        self.t = meta.tables

    @classmethod
    def open(cls, url: str | None = None) -> "Ledger":
        """The ledger at ``url`` (default: ``serving.settings.ledger_url()``), migrated to head."""
        if url is None:
            # Imported here: the ledger (and its migrations) stays importable without Dagster,
            # whose resources serving.settings defines.
            from serving.settings import ledger_url

            url = ledger_url()
        engine = create_engine(url)
        migrate.upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- idempotent inserts ------------------------------------------------------------

    def _insert_once(self, conn: Connection, table: str, values: dict, keys: list[str]) -> bool:
        """Insert ``values`` unless a row with the same ``keys`` exists; True if inserted."""
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(self.t[table]).values(**values).on_conflict_do_nothing(index_elements=keys)
        return conn.execute(stmt).rowcount == 1

    # -- orders --------------------------------------------------------------------------

    def record_order(self, order: OrderRequest) -> tuple[dict, bool]:
        """Record ``order`` under its client order id, or find the one already recorded.

        Returns the stored row and whether this call created it. The first recording wins:
        a retry that computed a different quantity still gets the original order.
        """
        now = _naive(_now())
        values = dict(
            client_order_id=order.client_order_id,
            mode=order.mode,
            strategy=order.strategy,
            symbol=order.symbol,
            decision_bar=_naive(order.decision_bar),
            side=order.side,
            quantity=order.quantity,
            reference_price=order.reference_price,
            status=NEW,
            filled_quantity=0.0,
            created_at=now,
            updated_at=now,
        )
        with self.engine.begin() as conn:
            created = self._insert_once(conn, "orders", values, ["client_order_id"])
            return self._order(conn, order.client_order_id), created

    def _order(self, conn: Connection, client_order_id: str) -> dict | None:
        orders = self.t["orders"]
        row = conn.execute(sa.select(orders).where(orders.c.client_order_id == client_order_id)).mappings().one_or_none()
        return None if row is None else _aware_row(row)

    def order(self, client_order_id: str) -> dict | None:
        """The order recorded under ``client_order_id``, or None."""
        with self.engine.connect() as conn:
            return self._order(conn, client_order_id)

    def orders(self, mode: str | None = None, status: tuple[str, ...] | None = None, limit: int | None = None) -> list[dict]:
        """Orders, newest first."""
        orders = self.t["orders"]
        where = [orders.c.status.in_(status)] if status else []
        return self._rows("orders", *where, order_by=[orders.c.id.desc()], limit=limit, mode=mode)

    def claim_send(self, client_order_id: str, seen_sent_at: datetime | None, now: datetime) -> bool:
        """Stamp ``now`` as the order's newest send, if it is still ``new`` and nobody stamped it
        since this run read ``seen_sent_at`` (compare-and-set): True means this run may send it.
        Two runs racing for one order cannot both send it."""
        orders = self.t["orders"]
        seen = orders.c.sent_at.is_(None) if seen_sent_at is None else orders.c.sent_at == _naive(seen_sent_at)
        with self.engine.begin() as conn:
            stamped = conn.execute(
                orders.update()
                .where(orders.c.client_order_id == client_order_id, orders.c.status == NEW, seen)
                .values(sent_at=_naive(now), updated_at=_naive(_now()))
            )
            return stamped.rowcount == 1

    def apply(self, update: OrderUpdate) -> int:
        """Book what a venue reported: new fills (each once), positions, cash, status.

        Returns how many fills were new. A final status is never reopened, so a stale report
        arriving late cannot undo a fill.
        """
        t = self.t
        with self.engine.begin() as conn:
            order = self._order(conn, update.client_order_id)
            if order is None:
                raise KeyError(f"no order {update.client_order_id} in the ledger: record it before placing it")
            new_fills = 0
            for fill in update.fills:
                inserted = self._insert_once(
                    conn,
                    "fills",
                    dict(
                        client_order_id=update.client_order_id,
                        fill_id=fill.fill_id,
                        ts=_naive(fill.ts),
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
                    updated_at=_naive(_now()),
                )
            )
            return new_fills

    def _book(self, conn: Connection, order: dict, fill) -> float | None:
        """Move the position and cash by one fill; the fill's realised PnL if it closes any."""
        mode, strategy, symbol = order["mode"], order["strategy"], order["symbol"]
        quote = symbol.partition("/")[2].split(":")[0]
        positions, cash = self.t["positions"], self.t["cash"]
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
        values = dict(quantity=new_qty, avg_price=avg if abs(new_qty) > 1e-12 else 0.0, realized_pnl=realized, updated_at=_naive(fill.ts))
        if pos:
            conn.execute(positions.update().where(key).values(**values))
        else:
            conn.execute(positions.insert().values(mode=mode, strategy=strategy, symbol=symbol, **values))
        cash_key = (cash.c.mode == mode) & (cash.c.strategy == strategy)
        flow = -signed * fill.price - (fill.fee if fill.fee_currency == quote else 0.0)
        if conn.execute(cash.update().where(cash_key).values(balance=cash.c.balance + flow, updated_at=_naive(fill.ts))).rowcount == 0:
            conn.execute(cash.insert().values(mode=mode, strategy=strategy, currency=quote, starting=0.0, balance=flow, updated_at=_naive(fill.ts)))
        return pnl

    # -- books -----------------------------------------------------------------------

    def open_account(self, mode: str, strategy: str, currency: str, starting: float) -> None:
        """Give a book its starting cash once; later calls leave the balance alone."""
        values = dict(mode=mode, strategy=strategy, currency=currency, starting=starting, balance=starting, updated_at=_naive(_now()))
        with self.engine.begin() as conn:
            self._insert_once(conn, "cash", values, ["mode", "strategy"])

    def positions(self, mode: str | None = None, strategy: str | None = None) -> list[dict]:
        return self._rows("positions", mode=mode, strategy=strategy)

    def cash(self, mode: str | None = None, strategy: str | None = None) -> list[dict]:
        return self._rows("cash", mode=mode, strategy=strategy)

    def fills(self, client_order_id: str | None = None) -> list[dict]:
        return self._rows("fills", client_order_id=client_order_id)

    def _rows(self, table: str, *where, order_by=None, limit: int | None = None, **equal) -> list[dict]:
        """Rows of ``table`` matching ``where`` and each ``column=value`` not None, as dicts
        with aware UTC times; in primary-key order unless ``order_by`` says otherwise."""
        t = self.t[table]
        query = sa.select(t).where(*where, *(t.c[k] == v for k, v in equal.items() if v is not None))
        query = query.order_by(*(order_by or t.primary_key.columns))
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_aware_row(r) for r in conn.execute(query).mappings()]

    def equity(self, mode: str, strategy: str, marks: dict[str, float]) -> float:
        """Cash plus every position at ``marks`` (symbol -> price; a missing mark uses the
        position's average price, so a symbol without a fresh bar neither gains nor loses)."""
        (cash,) = self.cash(mode, strategy) or [{"balance": 0.0}]
        return cash["balance"] + sum(p["quantity"] * marks.get(p["symbol"], p["avg_price"]) for p in self.positions(mode, strategy))

    def mark_equity(self, mode: str, strategy: str, ts: datetime, equity: float) -> None:
        with self.engine.begin() as conn:
            self._insert_once(conn, "equity_marks", dict(mode=mode, strategy=strategy, ts=_naive(ts), equity=equity), ["mode", "strategy", "ts"])

    def equity_marks(self, mode: str, strategy: str, day: date) -> list[tuple[datetime, float]]:
        """Marks of the UTC ``day``, oldest first, led by the last mark before it (the day's start)."""
        marks = self.t["equity_marks"]
        start = datetime.combine(day, time())
        book = (marks.c.mode == mode) & (marks.c.strategy == strategy)
        with self.engine.connect() as conn:
            before = conn.execute(sa.select(marks.c.ts, marks.c.equity).where(book, marks.c.ts < start).order_by(marks.c.ts.desc()).limit(1)).all()
            today = conn.execute(
                sa.select(marks.c.ts, marks.c.equity).where(book, marks.c.ts >= start, marks.c.ts < start + timedelta(days=1)).order_by(marks.c.ts)
            ).all()
        return [(_aware(ts), eq) for ts, eq in [*before, *today]]

    def closing_pnls(self, mode: str, strategy: str, limit: int = 100) -> list[float]:
        """Realised PnL of the newest closing fills, newest first."""
        fills, orders = self.t["fills"], self.t["orders"]
        query = (
            sa.select(fills.c.realized_pnl)
            .join(orders, orders.c.client_order_id == fills.c.client_order_id)
            .where(orders.c.mode == mode, orders.c.strategy == strategy, fills.c.realized_pnl.is_not(None))
            .order_by(fills.c.ts.desc(), fills.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [r for (r,) in conn.execute(query)]

    # -- signals -------------------------------------------------------------------------

    def record_signals(self, mode: str, strategy: str, rows: list[dict]) -> int:
        """Horizon decisions (``symbol, horizon, t, model_uri, prediction, cost, vol, edge,
        score, position``), each once per (book, symbol, horizon, t); how many were new."""
        now = _naive(_now())
        with self.engine.begin() as conn:
            return sum(
                self._insert_once(
                    conn,
                    "signals",
                    {**r, "t": _naive(r["t"]), "mode": mode, "strategy": strategy, "recorded_at": now},
                    ["mode", "strategy", "symbol", "horizon", "t"],
                )
                for r in rows
            )

    def held_positions(self, mode: str, strategy: str, at: datetime) -> dict[tuple[str, str], float]:
        """(symbol, horizon) -> the position of its newest decision at or before ``at``."""
        s = self.t["signals"]
        newest = (
            sa.select(s.c.symbol, s.c.horizon, sa.func.max(s.c.t).label("t"))
            .where(s.c.mode == mode, s.c.strategy == strategy, s.c.t <= _naive(at))
            .group_by(s.c.symbol, s.c.horizon)
            .subquery()
        )
        query = (
            sa.select(s.c.symbol, s.c.horizon, s.c.position)
            .join(newest, (s.c.symbol == newest.c.symbol) & (s.c.horizon == newest.c.horizon) & (s.c.t == newest.c.t))
            .where(s.c.mode == mode, s.c.strategy == strategy)
        )
        with self.engine.connect() as conn:
            return {(sym, h): pos for sym, h, pos in conn.execute(query)}

    def signals(self, mode: str | None = None, strategy: str | None = None) -> list[dict]:
        return self._rows("signals", mode=mode, strategy=strategy)

    # -- risk events, kill switch, live enablement -------------------------------------

    def record_risk_event(self, mode: str, strategy: str, decision_bar: datetime, kind: str, code: str, detail: str, symbol: str = "") -> bool:
        """A halt or refusal with its reason code; once per (book, bar, code, symbol)."""
        values = dict(
            recorded_at=_naive(_now()),
            mode=mode,
            strategy=strategy,
            decision_bar=_naive(decision_bar),
            kind=kind,
            code=code,
            symbol=symbol,
            detail=detail,
        )
        with self.engine.begin() as conn:
            return self._insert_once(conn, "risk_events", values, ["mode", "strategy", "decision_bar", "code", "symbol"])

    def record_backoff(self, mode: str, strategy: str, decision_bar: datetime, code: str, detail: str, until: datetime) -> None:
        """A venue's "no requests before ``until``" (429 Retry-After, 418 ban) as a halt event;
        a later one for the same bar moves ``until`` on, never back."""
        self.record_risk_event(mode, strategy, decision_bar, "halt", code, detail)
        events = self.t["risk_events"]
        key = (
            (events.c.mode == mode) & (events.c.strategy == strategy) & (events.c.decision_bar == _naive(decision_bar))
            & (events.c.code == code) & (events.c.symbol == "")
        )  # fmt: skip
        with self.engine.begin() as conn:
            later = events.c.until.is_(None) | (events.c.until < _naive(until))
            conn.execute(events.update().where(key, later).values(until=_naive(until), detail=detail))

    def venue_backoff(self, mode: str, now: datetime) -> dict | None:
        """The back-off in force at ``now`` for ``mode``'s venue (any book: a ban is the
        account's and the IP's), the one that ends last; None when requests may go out."""
        events = self.t["risk_events"]
        rows = self._rows("risk_events", events.c.until > _naive(now), order_by=[events.c.until.desc()], limit=1, mode=mode)
        return rows[0] if rows else None

    def risk_events(self, mode: str | None = None) -> list[dict]:
        return self._rows("risk_events", mode=mode)

    def set_kill_switch(self, active: bool, by: str, reason: str) -> None:
        self._switch("kill_switch_events", "active", active, by, reason)

    def kill_switch(self) -> Switch:
        return self._state("kill_switch_events", "active")

    def set_live_enabled(self, enabled: bool, by: str, reason: str) -> None:
        """Only ``quant-assets trading enable-live`` / ``disable-live`` call this (a person)."""
        self._switch("live_enablement_events", "enabled", enabled, by, reason)

    def live_enabled(self) -> Switch:
        return self._state("live_enablement_events", "enabled")

    def switch_history(self, table: str) -> list[dict]:
        return self._rows(table)

    def _switch(self, table: str, flag: str, on: bool, by: str, reason: str) -> None:
        if not by.strip() or not reason.strip():
            raise ValueError("who and why are both required")
        with self.engine.begin() as conn:
            conn.execute(self.t[table].insert().values(recorded_at=_naive(_now()), by=by, reason=reason, **{flag: on}))

    def _state(self, table: str, flag: str) -> Switch:
        t = self.t[table]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(1)).mappings().one_or_none()
        if row is None:
            return Switch(False)
        return Switch(bool(row[flag]), row["by"], row["reason"], _aware(row["recorded_at"]))


def _aware_row(row) -> dict:
    return {k: _aware(v) if isinstance(v, datetime) else v for k, v in dict(row).items()}
