"""The values that travel between the batch runner, the adapters and the ledger.

Plain frozen dataclasses, no behaviour: an adapter reports what happened to an order as an
``OrderUpdate``, the ledger stores it; neither needs the other's types.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

MODES = ("paper", "live")

# Order lifecycle. ``new``: recorded, its outcome at the venue unknown (never sent, or sent and
# the reply lost: a crash, a timeout, a 5xx); ``open``: acknowledged, fills may still come; the
# rest are final. A ``new`` order is looked up at the venue before it may be sent again.
NEW, OPEN, FILLED, PARTIAL, REJECTED = "new", "open", "filled", "partial", "rejected"
FINAL = (FILLED, PARTIAL, REJECTED)

# The reason code of a lookup's definite answer "the venue has no order with this client order
# id" (``ccxt.OrderNotFound``): the one answer that lets a ``new`` order be sent (again).
NOT_AT_VENUE = "NOT_AT_VENUE"


def client_order_id(mode: str, strategy: str, symbol: str, decision_bar: datetime) -> str:
    """The idempotency key of the one order a (mode, strategy, symbol, decision bar) may have.

    Deterministic, so a tick run twice, a sensor firing twice or a retry after a crash derives
    the same id; the ledger and the exchange both refuse a second order with it. A short prefix
    and 30 hex digits of a SHA-256 fit every registered venue's rule (``Venue.client_order_id_rule``,
    checked by ``quant_assets_tests/test_venue_boundary.py``).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    bar = decision_bar.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hashlib.sha256(f"{mode}|{strategy}|{symbol}|{bar}".encode()).hexdigest()[:30]
    return f"qa{mode[0]}-{digest}"


@dataclass(frozen=True)
class OrderRequest:
    """A market order the strategy wants for one decision bar; ``quantity`` in base units, > 0."""

    mode: str
    strategy: str
    symbol: str  # ccxt symbol, e.g. "BTC/USDT"
    side: str  # "buy" or "sell"
    quantity: float
    decision_bar: datetime  # open time of the newest closed bar the decision used
    reference_price: float  # that bar's close: for sizing checks and minimum notional

    @property
    def client_order_id(self) -> str:
        return client_order_id(self.mode, self.strategy, self.symbol, self.decision_bar)

    @property
    def signed_quantity(self) -> float:
        return self.quantity if self.side == "buy" else -self.quantity


@dataclass(frozen=True)
class Fill:
    fill_id: str  # the venue's trade id (paper: derived from the order and the bar)
    ts: datetime
    quantity: float  # base units, > 0; the side is the order's
    price: float
    fee: float
    fee_currency: str


@dataclass(frozen=True)
class OrderUpdate:
    """What a venue says about one order now: its status and every fill known so far."""

    client_order_id: str
    status: str
    exchange_order_id: str | None = None
    fills: tuple[Fill, ...] = field(default=())
    reason_code: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class VenueStop:
    """Why an adapter stopped talking to the venue part-way: the orders it did not settle stay
    ``new`` (looked up before anything is sent again), and the batch records this as a halt.

    ``until``: no request of any kind before this time (a 429's Retry-After, a 418 ban's end).
    ``fatal``: a person must act (keys, permissions); the batch raises after booking the rest.
    """

    code: str
    detail: str
    until: datetime | None = None
    fatal: bool = False


@dataclass(frozen=True)
class VenueReport:
    """What an adapter's ``place`` or ``lookup`` learnt: an update per order it settled, in
    order, and why it stopped early if it did (the orders after that have no update)."""

    updates: list[OrderUpdate]
    stop: VenueStop | None = None
