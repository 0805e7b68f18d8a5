"""The venue interface: what the platform asks of one exchange beyond what ccxt unifies.

ccxt does the talking (signing, rate limits by endpoint weight, parsing into unified
structures); the shared modules beside this file (``client``, ``bars``, ``derivatives``,
``limits``) drive it the same way for every exchange. What still differs between exchanges
is said here, by a ``Venue``: which ccxt classes reach it, what to load, how its markets are
named, the endpoints ccxt has no unified method for, the params its orders and lookups take,
what its errors mean to us, and its fees. The defaults are ccxt's unified behaviour, so an
exchange ccxt knows but no folder describes still works (``venues.get`` returns
``Venue(ccxt_id)`` for it); a venue's folder subclasses this and overrides what its API does
its own way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType

import ccxt

from quant_assets.symbols import Symbol
from quant_assets.venues.errors import VENUE_BANNED, VENUE_RATE_LIMITED, ccxt_error_kind


class Venue:
    """One exchange as the platform sees it. Subclass it in ``venues/<name>/`` and set
    ``VENUE`` in the folder's ``__init__``; see ``quant_assets.venues`` for the recipe."""

    name: str = ""  # the registry name, the value ``QUANT_ASSETS_EXCHANGE`` takes
    title: str = ""  # how metadata and messages name it
    ccxt_ids: tuple[str, ...] = ()  # the ccxt exchange classes that reach it (spot, futures hosts)
    is_default: bool = False  # the one venue the platform uses when nothing names another

    # Base taker fee per market type in basis points: the default round-trip cost charges it.
    taker_fee_bps: Mapping[str, float] = MappingProxyType({})
    # The client order ids the venue accepts; the platform's ids are checked against it in tests.
    client_order_id_rule: re.Pattern | None = None
    # How long to back off after a 429 or a 418 that came without a Retry-After header.
    default_backoff: Mapping[str, timedelta] = MappingProxyType({VENUE_RATE_LIMITED: timedelta(seconds=60), VENUE_BANNED: timedelta(minutes=2)})
    # Whether ``taker_volume`` is served (ccxt has no unified method for taker buy/sell volume).
    serves_taker_volume: bool = False

    def __init__(self, ccxt_id: str | None = None):
        """``Venue(ccxt_id)``: a venue no folder describes, reached through ccxt's unified API."""
        if ccxt_id is not None:
            self.name = self.title = ccxt_id
            self.ccxt_ids = (ccxt_id,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # -- client and symbols -------------------------------------------------------------

    def markets_to_load(self, ccxt_id: str, ccxt_type: str) -> list[str] | None:
        """The market families ``load_markets`` should read for a ``ccxt_type`` client
        (ccxt's ``fetchMarkets.types`` option), or None for ccxt's default."""
        return None

    def symbol(self, key: str, market_type: str) -> str:
        """The ccxt symbol of a partition key (``BTC-USDT``) on this venue's ``market_type``
        market; ccxt maps it to the venue's own market id (``exchange.market(s)["id"]``)."""
        return Symbol.from_key(key).ccxt_symbol(market_type)

    # -- derivatives ----------------------------------------------------------------------

    def taker_volume(self, exchange: ccxt.Exchange, symbol: str, since: int, until: int, limit: int) -> list[tuple]:
        """Hourly ``(ms, buy volume, sell volume)`` rows of ``[since, until)``."""
        raise ccxt.NotSupported(f"{exchange.id} serves no taker volume the platform can read")

    # -- orders -----------------------------------------------------------------------------

    def order_params(self, client_order_id: str) -> dict:
        """``create_order`` params that carry our client order id (ccxt's unified name)."""
        return {"clientOrderId": client_order_id}

    def lookup_params(self, client_order_id: str) -> dict:
        """``fetch_order`` params that find an order by our client order id."""
        return {"clientOrderId": client_order_id}

    def trades_params(self, exchange_order_id: str) -> dict:
        """``fetch_my_trades`` params that narrow the trades to one order."""
        return {"orderId": exchange_order_id}

    def receive_window(self, exchange: ccxt.Exchange) -> timedelta:
        """How long a signed request may still arrive after it was sent (ccxt's ``recvWindow``
        option where the exchange signs with one; a minute otherwise)."""
        return timedelta(milliseconds=exchange.options.get("recvWindow") or 60_000)

    # -- errors -----------------------------------------------------------------------------

    def error_kind(self, exc: ccxt.BaseError) -> str:
        """The platform's kind (``venues.errors.VENUE_*``) of a failed trading request."""
        return ccxt_error_kind(exc)

    def is_duplicate_order(self, exc: ccxt.BaseError) -> bool:
        """Whether a refused order was refused because an order carries its client order id
        (then the order is at the venue and is looked up, not recorded as rejected).

        ccxt's unified ``DuplicateOrderId`` says so for any exchange. Recording such a refusal
        as a rejection would leave the first copy's fill unbooked and the next bar would send
        the difference again: a doubled position. Looking it up is always the safe answer, so
        a venue folder may widen this (Binance matches its -2010 text), never narrow it.
        """
        return isinstance(exc, ccxt.DuplicateOrderId)
