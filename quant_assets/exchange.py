"""ccxt plumbing shared by every exchange-backed source: client creation and retries.

Rate limits are ccxt's own (``enableRateLimit``); on top of that, transient failures
(``NetworkError`` and its children ``RateLimitExceeded``, ``ExchangeNotAvailable``,
``RequestTimeout``) are retried with exponential backoff. Everything else, ``BadSymbol``
first of all, fails at once with a message that names the call.

Keys, when a private endpoint needs them, come from the environment
(``<EXCHANGE>_API_KEY`` / ``<EXCHANGE>_API_SECRET``) and are never logged.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, TypeVar

import ccxt

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE = (ccxt.NetworkError,)


class ExchangeCallFailed(RuntimeError):
    """A ccxt call that cannot succeed by retrying (bad symbol, bad request, exhausted retries)."""


def make_exchange(exchange_id: str, market_type: str, **overrides) -> ccxt.Exchange:
    if not hasattr(ccxt, exchange_id):
        raise ExchangeCallFailed(f"ccxt has no exchange {exchange_id!r}")
    config = {
        "enableRateLimit": True,
        "options": {"defaultType": market_type},
    }
    prefix = exchange_id.upper()
    if os.environ.get(f"{prefix}_API_KEY"):
        config["apiKey"] = os.environ[f"{prefix}_API_KEY"]
        config["secret"] = os.environ.get(f"{prefix}_API_SECRET", "")
    config.update(overrides)
    return getattr(ccxt, exchange_id)(config)


def call_with_retries(
    fn: Callable[[], T],
    what: str,
    attempts: int = 5,
    base_delay_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run one exchange call, retrying transient failures with exponential backoff."""
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
