"""Explicit, configurable rules that link a text to a symbol, and market-wide text.

A text is linked to a symbol's base asset (``BTC`` for ``BTC-USDT``) by, in this order:

1. ``subreddit:r/<name>``: it was written in a subreddit mapped to the asset (r/bitcoin -> BTC);
2. ``mention:<regex>``: its own text matches one of the asset's mention rules
   (``\\bbitcoin(?:s|ers?)?\\b``, ``\\bbtc\\b``, ``\\$btc\\b``...; case-insensitive);
3. ``post:<rule>``: a comment inherits the link of the post it replies to.

A text that no rule links to the symbol is still kept, as ``scope = "market"``, when it is
market-wide: written in a general subreddit (r/cryptocurrency) and naming no coin at all
(no mention rule of any asset matches it, not only the universe's); a comment is market-wide
only when its post is too. Market-wide text appears in every symbol's partition, marked.
Everything else (r/dogecoin chatter for a BTC partition) is not that symbol's text.

An item whose text is unavailable (null: deleted or removed after it was written) matches
no mention rule, so it links by its subreddit and its post only; in a general subreddit it is
market-wide. Deleted text is thus never linked by what it might have said.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Mapping

import polars as pl

from quant_assets.social.items import COMMENT, POST
from quant_assets.symbols import Symbol

SCOPE_SYMBOL = "symbol"
SCOPE_MARKET = "market"

DEFAULT_SUBREDDIT_SYMBOLS: dict[str, str] = {
    "bitcoin": "BTC",
    "btc": "BTC",
    "bitcoinmarkets": "BTC",
    "bitcoinbeginners": "BTC",
    "ethereum": "ETH",
    "ethtrader": "ETH",
    "ethfinance": "ETH",
    "ethstaker": "ETH",
    "solana": "SOL",
    "solanamemecoins": "SOL",
    "ripple": "XRP",
    "xrp": "XRP",
    "dogecoin": "DOGE",
    "cardano": "ADA",
    "litecoin": "LTC",
    "polkadot": "DOT",
    "chainlink": "LINK",
    "monero": "XMR",
    "sui": "SUI",
    "zec": "ZEC",
    "zcash": "ZEC",
    "bittensor_": "TAO",
    "injective": "INJ",
    "optimismcollective": "OP",
}

# Mention rules per base asset. Bare tickers that are everyday words (DOT, LINK, OP, TAO,
# ADA...) are matched only as cashtags or by the project's name.
DEFAULT_MENTIONS: dict[str, list[str]] = {
    "BTC": [r"\$btc\b", r"\bbtc\b", r"\bbitcoin(?:s|ers?)?\b", r"\bxbt\b"],
    "ETH": [r"\$eth\b", r"\beth\b", r"\bethereum\b", r"\bether\b"],
    "SOL": [r"\$sol\b", r"\bsol\b", r"\bsolana\b"],
    "XRP": [r"\$xrp\b", r"\bxrp\b", r"\bripple\b"],
    "BNB": [r"\$bnb\b", r"\bbnb\b"],
    "DOGE": [r"\$doge\b", r"\bdoge\b", r"\bdogecoin\b"],
    "ADA": [r"\$ada\b", r"\bcardano\b"],
    "LTC": [r"\$ltc\b", r"\bltc\b", r"\blitecoin\b"],
    "BCH": [r"\$bch\b", r"\bbch\b", r"\bbitcoin cash\b"],
    "SUI": [r"\$sui\b", r"\bsui\b"],
    "ZEC": [r"\$zec\b", r"\bzec\b", r"\bzcash\b"],
    "TAO": [r"\$tao\b", r"\bbittensor\b"],
    "OP": [r"\$op\b", r"\boptimism\b"],
    "INJ": [r"\$inj\b", r"\binjective\b"],
    "DOT": [r"\$dot\b", r"\bpolkadot\b"],
    "LINK": [r"\$link\b", r"\bchainlink\b"],
    "AVAX": [r"\$avax\b", r"\bavax\b", r"\bavalanche\b"],
    "TRX": [r"\$trx\b", r"\btron\b"],
    "XMR": [r"\$xmr\b", r"\bxmr\b", r"\bmonero\b"],
    "SHIB": [r"\$shib\b", r"\bshib\b", r"\bshiba\b"],
    "PEPE": [r"\$pepe\b", r"\bpepe\b"],
    "HYPE": [r"\$hype\b", r"\bhyperliquid\b"],
}

# General subreddits: their text that names no coin is market-wide.
DEFAULT_MARKET_SUBREDDITS: list[str] = [
    "cryptocurrency",
    "cryptomarkets",
    "cryptocurrencytrading",
    "altcoin",
    "cryptotechnology",
    "defi",
    "cryptomoonshots",
    "satoshistreetbets",
    "binance",
    "buttcoin",
]


@dataclass(frozen=True)
class LinkRules:
    subreddit_symbols: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SUBREDDIT_SYMBOLS))
    mentions: Mapping[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_MENTIONS.items()})
    market_subreddits: tuple[str, ...] = tuple(DEFAULT_MARKET_SUBREDDITS)
    comments_inherit_post_link: bool = True

    def __post_init__(self):
        for base, patterns in self.mentions.items():
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"mention rule {pattern!r} for {base} is not a valid regex: {exc}") from exc
        unknown = sorted(set(self.subreddit_symbols.values()) - set(self.mentions))
        if unknown:
            raise ValueError(f"subreddits map to assets {unknown} that have no mention rules")

    def as_dict(self) -> dict:
        return {
            "subreddit_symbols": {k.lower(): v for k, v in sorted(self.subreddit_symbols.items())},
            "mentions": {k: list(v) for k, v in sorted(self.mentions.items())},
            "market_subreddits": sorted(s.lower() for s in self.market_subreddits),
            "comments_inherit_post_link": self.comments_inherit_post_link,
        }

    @property
    def sha256(self) -> str:
        """Fingerprint of the rules, recorded with every partition they linked."""
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()

    def subreddits_of(self, base: str) -> list[str]:
        return sorted(s.lower() for s, b in self.subreddit_symbols.items() if b == base)


def _ci(pattern: str) -> str:
    return "(?i)" + pattern


def _first_mention(base: str, rules: LinkRules) -> pl.Expr:
    """The first of ``base``'s mention rules the text matches, as ``mention:<regex>``."""
    patterns = rules.mentions.get(base, [])
    if not patterns:
        return pl.lit(None, dtype=pl.String)
    text = pl.col("text")
    expr = pl.when(text.str.contains(_ci(patterns[0]))).then(pl.lit(f"mention:{patterns[0]}"))
    for pattern in patterns[1:]:
        expr = expr.when(text.str.contains(_ci(pattern))).then(pl.lit(f"mention:{pattern}"))
    return expr.otherwise(pl.lit(None, dtype=pl.String))


