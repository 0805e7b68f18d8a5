"""Live execution through ccxt: market orders with our client order id, fills from the venue.

The client order id goes out in the venue's order params (``Venue.order_params``). A venue may
keep that id unique only among *open* orders (the default venue does: its ``orders`` module
says how), so the venue cannot be trusted to refuse a second copy. Hence the rule this module
and ``run_batch`` keep together: an order whose outcome is unknown is looked up by its client
order id before anything is sent again, and only the venue's definite "no such order"
(``ccxt.OrderNotFound``) lets it go out again.

What each venue answer does (``_stop`` acts on the venue's ``error_kind``; nothing here ever
retries by itself; each venue's ``errors`` module maps its own codes):

- a fill, an acknowledgement, or a definite rejection (a 4xx with the venue's reason:
  insufficient balance, filter failures such as lot size or notional) settles it; a refusal
  because an open order carries the id (``Venue.is_duplicate_order``) is looked up instead;
- 429 (rate limit) and 418 (IP ban) stop the batch and set a back-off until the venue's
  ``Retry-After``: no request of any kind goes out before it;
- a timestamp outside the receive window (``ccxt.InvalidNonce``) resyncs the clock difference
  (``load_time_difference``) and stops; the order's outcome counts as unknown;
- a timeout, a reset connection, a 5xx (maintenance, "unknown error") or any error not known to
  be a rejection stops the batch with the order's outcome unknown (ledger status ``new``);
- an authentication or permission error stops the batch and makes it fail for a person.

Amounts are cut to the market's precision with ccxt's ``amount_to_precision`` and checked
against its amount and notional limits before sending (``quant_assets.venues.limits``).

Keys: the client carries them, nothing here reads or writes them; every message that leaves
this module passes ``_clean``, which strips the key and secret in case a venue echoes them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import ccxt

from quant_assets import venues
from quant_assets.venues.client import make_exchange
from quant_assets.venues.errors import VENUE_AUTH, VENUE_BANNED, VENUE_CLOCK, VENUE_OUTCOME_UNKNOWN, VENUE_RATE_LIMITED
from quant_assets.venues.limits import market_refusal
from serving.execution.base import VenueError
from serving.records import FILLED, NEW, NOT_AT_VENUE, OPEN, PARTIAL, REJECTED, Fill, OrderRequest, OrderUpdate, VenueReport, VenueStop
from serving.settings import Credentials

UTC = timezone.utc

# A signed request is dead once older than the recvWindow; this margin covers the clock error.
CLOCK_MARGIN = timedelta(seconds=5)

# ccxt's unified order status -> the ledger's (canceled/expired: final with what had filled).
_STATUS = {"closed": FILLED, "open": OPEN, "rejected": REJECTED}

LiveExecutionError = VenueError  # the name the live path's callers know


def live_exchange(exchange_id: str, market_type: str, credentials: Credentials) -> ccxt.Exchange:
    """A ccxt client that can trade: keys from ``credentials`` only (not ``<EXCHANGE>_API_KEY``),
    and no margin or currency endpoints at load time (a spot trader needs neither)."""
    return make_exchange(
        exchange_id,
        market_type,
        apiKey=credentials.api_key,
        secret=credentials.secret,
        options={"fetchCurrencies": False, "fetchMargins": False},
    )


class _Stopped(Exception):
    def __init__(self, stop: VenueStop):
        self.stop = stop


class LiveAdapter:
    mode = "live"

    def __init__(self, exchange: ccxt.Exchange):
        self.exchange = exchange
        self.venue = venues.get(exchange.id)
        self._secrets = [s for s in (exchange.apiKey, exchange.secret) if s]

    @property
    def settle_after(self) -> timedelta:
        return self.venue.receive_window(self.exchange) + CLOCK_MARGIN

    def place(self, orders: list[OrderRequest]) -> VenueReport:
        updates = []
        try:
            self._ask(self.exchange.load_markets)
            for order in orders:
                try:
                    updates.append(self._place(order))
                except _Stopped as stopped:  # the order's outcome is unknown: it stays new, with why
                    updates.append(OrderUpdate(order.client_order_id, NEW, reason_code=stopped.stop.code, reason=stopped.stop.detail))
                    raise
        except _Stopped as stopped:
            return VenueReport(updates, stopped.stop)
        return VenueReport(updates)

    def lookup(self, orders: list[OrderRequest], exchange_order_ids: dict[str, str]) -> VenueReport:
        updates = []
        try:
            self._ask(self.exchange.load_markets)
            for order in orders:
                updates.append(self._lookup(order, exchange_order_ids.get(order.client_order_id)))
        except _Stopped as stopped:
            return VenueReport(updates, stopped.stop)
        return VenueReport(updates)

    def _place(self, order: OrderRequest) -> OrderUpdate:
        ex, cid = self.exchange, order.client_order_id
        refusal = self._outside_limits(order)
        if refusal:
            return OrderUpdate(cid, REJECTED, reason_code="OUTSIDE_EXCHANGE_LIMITS", reason=refusal)
        amount = float(ex.amount_to_precision(order.symbol, order.quantity))
        try:
            placed = ex.create_order(order.symbol, "market", order.side, amount, None, self.venue.order_params(cid))
        except ccxt.InsufficientFunds as exc:
            return OrderUpdate(cid, REJECTED, reason_code="INSUFFICIENT_BALANCE", reason=self._clean(exc))
        except (ccxt.InvalidOrder, ccxt.BadRequest) as exc:  # a 4xx with the venue's reason: refused, not placed
            if self.venue.is_duplicate_order(exc):  # an open order carries the id: it is at the venue
                return self._lookup(order, None)
            return OrderUpdate(cid, REJECTED, reason_code="EXCHANGE_REJECTED", reason=self._clean(exc))
        except ccxt.BaseError as exc:
            raise _Stopped(self._stop(exc, f"placing {cid} on {order.symbol}")) from None
        return self._update(cid, placed, placed.get("trades") or [])

    def _outside_limits(self, order: OrderRequest) -> str | None:
        """Why the venue would refuse the order's size, or None; checked before sending."""
        return market_refusal(self.exchange, order.symbol, order.quantity, order.reference_price, self._clean)

    def _lookup(self, order: OrderRequest, exchange_order_id: str | None) -> OrderUpdate:
        cid = order.client_order_id
        doing = f"looking up {cid} on {order.symbol}"
        try:
            if exchange_order_id:
                found = self.exchange.fetch_order(exchange_order_id, order.symbol)
            else:
                found = self.exchange.fetch_order(None, order.symbol, self.venue.lookup_params(cid))
        except ccxt.OrderNotFound:  # the one definite "not at the venue"
            return OrderUpdate(cid, REJECTED, reason_code=NOT_AT_VENUE, reason="the exchange has no order with this client order id")
        except ccxt.BaseError as exc:
            raise _Stopped(self._stop(exc, doing)) from None
        trades = []
        if (found.get("filled") or 0) > 0:
            trades = self._ask(lambda: self.exchange.fetch_my_trades(order.symbol, params=self.venue.trades_params(found["id"])), doing)
        return self._update(cid, found, trades)

    def _update(self, cid: str, order: dict, trades: list[dict]) -> OrderUpdate:
        status = _STATUS.get(order.get("status"))
        if status is None:  # canceled or expired: final with whatever had filled
            status = PARTIAL if (order.get("filled") or 0) > 0 else REJECTED
        stamp = order.get("lastTradeTimestamp") or order.get("timestamp")
        fills = tuple(
            Fill(
                fill_id=str(t["id"]),
                ts=_ts(t.get("timestamp") or stamp),
                quantity=float(t["amount"]),
                price=float(t["price"]),
                fee=float((t.get("fee") or {}).get("cost") or 0.0),
                fee_currency=(t.get("fee") or {}).get("currency") or "",
            )
            for t in trades
        )
        return OrderUpdate(cid, status, exchange_order_id=str(order["id"]), fills=fills)

    def _ask(self, fn, doing: str = "loading markets"):
        try:
            return fn()
        except ccxt.BaseError as exc:
            raise _Stopped(self._stop(exc, doing)) from None

    def _stop(self, exc: ccxt.BaseError, doing: str) -> VenueStop:
        """What a failed request means for the batch: see the module docstring."""
        detail = f"{doing}: {self._clean(exc)}"
        kind = self.venue.error_kind(exc)
        if kind == VENUE_AUTH:  # keys, IP or permissions refused: a person must look
            return VenueStop(VENUE_AUTH, detail, fatal=True)
        if kind in (VENUE_BANNED, VENUE_RATE_LIMITED):
            return VenueStop(kind, detail, until=self._now() + self._retry_after(kind))
        if kind == VENUE_CLOCK:
            try:
                self.exchange.load_time_difference()  # the venue's time endpoint: our clock minus the venue's
                detail += f"; clock difference resynced to {self.exchange.options.get('timeDifference')} ms"
            except ccxt.BaseError as again:
                detail += f"; resyncing the clock failed: {self._clean(again)}"
            return VenueStop(VENUE_CLOCK, detail)
        return VenueStop(VENUE_OUTCOME_UNKNOWN, detail)

    def _retry_after(self, code: str) -> timedelta:
        headers = self.exchange.last_response_headers or {}
        try:
            return timedelta(seconds=float(headers.get("Retry-After")))
        except (TypeError, ValueError):
            return self.venue.default_backoff[code]

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.exchange.milliseconds() / 1000, UTC)

    def _clean(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return " ".join(text.split())[:500]


def _ts(ms: int | None) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else datetime.now(UTC)
