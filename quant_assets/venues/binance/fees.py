"""Binance's base taker fees, which the default round-trip cost charges.

10 bps on spot and 5 bps on USD-M futures (the base tier, without the BNB discount); a
round trip pays the taker fee twice plus slippage on both legs. A spot fill's fee is charged
in the asset received by default: the base on a buy, the quote on a sell (the ledger books
both). ``QUANT_ASSETS_ROUND_TRIP_COST_BPS`` overrides the whole round-trip figure.
"""

TAKER_FEE_BPS = {"spot": 10.0, "swap": 5.0, "perp": 5.0, "future": 5.0}
