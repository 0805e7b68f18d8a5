"""ccxt plumbing shared by every venue: client creation and retries of read-only calls.

Rate limits are ccxt's own (``enableRateLimit``: every request waits for its endpoint's
weight). On top of that, transient failures are retried with exponential backoff: ccxt's
``OperationFailed`` family, which is ``NetworkError`` and its children
(``RateLimitExceeded``, ``DDoSProtection`` for HTTP 429/418, ``ExchangeNotAvailable`` for
5xx, ``RequestTimeout``) plus exchange codes ccxt marks as "try again" (server busy or internal
error; each venue's ``errors`` module lists its own). Only read-only calls go through here, so a
retry can never double an order. Everything else, ``BadSymbol`` first of all, fails at once
with a message that names the call.

What differs between venues (which markets to load) comes from the venue
(``quant_assets.venues.get``). Keys, when a private endpoint needs them, come from the
environment (``<EXCHANGE>_API_KEY`` / ``<EXCHANGE>_API_SECRET``) and are never logged.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, TypeVar

import ccxt

from quant_assets import venues
from quant_assets.venues.errors import ExchangeCallFailed

log = logging.getLogger(__name__)

T = TypeVar("T")

# ccxt's own meaning of OperationFailed: "may succeed if retried" (its fetch2 retries these).
RETRYABLE = (ccxt.OperationFailed,)

# ccxt market types for the names the project uses (see ``Symbol.ccxt_symbol``).
_CCXT_TYPE = {"spot": "spot", "swap": "swap", "perp": "swap", "future": "swap"}


def make_exchange(exchange_id: str, market_type: str, **overrides) -> ccxt.Exchange:
    """A ccxt client with rate limiting on, defaulting to ``market_type`` markets and loading
    only the market families the venue says a ``market_type`` job needs (a job must not fail
    on a host it never uses); ``options={"fetchMarkets": ...}`` in overrides still wins."""
    if exchange_id not in ccxt.exchanges:
        raise ExchangeCallFailed(f"ccxt has no exchange {exchange_id!r}")
    ccxt_type = _CCXT_TYPE.get(market_type, market_type)
    options: dict = {"defaultType": ccxt_type}
    types = venues.get(exchange_id).markets_to_load(exchange_id, ccxt_type)
    if types:
        options["fetchMarkets"] = {"types": types}
    config = {"enableRateLimit": True}
    prefix = exchange_id.upper()
    if os.environ.get(f"{prefix}_API_KEY"):
        config["apiKey"] = os.environ[f"{prefix}_API_KEY"]
        config["secret"] = os.environ.get(f"{prefix}_API_SECRET", "")
    config["options"] = {**options, **overrides.pop("options", {})}
    config.update(overrides)
    return getattr(ccxt, exchange_id)(config)


def call_with_retries(
    fn: Callable[[], T],
    what: str,
    attempts: int = 5,
    base_delay_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run one exchange call, retrying transient failures with exponential backoff.

    Waits ``base_delay_s * 2**k`` after the k-th failure (1, 2, 4, 8 s by default) and
    raises ``ExchangeCallFailed`` after ``attempts`` tries; non-transient ccxt errors raise
    it at once. ``what`` names the call (exchange, method, symbol) in every message.
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except ccxt.BadSymbol as exc:
            raise ExchangeCallFailed(f"{what}: the exchange does not know this symbol ({exc})") from exc
        except RETRYABLE as exc:
            if attempt == attempts:
                raise ExchangeCallFailed(f"{what}: still failing after {attempts} attempts: {type(exc).__name__}: {exc}") from exc
            delay = base_delay_s * 2 ** (attempt - 1)
            log.warning("%s: %s, retry %d/%d in %.1fs", what, type(exc).__name__, attempt, attempts - 1, delay)
            sleep(delay)
        except ccxt.BaseError as exc:
            raise ExchangeCallFailed(f"{what}: {type(exc).__name__}: {exc}") from exc
    raise AssertionError("unreachable")
