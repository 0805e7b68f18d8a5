"""Binance spot orders: client order ids, duplicate refusals, and the params ccxt sends.

ccxt's unified ``clientOrderId`` param goes to Binance as ``newClientOrderId`` on
``POST /api/v3/order`` (``create_order``) and as ``origClientOrderId`` on ``GET /api/v3/order``
(``fetch_order``); a fill lookup narrows ``GET /api/v3/myTrades`` with ``orderId``.

Binance keeps a client order id unique only among *open* orders: a filled market order's id is
accepted again, so the venue cannot be trusted to refuse a second copy. Hence the live path's
rule: an order whose outcome is unknown is looked up by its client order id before anything is
sent again, and only the definite "Order does not exist." (-2013, ``ccxt.OrderNotFound``) lets
it go out again. While an order with the id is still open, a second one is refused with -2010
"Duplicate order sent." (ccxt: ``InvalidOrder``): the order is at the venue, and is looked up.
"""

from __future__ import annotations

import re

import ccxt

# The client order ids Binance accepts (``newClientOrderId``).
CLIENT_ORDER_ID_RULE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")

# -2010's message for a client order id an OPEN order carries.
DUPLICATE = "Duplicate order sent"


def is_duplicate_order(exc: ccxt.BaseError) -> bool:
    return DUPLICATE in str(exc)
