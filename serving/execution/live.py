"""Live execution through ccxt: market orders with our client order id, fills from the venue.

The client order id goes out as ccxt's unified ``clientOrderId`` param; ccxt's binance
``create_order`` sends it to the spot API as ``newClientOrderId`` and ``fetch_order`` as
``origClientOrderId``. Binance keeps that id unique only among *open* orders: a filled market
order's id is accepted again, so the venue cannot be trusted to refuse a second copy. Hence the
rule this module and ``run_batch`` keep together: an order whose outcome is unknown is looked up
by its client order id before anything is sent again, and only Binance's definite "Order does
not exist." (-2013, ``ccxt.OrderNotFound``) lets it go out again.

What each venue answer does (``_stop`` classifies; nothing here ever retries by itself):

- a fill, an acknowledgement, or a definite rejection (a 4xx with Binance's reason:
  insufficient balance -2010, filter failures -1013 such as LOT_SIZE or NOTIONAL) settles it;
- 429 (rate limit) and 418 (IP ban) stop the batch and set a back-off until the venue's
  ``Retry-After``: no request of any kind goes out before it;
- -1021 (timestamp outside the recvWindow, ``ccxt.InvalidNonce``) resyncs the clock difference
  (``load_time_difference``) and stops; the order's outcome counts as unknown;
- a timeout, a reset connection, a 5xx (maintenance, "unknown error") or any error not known to
  be a rejection stops the batch with the order's outcome unknown (ledger status ``new``);
- an authentication or permission error stops the batch and makes it fail for a person.

Amounts are cut to the market's precision with ccxt's ``amount_to_precision`` and checked
against its amount and notional limits before sending.

Keys: the client carries them, nothing here reads or writes them; every message that leaves
this module passes ``_clean``, which strips the key and secret in case a venue echoes them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import ccxt

from quant_assets.exchange import make_exchange
from serving.execution.base import VenueError
from serving.records import FILLED, NEW, NOT_AT_VENUE, OPEN, PARTIAL, REJECTED, Fill, OrderRequest, OrderUpdate, VenueReport, VenueStop
from serving.settings import Credentials

UTC = timezone.utc
DUPLICATE = "Duplicate order sent"  # Binance -2010 for a client order id an OPEN order carries

# Stop codes, also the ledger's halt codes (``risk_events.code``).
VENUE_RATE_LIMITED = "VENUE_RATE_LIMITED"  # 429: back off until Retry-After
VENUE_BANNED = "VENUE_BANNED"  # 418: the IP is banned until Retry-After
VENUE_CLOCK = "VENUE_CLOCK"  # -1021: our timestamp was outside the recvWindow
VENUE_OUTCOME_UNKNOWN = "VENUE_OUTCOME_UNKNOWN"  # timeout, 5xx, anything not a known rejection
VENUE_AUTH = "VENUE_AUTH"  # keys or permissions refused: a person must act

# Without a Retry-After header: Binance's documented first ban is 2 minutes.
DEFAULT_BACKOFF = {VENUE_RATE_LIMITED: timedelta(seconds=60), VENUE_BANNED: timedelta(minutes=2)}
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
        self._secrets = [s for s in (exchange.apiKey, exchange.secret) if s]

    @property
    def settle_after(self) -> timedelta:
        return timedelta(milliseconds=self.exchange.options.get("recvWindow") or 60_000) + CLOCK_MARGIN

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
            # ccxt's unified clientOrderId: binance create_order sends it as newClientOrderId.
            placed = ex.create_order(order.symbol, "market", order.side, amount, None, {"clientOrderId": cid})
        except ccxt.InsufficientFunds as exc:
            return OrderUpdate(cid, REJECTED, reason_code="INSUFFICIENT_BALANCE", reason=self._clean(exc))
        except (ccxt.InvalidOrder, ccxt.BadRequest) as exc:  # a 4xx with Binance's reason: refused, not placed
            if DUPLICATE in str(exc):  # an open order carries the id: it is at the venue
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
            else:  # ccxt's unified clientOrderId: binance fetch_order sends it as origClientOrderId
                found = self.exchange.fetch_order(None, order.symbol, {"clientOrderId": cid})
        except ccxt.OrderNotFound:  # -2013: the one definite "not at the venue"
            return OrderUpdate(cid, REJECTED, reason_code=NOT_AT_VENUE, reason="the exchange has no order with this client order id")
        except ccxt.BaseError as exc:
            raise _Stopped(self._stop(exc, doing)) from None
        trades = []
        if (found.get("filled") or 0) > 0:
            trades = self._ask(lambda: self.exchange.fetch_my_trades(order.symbol, params={"orderId": found["id"]}), doing)
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
        # ccxt turns Binance's -2015 (key, IP or permissions refused) into DDoSProtection once
        # the key has worked before; either way the keys are refused and a person must look.
        if isinstance(exc, (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)) or '"code":-2015' in str(exc):
            return VenueStop(VENUE_AUTH, detail, fatal=True)
        if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):  # 429, 418, Binance's -1003
            code = VENUE_BANNED if _http_status(exc) == 418 or "banned" in str(exc).lower() else VENUE_RATE_LIMITED
            return VenueStop(code, detail, until=self._now() + self._retry_after(code))
        if isinstance(exc, ccxt.InvalidNonce):
            try:
                self.exchange.load_time_difference()  # GET /api/v3/time: our clock minus the venue's
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
            return DEFAULT_BACKOFF[code]

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.exchange.milliseconds() / 1000, UTC)

    def _clean(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return " ".join(text.split())[:500]


def _http_status(exc: ccxt.BaseError) -> int | None:
    """The HTTP status of a ccxt error raised from a reply (its message is "<id> <status> ...")."""
    found = re.match(r"\S+ (\d{3}) ", str(exc))
    return int(found.group(1)) if found else None


def market_refusal(ex: ccxt.Exchange, symbol: str, quantity: float, price: float, clean=str) -> str | None:
    """Why the venue would refuse a market order of ``quantity`` at about ``price`` (its
    precision, amount and notional limits from the loaded markets), or None. The allocator asks
    the same before it proposes an order, so a live tick proposes nothing the venue refuses."""
    limits = ex.market(symbol)["limits"]
    try:
        amount = float(ex.amount_to_precision(symbol, quantity))
    except ccxt.InvalidOrder as exc:  # below the precision: ccxt refuses to round to zero
        return clean(exc)
    lowest = (limits.get("amount") or {}).get("min") or 0.0
    highest = (limits.get("market") or {}).get("max") or (limits.get("amount") or {}).get("max")
    min_cost = (limits.get("cost") or {}).get("min") or 0.0
    if amount <= 0 or amount < lowest:
        return f"{quantity:g} {symbol} is below the minimum amount {lowest:g}"
    if highest and amount > highest:
        return f"{amount:g} {symbol} is above the market order maximum {highest:g}"
    if amount * price < min_cost:
        return f"notional {amount * price:.2f} is below the minimum {min_cost:g}"
    return None


def _ts(ms: int | None) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else datetime.now(UTC)
