"""One mapping between Dagster partition keys and exchange symbols.

Dagster partition keys become hive folder names (``symbol=BTC-USDT``), so they avoid ``/``
and ``:``. ccxt names the same market ``BTC/USDT`` (spot) or ``BTC/USDT:USDT`` (linear
perpetual settled in the quote currency).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY = re.compile(r"([A-Z0-9]+)-([A-Z0-9]+)")


@dataclass(frozen=True)
class Symbol:
    base: str
    quote: str

    @classmethod
    def from_key(cls, key: str) -> "Symbol":
        match = _KEY.fullmatch(key)  # not match with $: that accepts "BTC-USDT\n"
        if not match:
            raise ValueError(f"symbol partition key {key!r} is not of the form BASE-QUOTE, e.g. BTC-USDT")
        return cls(match.group(1), match.group(2))

    @classmethod
    def from_ccxt(cls, market: str) -> "Symbol":
        """``BTC/USDT`` or ``BTC/USDT:USDT`` -> Symbol('BTC', 'USDT')."""
        pair = market.split(":", 1)[0]
        base, _, quote = pair.partition("/")
        if not base or not quote:
            raise ValueError(f"ccxt symbol {market!r} is not of the form BASE/QUOTE[:SETTLE]")
        return cls(base, quote)

    @property
    def key(self) -> str:
        return f"{self.base}-{self.quote}"

    @property
    def spot(self) -> str:
        return f"{self.base}/{self.quote}"

    @property
    def perp(self) -> str:
        return f"{self.base}/{self.quote}:{self.quote}"

    def ccxt_symbol(self, market_type: str) -> str:
        if market_type == "spot":
            return self.spot
        if market_type in ("swap", "perp", "future"):
            return self.perp
        raise ValueError(f"unknown market type {market_type!r}; expected 'spot' or 'swap'")
