"""Binance: everything the platform knows about it, behind ``quant_assets.venues.get("binance")``.

``venue`` assembles the facts kept one concern per module: ``symbols`` (ccxt classes, market
ids, markets to load), ``derivatives`` (the endpoints behind each metric, taker volume),
``orders`` (client order ids, duplicate refusals, params), ``errors`` (its codes and what
they mean to us) and ``fees``. It is the platform's default venue.
"""

from quant_assets.venues.binance.venue import Binance

VENUE = Binance()
