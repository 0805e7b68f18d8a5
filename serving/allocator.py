"""From target positions to order sizes: risk budget, caps, minimum change, venue limits.

For each symbol, ``target`` (the combined signal, a fraction in [-1, 1]) becomes a notional
of ``target * risk_budget * capital``, capped at ``max_symbol * equity`` (the risk checks'
``max_position`` against the book's equity at the tick's marks: the very cap ``admit``
applies, so after a loss a capped order is sized down here instead of being refused there)
and then scaled down with every other symbol until the
gross notional is at most ``max_gross * capital`` (``quant_assets.evaluation.portfolio``, the
rules oos_eval's ``portfolio`` series sizes with too). The order is the difference between
that and the position held, in base units at the decision bar's close; it is dropped when the
change is below ``min_change * capital`` (no churn on noise), and when the venue would refuse
it (``quant_assets.venues.limits.market_refusal``: precision, minimum amount and notional, on the live
path, where the markets are loaded); amounts are cut to the venue's precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quant_assets.evaluation.portfolio import Sizing, target_notionals


@dataclass(frozen=True)
class Proposal:
    symbol: str  # ccxt symbol
    quantity: float  # signed base units: + buys, - sells
    target_notional: float


@dataclass(frozen=True)
class Skip:
    symbol: str
    code: str
    detail: str


BELOW_MIN_CHANGE = "BELOW_MIN_CHANGE"
OUTSIDE_EXCHANGE_LIMITS = "OUTSIDE_EXCHANGE_LIMITS"


def allocate(
    targets: dict[str, float],
    prices: dict[str, float],
    positions: dict[str, float],
    sizing: Sizing,
    venue_refusal: Callable[[str, float, float], str | None] | None = None,
    precision: Callable[[str, float], float] | None = None,
) -> tuple[list[Proposal], list[Skip]]:
    """Orders that move ``positions`` (symbol -> signed base quantity) to ``targets``."""
    proposals, skips = [], []
    for symbol, notional in target_notionals(targets, sizing).items():
        price = prices[symbol]
        delta = notional / price - positions.get(symbol, 0.0)
        if abs(delta) * price < sizing.min_change_notional():
            skips.append(Skip(symbol, BELOW_MIN_CHANGE, f"change {abs(delta) * price:.2f} below {sizing.min_change:g} of capital"))
            continue
        if venue_refusal is not None:
            why = venue_refusal(symbol, abs(delta), price)
            if why:
                skips.append(Skip(symbol, OUTSIDE_EXCHANGE_LIMITS, why))
                continue
        if precision is not None:
            delta = (1 if delta > 0 else -1) * precision(symbol, abs(delta))
        proposals.append(Proposal(symbol, delta, notional))
    return proposals, skips