def _names_any_coin(rules: LinkRules) -> pl.Expr:
    every = [p for patterns in rules.mentions.values() for p in patterns]
    if not every:
        return pl.lit(False)
    return pl.col("text").str.contains(_ci("|".join(f"(?:{p})" for p in every))).fill_null(False)


def link_items(items: pl.DataFrame, rules: LinkRules, symbols: list[str]) -> pl.DataFrame:
    """Link raw items to ``symbols`` (partition keys such as ``BTC-USDT``).

    Returns one row per (symbol, linked item): the item columns plus ``symbol``, ``scope``
    (``symbol`` or ``market``), ``link_rule`` and ``post_created_at`` (the created_at of the
    post a comment replies to, null when the source does not know that post). An item linked
    to two symbols appears once for each; items linked to none and not market-wide are gone.
    """
    bases = {symbol: Symbol.from_key(symbol).base for symbol in symbols}
    market_subs = [s.lower() for s in rules.market_subreddits]
    frame = items.with_columns(
        subreddit=pl.col("subreddit").str.to_lowercase(),
        _names_coin=_names_any_coin(rules),
        **{f"_mention_{base}": _first_mention(base, rules) for base in set(bases.values())},
    )

    def own_rule(base: str) -> pl.Expr:
        subs = rules.subreddits_of(base)
        by_subreddit = (
            pl.when(pl.col("subreddit").is_in(subs)).then(pl.concat_str([pl.lit("subreddit:r/"), pl.col("subreddit")]))
            if subs
            else pl.lit(None, dtype=pl.String)
        )
        return pl.coalesce(by_subreddit, pl.col(f"_mention_{base}"))

    in_market_sub = pl.col("subreddit").is_in(market_subs)
    posts = frame.filter(pl.col("kind") == POST).with_columns(
        _market=in_market_sub & ~pl.col("_names_coin"),
        **{f"_rule_{base}": own_rule(base) for base in set(bases.values())},
    )
    parents = posts.select(
        "post_id",
        _post_created_at=pl.col("created_at"),
        _post_market=pl.col("_market"),
        **{f"_post_rule_{base}": pl.col(f"_rule_{base}") for base in set(bases.values())},
    ).unique("post_id", keep="first", maintain_order=True)

    def comment_rule(base: str) -> pl.Expr:
        inherited = (
            pl.concat_str([pl.lit("post:"), pl.col(f"_post_rule_{base}")]) if rules.comments_inherit_post_link else pl.lit(None, dtype=pl.String)
        )
        return pl.coalesce(own_rule(base), inherited)

    comments = (
        frame.filter(pl.col("kind") == COMMENT)
        .join(parents, on="post_id", how="left", maintain_order="left")
        .with_columns(
            _market=pl.when(pl.col("_post_created_at").is_not_null()).then(pl.col("_post_market")).otherwise(in_market_sub) & ~pl.col("_names_coin"),
            **{f"_rule_{base}": comment_rule(base) for base in set(bases.values())},
        )
    )
    posts = posts.with_columns(_post_created_at=pl.col("created_at"))
    columns = list(items.columns)
    keep = columns + ["_post_created_at", "_market"] + [f"_rule_{b}" for b in set(bases.values())]
    both = pl.concat([posts.select(keep), comments.select(keep)], how="vertical")

    out = []
    for symbol, base in bases.items():
        rule = pl.col(f"_rule_{base}")
        linked = both.filter(rule.is_not_null() | pl.col("_market")).with_columns(
            symbol=pl.lit(symbol),
            scope=pl.when(rule.is_not_null()).then(pl.lit(SCOPE_SYMBOL)).otherwise(pl.lit(SCOPE_MARKET)),
            link_rule=pl.when(rule.is_not_null()).then(rule).otherwise(pl.concat_str([pl.lit("market:r/"), pl.col("subreddit")])),
            post_created_at=pl.col("_post_created_at"),
        )
        out.append(linked.select(["symbol"] + columns + ["post_created_at", "scope", "link_rule"]))
    if not out:
        return pl.DataFrame(
            schema={"symbol": pl.String, **items.schema, "post_created_at": pl.Datetime("us", "UTC"), "scope": pl.String, "link_rule": pl.String}
        )
    return pl.concat(out, how="vertical")
