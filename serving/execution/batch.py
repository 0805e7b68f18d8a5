"""One order batch, the path the paper and live trading jobs share: books, risk, orders, fills.

The steps, each safe to repeat:

1. bring earlier orders up to date (``sync``): paper fills land one bar after the decision,
   and an order a crash left ``new`` is settled by asking the venue;
2. mark equity and snapshot the risk state from the ledger (so a kill switch set by the CLI
   is seen by the very next batch), run the pure checks, write every halt and refusal;
3. record each admitted order under its client order id (insert-or-get);
4. place the orders still ``new`` (a venue that already has one returns it, not a second);
5. book the fills (each fill id once).

A crash between any two steps and a rerun of the same batch end with one order per client
order id and each fill booked once. An order already recorded is not checked again: it is
the same decision being completed, and it may already be at the venue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from serving.execution.base import ExecutionAdapter
from serving.ledger import Ledger
from serving.records import NEW, OPEN, OrderRequest, OrderUpdate
from serving.risk import checks
from serving.risk.checks import Halt, Refusal, RiskLimits, RiskState

BAR = timedelta(minutes=5)


@dataclass(frozen=True)
class Book:
    """Whose orders: one strategy's book in one mode, with the cash it starts from."""

    mode: str
    strategy: str
    currency: str = "USDT"
    starting_cash: float = 0.0


@dataclass
class BatchResult:
    halts: list[Halt] = field(default_factory=list)
    refusals: dict[str, Refusal] = field(default_factory=dict)  # symbol -> why
    recorded: list[str] = field(default_factory=list)  # client order ids of this batch
    updates: list[OrderUpdate] = field(default_factory=list)
    new_fills: int = 0


def run_batch(
    ledger: Ledger,
    adapter: ExecutionAdapter,
    book: Book,
    decision_bar: datetime,
    orders: list[OrderRequest],
    marks: dict[str, float],
    limits: RiskLimits,
    *,
    keys_present: bool = False,
    step: Callable[[str], None] = lambda name: None,
) -> BatchResult:
    """Run one batch for ``decision_bar``; ``marks`` are the symbols' latest closes.

    ``step`` is called after each step with its name ("synced", "checked", "recorded",
    "placed", "booked"); tests use it to crash the process between steps.
    """
    for order in orders:
        if (order.mode, order.strategy, order.decision_bar) != (book.mode, book.strategy, decision_bar):
            raise ValueError(f"{order.client_order_id} does not belong to this batch")
    if adapter.mode != book.mode:
        raise ValueError(f"a {adapter.mode} adapter cannot trade the {book.mode} book")
    result = BatchResult()
    ledger.open_account(book.mode, book.strategy, book.currency, book.starting_cash)

    result.new_fills += _sync_earlier(ledger, adapter, book, decision_bar)
    step("synced")

    now = decision_bar + BAR  # the decision bar has just closed
    equity = ledger.equity(book.mode, book.strategy, marks)
    ledger.mark_equity(book.mode, book.strategy, now, equity)
    state = risk_state(ledger, book, now, equity, keys_present)
    result.halts = checks.check_batch(state, limits)
    for halt in result.halts:
        ledger.record_risk_event(book.mode, book.strategy, decision_bar, "halt", halt.code, halt.detail)
    step("checked")

    admitted = []
    for order in orders:
        known = ledger.order(order.client_order_id)
        if known is None:
            refusal = checks.check_order(order.symbol, order.signed_quantity, order.reference_price, state, limits, result.halts)
            if refusal is not None:
                result.refusals[order.symbol] = refusal
                ledger.record_risk_event(book.mode, book.strategy, decision_bar, "refusal", refusal.code, refusal.detail, order.symbol)
                continue
            known, _ = ledger.record_order(order)
        result.recorded.append(order.client_order_id)
        if known["status"] == NEW:
            admitted.append(order)
    step("recorded")

    updates = adapter.place(admitted) if admitted else []
    step("placed")
    for update in updates:
        result.new_fills += ledger.apply(update)
    result.updates = updates
    step("booked")
    return result


def _sync_earlier(ledger: Ledger, adapter: ExecutionAdapter, book: Book, decision_bar: datetime) -> int:
    """Ask the venue about this book's orders of earlier bars that are not final."""
    rows = [
        r
        for r in ledger.orders(mode=book.mode, status=(NEW, OPEN))
        if r["strategy"] == book.strategy and r["decision_bar"] < decision_bar
    ]
    if not rows:
        return 0
    requests = [_request(r) for r in rows]
    ids = {r["client_order_id"]: r["exchange_order_id"] for r in rows if r["exchange_order_id"]}
    return sum(ledger.apply(u) for u in adapter.sync(requests, ids))


def _request(row: dict) -> OrderRequest:
    return OrderRequest(
        row["mode"], row["strategy"], row["symbol"], row["side"], row["quantity"], row["decision_bar"], row["reference_price"]
    )


def risk_state(ledger: Ledger, book: Book, now: datetime, equity: float, keys_present: bool) -> RiskState:
    marks = [e for _, e in ledger.equity_marks(book.mode, book.strategy, now.date())] or [equity]
    return RiskState(
        mode=book.mode,
        kill_switch=ledger.kill_switch().on,
        live_enabled=ledger.live_enabled().on,
        keys_present=keys_present,
        equity=equity,
        day_start_equity=marks[0],
        day_peak_equity=max([*marks, equity]),
        consecutive_losses=checks.consecutive_losses(ledger.closing_pnls(book.mode, book.strategy)),
        positions={p["symbol"]: p["quantity"] for p in ledger.positions(book.mode, book.strategy)},
    )
