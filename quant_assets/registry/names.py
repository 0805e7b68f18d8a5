"""Registered model names: one per symbol and horizon, ``quant_assets.<SYMBOL>.<horizon>``.

Every fit of a symbol is one MLflow run and one logged model holding all horizons and both
families; it is registered as a new version under each of the symbol's four names, so a
person promotes or rolls back each horizon on its own.
"""

from __future__ import annotations

from quant_assets.labels.horizons import HORIZON_NAMES

PREFIX = "quant_assets"
CHAMPION = "champion"
CHALLENGER = "challenger"


def registered_name(symbol: str, horizon: str) -> str:
    if horizon not in HORIZON_NAMES:
        raise ValueError(f"unknown horizon {horizon!r}; known: {', '.join(HORIZON_NAMES)}")
    return f"{PREFIX}.{symbol}.{horizon}"


def parse_name(name: str) -> tuple[str, str]:
    """``quant_assets.BTC-USDT.1h`` -> ("BTC-USDT", "1h")."""
    prefix, _, rest = name.partition(".")
    symbol, _, horizon = rest.rpartition(".")
    if prefix != PREFIX or not symbol or horizon not in HORIZON_NAMES:
        raise ValueError(f"{name!r} is not a quant_assets model name (quant_assets.<SYMBOL>.<horizon>)")
    return symbol, horizon
