"""Venues: everything the platform knows about an exchange, one folder per exchange.

The rest of the code asks for a venue by name, ``venues.get(name)`` (a venue's name or any
ccxt exchange id it answers for: ``QUANT_ASSETS_EXCHANGE`` holds one), and talks to the
``Venue`` it gets (``base.py``) and to the shared ccxt modules here. Nothing outside a venue's
folder names that venue in code; ``quant_assets_tests/test_venue_boundary.py`` fails if it does.

    venues/
      __init__.py    this registry: get(), default(), names()
      base.py        the interface, ccxt's unified behaviour as its defaults
      errors.py      the platform's error kinds (what a venue's failure means to us)
      client.py      ccxt clients (rate limiting on) and retries of read-only calls
      bars.py        closed 5m OHLCV bars, paginated
      derivatives.py funding, mark, open interest, long/short and taker flow, paginated
      limits.py      an order against the market's precision, amount and notional limits
      <venue>/       one exchange: __init__ (VENUE), venue, symbols, derivatives, orders, errors, fees

Adding a venue, say ``kraken``:

1. Add the folder ``venues/kraken/`` with the Binance folder's layout: ``venue.py`` subclasses
   ``base.Venue`` (``name``, ``title``, ``ccxt_ids``, ``taker_fee_bps``,
   ``client_order_id_rule``) and overrides only what its API does its own way (markets to load,
   order and lookup params, error codes ccxt leaves generic, endpoints ccxt does not unify),
   one module per concern.
2. Register it: its ``__init__.py`` sets ``VENUE = Kraken()``. ``get`` finds every folder here
   that has a ``VENUE``; nothing else lists venues. Exactly one venue has ``is_default = True``.
3. Record its payloads under ``quant_assets_tests/fixtures/<venue>/`` and run the bars,
   derivatives and live-order tests against them through ``recorded_exchange.RecordedExchange``
   (ccxt's real request building and parsing, no network), as the Binance tests do.
4. Select it with ``QUANT_ASSETS_EXCHANGE=kraken``.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from quant_assets.venues.base import Venue

__all__ = ["Venue", "default", "get", "names"]


@functools.cache
def _registered() -> tuple[Venue, ...]:
    """Every venue folder's ``VENUE``, imported on first use (they pull in ccxt)."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        if module.ispkg:
            venue = getattr(importlib.import_module(f"{__name__}.{module.name}"), "VENUE", None)
            if isinstance(venue, Venue):
                found.append(venue)
    defaults = [v.name for v in found if v.is_default]
    if len(defaults) != 1:
        raise RuntimeError(f"exactly one venue must be the default, found {defaults or 'none'}")
    return tuple(found)


def names() -> list[str]:
    """The registered venues' names."""
    return sorted(v.name for v in _registered())


def default() -> Venue:
    """The venue the platform uses when nothing names another."""
    return next(v for v in _registered() if v.is_default)


def get(name: str) -> Venue:
    """The venue registered as ``name`` or reached through the ccxt exchange id ``name``; for
    a ccxt exchange no folder describes, a ``Venue`` with ccxt's unified behaviour."""
    for venue in _registered():
        if name == venue.name or name in venue.ccxt_ids:
            return venue
    import ccxt

    if name not in ccxt.exchanges:
        raise KeyError(f"no venue {name!r}: registered {', '.join(names())}, or any ccxt exchange id")
    return Venue(name)
