"""Live execution through ccxt: market orders with our client order id, fills from the venue.

The client order id goes to Binance spot as ``newClientOrderId``, so the exchange itself
refuses a second order with it ("Duplicate order sent.", code -2010); when that happens the
order is looked up by ``origClientOrderId`` instead, which is how a retry after a crash finds
the order the crash hid. Amounts are cut to the market's precision with ccxt's
``amount_to_precision`` and checked against its amount and notional limits before sending.

Keys: the client carries them, nothing here reads or writes them; every message that leaves
this module passes ``_clean``, which strips the key and secret in case a venue echoes them.
A failure whose outcome is unknown (network, timeout) raises ``LiveExecutionError`` and leaves
the order ``new`` in the ledger; the next tick places it again, and the venue's duplicate
check turns that into a lookup.
"""

from __future__ import annotations

from datetime import datetime, timezone

import ccxt

from quant_assets.exchange import make_exchange
from serving.records import FILLED, OPEN, PARTIAL, REJECTED, Fill, OrderRequest, OrderUpdate
from serving.settings import Credentials

UTC = timezone.utc
DUPLICATE = "Duplicate order sent"  # Binance -2010 for a client order id it has already seen

# ccxt's unified order status -> the ledger's (canceled/expired: final with what had filled).
_STATUS = {"closed": FILLED, "open": OPEN, "rejected": REJECTED}


class LiveExecutionError(RuntimeError):
    """The venue failed in a way that leaves an order's outcome unknown; retry next tick."""


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


class LiveAdapter:
    mode = "live"

    def __init__(self, exchange: ccxt.Exchange):
        self.exchange = exchange
        self._secrets = [s for s in (exchange.apiKey, exchange.secret) if s]

    def place(self, orders: list[OrderRequest]) -> list[OrderUpdate]:
        self._call(self.exchange.load_markets)
        return [self._place(o) for o in orders]

    def sync(self, orders: list[OrderRequest], exchange_order_ids: dict[str, str]) -> list[OrderUpdate]:
        self._call(self.exchange.load_markets)
        return [self._lookup(o, exchange_order_ids.get(o.client_order_id)) for o in orders]

    def _place(self, order: OrderRequest) -> OrderUpdate:
        ex, cid = self.exchange, order.client_order_id
        refusal = self._outside_limits(order)
        if refusal:
            return OrderUpdate(cid, REJECTED, reason_code="OUTSIDE_EXCHANGE_LIMITS", reason=refusal)
        amount = float(ex.amount_to_precision(order.symbol, order.quantity))
        try:
            placed = ex.create_order(order.symbol, "market", order.side, amount, None, {"newClientOrderId": cid})
        except ccxt.InsufficientFunds as exc:
            return OrderUpdate(cid, REJECTED, reason_code="INSUFFICIENT_BALANCE", reason=self._clean(exc))
        except ccxt.InvalidOrder as exc:
            if DUPLICATE in str(exc):
                return self._lookup(order, None)
            return OrderUpdate(cid, REJECTED, reason_code="EXCHANGE_REJECTED", reason=self._clean(exc))
        except ccxt.BaseError as exc:
            raise LiveExecutionError(f"placing {cid} on {order.symbol}: {self._clean(exc)}") from None
        return self._update(cid, placed, placed.get("trades") or [])

    def _outside_limits(self, order: OrderRequest) -> str | None:
        """Why the venue would refuse the order's size, or None; checked before sending."""
        return market_refusal(self.exchange, order.symbol, order.quantity, order.reference_price, self._clean)

    def _lookup(self, order: OrderRequest, exchange_order_id: str | None) -> OrderUpdate:
        cid = order.client_order_id
        try:
            found = self.exchange.fetch_order(exchange_order_id, order.symbol, {"origClientOrderId": cid})
        except ccxt.OrderNotFound:
            # Recorded here but never reached the venue (a crash before sending): final.
            return OrderUpdate(cid, REJECTED, reason_code="NOT_AT_VENUE", reason="the exchange has no order with this id")
        except ccxt.BaseError as exc:
            raise LiveExecutionError(f"looking up {cid} on {order.symbol}: {self._clean(exc)}") from None
        try:
            trades = self.exchange.fetch_my_trades(order.symbol, params={"orderId": found["id"]})
        except ccxt.BaseError as exc:
            raise LiveExecutionError(f"looking up {cid} on {order.symbol}: {self._clean(exc)}") from None
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

    def _call(self, fn):
        try:
            return fn()
        except ccxt.BaseError as exc:
            raise LiveExecutionError(self._clean(exc)) from None

    def _clean(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return " ".join(text.split())[:500]


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
