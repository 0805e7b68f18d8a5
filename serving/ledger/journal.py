"""The ledger's journal: what was decided and why trading stopped.

The horizon decisions of each tick (``signals``, once per book, symbol, horizon and bar),
every halt and refusal with its reason code (``risk_events``, once per book, bar, code and
symbol; a venue's back-off among them), and the kill-switch and live-enablement events, each
with who and why. Nothing here moves money; the bookkeeping (``serving.ledger.bookkeeping``)
does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from quant_assets.timegrid import utc_now
from serving.ledger.engine import Database, aware, naive


@dataclass(frozen=True)
class Switch:
    """The newest kill-switch or live-enablement event; ``on`` False when there is none."""

    on: bool
    by: str | None = None
    reason: str | None = None
    at: datetime | None = None


class Journal:
    """Signals, risk events (halts, refusals, venue back-offs), kill switch and live enablement."""

    def __init__(self, db: Database):
        self.db = db

    # -- signals -------------------------------------------------------------------------

    def record_signals(self, mode: str, strategy: str, rows: list[dict]) -> int:
        """Horizon decisions (``symbol, horizon, t, model_uri, prediction, cost, vol, edge,
        score, position``), each once per (book, symbol, horizon, t); how many were new."""
        now = naive(utc_now())
        with self.db.engine.begin() as conn:
            return sum(
                self.db.insert_once(
                    conn,
                    "signals",
                    {**r, "t": naive(r["t"]), "mode": mode, "strategy": strategy, "recorded_at": now},
                    ["mode", "strategy", "symbol", "horizon", "t"],
                )
                for r in rows
            )

    def held_positions(self, mode: str, strategy: str, at: datetime) -> dict[tuple[str, str], float]:
        """(symbol, horizon) -> the position of its newest decision at or before ``at``."""
        s = self.db.t["signals"]
        newest = (
            sa.select(s.c.symbol, s.c.horizon, sa.func.max(s.c.t).label("t"))
            .where(s.c.mode == mode, s.c.strategy == strategy, s.c.t <= naive(at))
            .group_by(s.c.symbol, s.c.horizon)
            .subquery()
        )
        query = (
            sa.select(s.c.symbol, s.c.horizon, s.c.position)
            .join(newest, (s.c.symbol == newest.c.symbol) & (s.c.horizon == newest.c.horizon) & (s.c.t == newest.c.t))
            .where(s.c.mode == mode, s.c.strategy == strategy)
        )
        with self.db.engine.connect() as conn:
            return {(sym, h): pos for sym, h, pos in conn.execute(query)}

    def signals(self, mode: str | None = None, strategy: str | None = None) -> list[dict]:
        return self.db.rows("signals", mode=mode, strategy=strategy)

    # -- risk events, kill switch, live enablement -------------------------------------

    def record_risk_event(self, mode: str, strategy: str, decision_bar: datetime, kind: str, code: str, detail: str, symbol: str = "") -> bool:
        """A halt or refusal with its reason code; once per (book, bar, code, symbol)."""
        values = dict(
            recorded_at=naive(utc_now()),
            mode=mode,
            strategy=strategy,
            decision_bar=naive(decision_bar),
            kind=kind,
            code=code,
            symbol=symbol,
            detail=detail,
        )
        with self.db.engine.begin() as conn:
            return self.db.insert_once(conn, "risk_events", values, ["mode", "strategy", "decision_bar", "code", "symbol"])

    def record_backoff(self, mode: str, strategy: str, decision_bar: datetime, code: str, detail: str, until: datetime) -> None:
        """A venue's "no requests before ``until``" (429 Retry-After, 418 ban) as a halt event;
        a later one for the same bar moves ``until`` on, never back."""
        self.record_risk_event(mode, strategy, decision_bar, "halt", code, detail)
        events = self.db.t["risk_events"]
        key = (
            (events.c.mode == mode) & (events.c.strategy == strategy) & (events.c.decision_bar == naive(decision_bar))
            & (events.c.code == code) & (events.c.symbol == "")
        )  # fmt: skip
        with self.db.engine.begin() as conn:
            later = events.c.until.is_(None) | (events.c.until < naive(until))
            conn.execute(events.update().where(key, later).values(until=naive(until), detail=detail))

    def venue_backoff(self, mode: str, now: datetime) -> dict | None:
        """The back-off in force at ``now`` for ``mode``'s venue (any book: a ban is the
        account's and the IP's), the one that ends last; None when requests may go out."""
        events = self.db.t["risk_events"]
        rows = self.db.rows("risk_events", events.c.until > naive(now), order_by=[events.c.until.desc()], limit=1, mode=mode)
        return rows[0] if rows else None

    def risk_events(self, mode: str | None = None) -> list[dict]:
        return self.db.rows("risk_events", mode=mode)

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
        return self.db.rows(table)

    def _switch(self, table: str, flag: str, on: bool, by: str, reason: str) -> None:
        if not by.strip() or not reason.strip():
            raise ValueError("who and why are both required")
        with self.db.engine.begin() as conn:
            conn.execute(self.db.t[table].insert().values(recorded_at=naive(utc_now()), by=by, reason=reason, **{flag: on}))

    def _state(self, table: str, flag: str) -> Switch:
        t = self.db.t[table]
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(1)).mappings().one_or_none()
        if row is None:
            return Switch(False)
        return Switch(bool(row[flag]), row["by"], row["reason"], aware(row["recorded_at"]))
