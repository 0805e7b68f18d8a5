"""An order against the market's limits: precision, minimum and maximum amount, notional.

The limits are the venue's, as ccxt loaded them with the markets (``market["limits"]``) and
rounds to them (``amount_to_precision``), so the same reading holds for every venue. The
live adapter checks each order here before sending it.
"""

from __future__ import annotations

import ccxt


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
