"""One order batch, the path the paper and live trading jobs share: books, risk, orders, fills.

The steps, each safe to repeat:

1. bring earlier orders up to date (``lookup``): paper fills land one bar after the decision,
   and an order a crash or a lost reply left ``new`` is settled by asking the venue; this
   bar's orders, sized from the positions before, are re-sized by what those fills moved;
2. mark equity and snapshot the risk state from the ledger (so a kill switch set by the CLI
   is seen by the very next batch), run the pure checks, write every halt and refusal;
3. record each admitted order under its client order id (insert-or-get; the first recording
   wins, so a flip cut to flat by a loss halt stays cut on a rerun);
4. settle this bar's orders already recorded ``new`` by looking them up; then send the orders
   never sent and those the venue definitely does not have, one at a time, each stamped
   (``sent_at``) just before it goes;
5. book the fills (each fill id once).

Never a blind re-send: an order recorded ``new`` may have reached the venue (a timeout, a 5xx,
a crash after sending), so it is looked up by its client order id first. Only a definite "not
at the venue", given once the venue's window for a request in flight has passed since the last
send, lets it go again, and then through the same halts and per-order checks as a new order
(kill switch, live switch, keys, venue back-off, loss halts, limits). An unknown answer to the
lookup leaves it ``new`` and sends nothing, and the symbol takes no new order on a later bar
until it is settled. An earlier bar's order that never reached the venue is final
(``rejected``, ``NOT_AT_VENUE``): the newer bar's decision replaces it. A venue fault
(``VenueStop``) stops the batch: nothing more is sent, a 429 or 418 back-off holds every request
until its end, and a key or permission failure raises ``VenueError`` once the rest is booked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from serving.execution.base import ExecutionAdapter, VenueError
from serving.ledger import Bookkeeping, Journal, Ledger
from serving.records import NEW, NOT_AT_VENUE, OPEN, REJECTED, OrderRequest, OrderUpdate, VenueStop
from serving.risk import checks
from serving.risk.checks import Halt, Refusal, RiskLimits, RiskState

BAR = timedelta(minutes=5)
UTC = timezone.utc
# An order looked up "not at the venue" too soon after its last send: its request may still land.
IN_FLIGHT = "ORDER_MAY_BE_IN_FLIGHT"
# An order not at the venue whose re-send the checks would only partly admit: it is not re-sent.
NOT_RESENT = "NOT_RESENT"
# A new order for a symbol whose earlier order's outcome is still unknown: refused this bar.
UNSETTLED = "EARLIER_ORDER_UNSETTLED"


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
    refusals: dict[str, Refusal] = field(default_factory=dict)  # symbol -> why (all or part of its order)
    recorded: list[str] = field(default_factory=list)  # client order ids of this batch
    updates: list[OrderUpdate] = field(default_factory=list)  # what the venue said to this batch's sends
    new_fills: int = 0
    venue_stop: VenueStop | None = None  # why the batch stopped talking to the venue, if it did


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
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BatchResult:
    """Run one batch for ``decision_bar``; ``marks`` are the symbols' latest closes.

    ``step`` is called after each step with its name ("synced", "checked", "recorded",
    "placed", "booked"); tests use it to crash the process between steps. ``clock`` is the wall
    clock (send stamps, venue back-offs); the risk checks run on the decision bar's time.
    """
    for order in orders:
        if (order.mode, order.strategy, order.decision_bar) != (book.mode, book.strategy, decision_bar):
            raise ValueError(f"{order.client_order_id} does not belong to this batch")
    if adapter.mode != book.mode:
        raise ValueError(f"a {adapter.mode} adapter cannot trade the {book.mode} book")
    result = BatchResult()
    bookkeeping, journal = ledger.bookkeeping, ledger.journal
    bookkeeping.open_account(book.mode, book.strategy, book.currency, book.starting_cash)

    backoff = journal.venue_backoff(book.mode, clock())
    sized_from = _held(bookkeeping, book)
    if backoff is None:  # under a back-off not even a lookup goes out
        result.venue_stop = _sync_earlier(bookkeeping, adapter, book, decision_bar, clock, result)
    orders = _resized(orders, sized_from, _held(bookkeeping, book))
    step("synced")

    now = decision_bar + BAR  # the decision bar has just closed
    equity = bookkeeping.equity(book.mode, book.strategy, marks)
    bookkeeping.mark_equity(book.mode, book.strategy, now, equity)
    venue = (backoff["code"], backoff["detail"]) if backoff else _as_halt(result.venue_stop)
    state = risk_state(ledger, book, now, equity, keys_present, venue)
    result.halts = checks.check_batch(state, limits)
    for halt in result.halts:
        journal.record_risk_event(book.mode, book.strategy, decision_bar, "halt", halt.code, halt.detail)
    step("checked")

    unsent, unsettled = [], []
    unknown = _unsettled_symbols(bookkeeping, book, decision_bar)
    for order in orders:
        known = bookkeeping.order(order.client_order_id)
        if known is None and order.symbol in unknown:  # sized without a fill that may exist
            refusal = Refusal(UNSETTLED, f"an order of an earlier bar is still unsettled ({unknown[order.symbol]})")
            result.refusals[order.symbol] = refusal
            journal.record_risk_event(book.mode, book.strategy, decision_bar, "refusal", refusal.code, refusal.detail, order.symbol)
            continue
        if known is None:
            allowed = _admit(journal, book, decision_bar, order.symbol, order.signed_quantity, order.reference_price, state, limits, result)
            if not allowed:
                continue
            known, created = bookkeeping.record_order(replace(order, quantity=abs(allowed)))
            if created:  # recorded by this run just now: it cannot have reached the venue
                unsent.append(known)
                known = None
        result.recorded.append(order.client_order_id)
        if known is not None and known["status"] == NEW:
            unsettled.append(known)  # may have reached the venue: look it up before anything else
    step("recorded")

    if unsettled and venue is None:
        result.venue_stop, absent = _settle(bookkeeping, adapter, unsettled, clock, result)
        for row in absent:  # definitely not at the venue: it goes through the checks again
            allowed = _admit(journal, book, decision_bar, row["symbol"], _signed(row), row["reference_price"], state, limits, result)
            if allowed == _signed(row):
                unsent.append(row)
            elif allowed:  # the recorded order goes whole or not at all
                journal.record_risk_event(book.mode, book.strategy, decision_bar, "refusal", NOT_RESENT,
                                         f"{row['quantity']:g} recorded, only {abs(allowed):g} admitted now", row["symbol"])  # fmt: skip

    pending = []
    if result.venue_stop is None and venue is None:
        for row in unsent:
            if not bookkeeping.claim_send(row["client_order_id"], row["sent_at"], clock()):
                continue  # another run stamped it since: that run sends it
            report = adapter.place([_request(row)])
            pending += report.updates
            if report.stop is not None:
                result.venue_stop = report.stop
                break
    step("placed")
    for update in pending:
        result.new_fills += bookkeeping.apply(update)
    result.updates = pending
    _record_stop(journal, book, decision_bar, result.venue_stop)
    if result.venue_stop is not None and result.venue_stop.code not in {h.code for h in result.halts}:
        result.halts.append(Halt(result.venue_stop.code, result.venue_stop.detail, reduce_only=False))  # shown with the others
    step("booked")
    if result.venue_stop is not None and result.venue_stop.fatal:
        raise VenueError(result.venue_stop.detail)
    return result


def _unsettled_symbols(bookkeeping: Bookkeeping, book: Book, decision_bar: datetime) -> dict[str, str]:
    """symbol -> client order id of an earlier bar's order the sync left ``new`` (no answer, or
    one too soon after its send): its fills may exist, so the symbol takes no new order."""
    rows = bookkeeping.orders(mode=book.mode, status=(NEW,))
    return {r["symbol"]: r["client_order_id"] for r in rows if r["strategy"] == book.strategy and r["decision_bar"] < decision_bar}


def _held(bookkeeping: Bookkeeping, book: Book) -> dict[str, float]:
    return {p["symbol"]: p["quantity"] for p in bookkeeping.positions(book.mode, book.strategy)}


def _resized(orders: list[OrderRequest], before: dict[str, float], after: dict[str, float]) -> list[OrderRequest]:
    """Orders re-sized by what the sync's fills moved: the tick sized each order from the
    ledger's position before this batch synced, so a fill booked now (an earlier order whose
    reply was lost, a paper fill landing) would otherwise be bought or sold a second time.
    An order the fills already did is dropped."""
    out = []
    for order in orders:
        moved = after.get(order.symbol, 0.0) - before.get(order.symbol, 0.0)
        if abs(moved) < 1e-12:
            out.append(order)
            continue
        rest = order.signed_quantity - moved
        if abs(rest) > 1e-12:
            out.append(replace(order, side="buy" if rest > 0 else "sell", quantity=abs(rest)))
    return out


def _admit(journal, book, decision_bar, symbol, signed, price, state, limits, result) -> float:
    """The signed quantity the checks let go; a refusal of all or part is written down."""
    allowed, refusal = checks.admit(symbol, signed, price, state, limits, result.halts)
    if refusal is not None:
        result.refusals[symbol] = refusal
        journal.record_risk_event(book.mode, book.strategy, decision_bar, "refusal", refusal.code, refusal.detail, symbol)
    return allowed


def _settle(bookkeeping: Bookkeeping, adapter: ExecutionAdapter, rows: list[dict], clock, result: BatchResult) -> tuple[VenueStop | None, list[dict]]:
    """Look ``rows`` (status ``new``) up at the venue and book what it has; return the rows it
    definitely does not have. The rest (no answer, or an answer too soon after a send) stay new."""
    report = adapter.lookup([_request(r) for r in rows], {})
    by_id = {r["client_order_id"]: r for r in rows}
    absent = []
    for update in report.updates:
        row = by_id[update.client_order_id]
        if _not_at_venue(update):
            if _definitely_absent(row, adapter, clock()):
                absent.append(row)
            else:
                _still_in_flight(bookkeeping, row, adapter)
            continue
        result.new_fills += bookkeeping.apply(update)
    return report.stop, absent


def _sync_earlier(
    bookkeeping: Bookkeeping, adapter: ExecutionAdapter, book: Book, decision_bar: datetime, clock, result: BatchResult
) -> VenueStop | None:
    """Ask the venue about this book's orders of earlier bars that are not final. One that
    never reached it is final: this bar decides afresh."""
    rows = [r for r in bookkeeping.orders(mode=book.mode, status=(NEW, OPEN)) if r["strategy"] == book.strategy and r["decision_bar"] < decision_bar]
    if not rows:
        return None
    ids = {r["client_order_id"]: r["exchange_order_id"] for r in rows if r["exchange_order_id"]}
    report = adapter.lookup([_request(r) for r in rows], ids)
    by_id = {r["client_order_id"]: r for r in rows}
    for update in report.updates:
        row = by_id[update.client_order_id]
        if _not_at_venue(update) and not _definitely_absent(row, adapter, clock()):
            _still_in_flight(bookkeeping, row, adapter)
            continue
        result.new_fills += bookkeeping.apply(update)
    return report.stop


def _not_at_venue(update: OrderUpdate) -> bool:
    return update.status == REJECTED and update.reason_code == NOT_AT_VENUE


def _definitely_absent(row: dict, adapter: ExecutionAdapter, now: datetime) -> bool:
    """ "Not at the venue" is definite once no request of this order can still arrive."""
    return row["sent_at"] is None or now >= row["sent_at"] + adapter.settle_after


def _still_in_flight(bookkeeping: Bookkeeping, row: dict, adapter: ExecutionAdapter) -> None:
    until = row["sent_at"] + adapter.settle_after
    bookkeeping.apply(OrderUpdate(row["client_order_id"], NEW, reason_code=IN_FLIGHT,
                             reason=f"not at the venue yet, but last sent {row['sent_at']:%H:%M:%S}: "
                                    f"it may arrive until {until:%H:%M:%S}"))  # fmt: skip


def _as_halt(stop: VenueStop | None) -> tuple[str, str] | None:
    return None if stop is None else (stop.code, stop.detail)


def _record_stop(journal: Journal, book: Book, decision_bar: datetime, stop: VenueStop | None) -> None:
    if stop is None:
        return
    if stop.until is not None:
        journal.record_backoff(book.mode, book.strategy, decision_bar, stop.code, stop.detail, stop.until)
    else:
        journal.record_risk_event(book.mode, book.strategy, decision_bar, "halt", stop.code, stop.detail)


def _signed(row: dict) -> float:
    return row["quantity"] if row["side"] == "buy" else -row["quantity"]


def _request(row: dict) -> OrderRequest:
    return OrderRequest(row["mode"], row["strategy"], row["symbol"], row["side"], row["quantity"], row["decision_bar"], row["reference_price"])


def risk_state(ledger: Ledger, book: Book, now: datetime, equity: float, keys_present: bool,
               venue_backoff: tuple[str, str] | None = None) -> RiskState:  # fmt: skip
    bookkeeping, journal = ledger.bookkeeping, ledger.journal
    marks = [e for _, e in bookkeeping.equity_marks(book.mode, book.strategy, now.date())] or [equity]
    return RiskState(
        mode=book.mode,
        kill_switch=journal.kill_switch().on,
        live_enabled=journal.live_enabled().on,
        keys_present=keys_present,
        equity=equity,
        day_start_equity=marks[0],
        day_peak_equity=max([*marks, equity]),
        consecutive_losses=checks.consecutive_losses(bookkeeping.closing_pnls(book.mode, book.strategy)),
        positions={p["symbol"]: p["quantity"] for p in bookkeeping.positions(book.mode, book.strategy)},
        venue_backoff=venue_backoff,
    )
