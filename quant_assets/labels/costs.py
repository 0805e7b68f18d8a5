"""The one round-trip trading cost every label, backtest and signal charges.

By default a round trip pays the default venue's base taker fee twice (its ``fees`` module,
per market type) plus slippage on both legs. One setting overrides the whole figure,
``QUANT_ASSETS_ROUND_TRIP_COST_BPS``; its value is recorded wherever it is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from quant_assets import settings, venues

SLIPPAGE_BPS_PER_SIDE = 1.0
COST_ENV = "QUANT_ASSETS_ROUND_TRIP_COST_BPS"


@dataclass(frozen=True)
class RoundTripCost:
    bps: float
    origin: str  # how the figure was set, for metadata

    @property
    def fraction(self) -> float:
        return self.bps / 1e4

    @property
    def log_cost(self) -> float:
        """What a round trip takes off a log return: ``-ln(1 - cost)`` (positive)."""
        return -math.log1p(-self.fraction)

    def metadata(self) -> dict[str, str | float]:
        return {"round_trip_cost_bps": self.bps, "round_trip_cost_origin": self.origin}


def default_cost(market_type: str) -> RoundTripCost:
    venue = venues.default()
    fees = venue.taker_fee_bps
    if market_type not in fees:
        raise ValueError(f"QUANT_ASSETS_MARKET_TYPE={market_type!r}: expected one of {', '.join(fees)}")
    fee = fees[market_type]
    bps = 2 * (fee + SLIPPAGE_BPS_PER_SIDE)
    return RoundTripCost(bps, f"2 x ({venue.title} {market_type} taker {fee:g} bps + slippage {SLIPPAGE_BPS_PER_SIDE:g} bps)")


def cost_from_env() -> RoundTripCost:
    """``QUANT_ASSETS_ROUND_TRIP_COST_BPS`` if set, else the default for the market type."""
    bps = settings.current().labels.round_trip_cost_bps
    if bps is None:
        market_types = venues.default().taker_fee_bps
        return default_cost(settings.declared("QUANT_ASSETS_MARKET_TYPE").refine(settings.one_of(*market_types)))
    return RoundTripCost(bps, COST_ENV)
