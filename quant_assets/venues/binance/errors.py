"""Binance's error codes and what they mean to the platform (``quant_assets.venues.errors``).

ccxt maps most of them to its exception classes, which ``errors.ccxt_error_kind`` reads:

- -1000, -1001, -1008 (server busy, internal error): ``OperationFailed``, retried on the read
  path, an unknown outcome on the trading path;
- -1003 and HTTP 429 (too many requests): ``RateLimitExceeded``/``DDoSProtection``, back off
  until ``Retry-After``; HTTP 418 (the IP is banned, first ban 2 minutes, the default back-off
  when the header is missing): a ban;
- -1021 (timestamp outside the ``recvWindow``): ``InvalidNonce``, the clock difference is
  resynced (``GET /api/v3/time``);
- -2010 insufficient balance (``InsufficientFunds``), -1013 filter failures such as LOT_SIZE or
  NOTIONAL (``InvalidOrder``): definite rejections, not placed;
- -2013 "Order does not exist." (``OrderNotFound``): the one definite "not at the venue".

The exception: -2015 (key, IP or permissions refused) becomes ``DDoSProtection`` once the key
has worked before; either way the keys are refused and a person must look, so it is an
authentication failure whatever class ccxt chose.
"""

from __future__ import annotations

import ccxt

from quant_assets.venues.errors import VENUE_AUTH, ccxt_error_kind

KEY_REFUSED = '"code":-2015'


def error_kind(exc: ccxt.BaseError) -> str:
    if KEY_REFUSED in str(exc):
        return VENUE_AUTH
    return ccxt_error_kind(exc)
