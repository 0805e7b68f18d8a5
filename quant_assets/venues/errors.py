"""The platform's own error kinds: what a venue's failure means to us, whatever the venue.

Two paths meet exchanges. The read path (bars, derivatives) fails with ``ExchangeCallFailed``
once retrying cannot help. The trading path never raises for a venue fault: a failed request
becomes one of the ``VENUE_*`` kinds below, which are also the ledger's halt codes
(``risk_events.code``), so a venue's own codes never reach the ledger. Each venue maps its
answers to these kinds (``Venue.error_kind``); ccxt's exception classes do most of it.
"""

from __future__ import annotations

import re

import ccxt


class ExchangeCallFailed(RuntimeError):
    """A ccxt call that cannot succeed by retrying (bad symbol, bad request, exhausted retries)."""


# Stop codes of the trading path, also the ledger's halt codes (``risk_events.code``).
VENUE_RATE_LIMITED = "VENUE_RATE_LIMITED"  # 429: back off until Retry-After
VENUE_BANNED = "VENUE_BANNED"  # 418: the IP is banned until Retry-After
VENUE_CLOCK = "VENUE_CLOCK"  # our timestamp was outside the venue's receive window
VENUE_OUTCOME_UNKNOWN = "VENUE_OUTCOME_UNKNOWN"  # timeout, 5xx, anything not a known rejection
VENUE_AUTH = "VENUE_AUTH"  # keys or permissions refused: a person must act


def http_status(exc: ccxt.BaseError) -> int | None:
    """The HTTP status of a ccxt error raised from a reply (its message is "<id> <status> ...")."""
    found = re.match(r"\S+ (\d{3}) ", str(exc))
    return int(found.group(1)) if found else None


def ccxt_error_kind(exc: ccxt.BaseError) -> str:
    """The kind of a failed trading request from ccxt's unified exception classes alone."""
    if isinstance(exc, (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)):
        return VENUE_AUTH
    if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):  # 429, 418
        return VENUE_BANNED if http_status(exc) == 418 or "banned" in str(exc).lower() else VENUE_RATE_LIMITED
    if isinstance(exc, ccxt.InvalidNonce):
        return VENUE_CLOCK
    return VENUE_OUTCOME_UNKNOWN
