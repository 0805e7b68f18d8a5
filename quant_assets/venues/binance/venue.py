"""The Binance venue: the ``Venue`` interface answered from this folder's modules."""

from __future__ import annotations

from types import MappingProxyType

import ccxt

from quant_assets.venues.base import Venue
from quant_assets.venues.binance import derivatives, errors, fees, orders, symbols


class Binance(Venue):
    name = "binance"
    title = "Binance"
    ccxt_ids = symbols.CCXT_IDS
    is_default = True
    taker_fee_bps = MappingProxyType(fees.TAKER_FEE_BPS)
    client_order_id_rule = orders.CLIENT_ORDER_ID_RULE
    serves_taker_volume = True

    def markets_to_load(self, ccxt_id: str, ccxt_type: str) -> list[str] | None:
        return symbols.MARKETS_TO_LOAD.get(ccxt_id, {}).get(ccxt_type)

    def taker_volume(self, exchange: ccxt.Exchange, symbol: str, since: int, until: int, limit: int) -> list[tuple]:
        return derivatives.taker_volume(exchange, symbol, since, until, limit)

    def error_kind(self, exc: ccxt.BaseError) -> str:
        return errors.error_kind(exc)

    def is_duplicate_order(self, exc: ccxt.BaseError) -> bool:
        return super().is_duplicate_order(exc) or orders.is_duplicate_order(exc)
