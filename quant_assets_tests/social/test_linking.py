"""Symbol linking on real Reddit text: subreddit, mentions, $BTC, inheritance, market-wide."""

import polars as pl
import pytest

from quant_assets.resources.social_data import SocialLinking
from quant_assets.social.linking import DEFAULT_MENTIONS, LinkRules
from quant_assets_tests.social.reddit_fixture import linked_fixture


@pytest.fixture(scope="module")
def linked() -> pl.DataFrame:
    return linked_fixture()


def links_of(linked: pl.DataFrame, item_id: str) -> dict[str, tuple[str, str]]:
    rows = linked.filter(pl.col("item_id") == item_id)
    return {r["symbol"]: (r["scope"], r["link_rule"]) for r in rows.iter_rows(named=True)}


def test_subreddit_rule_links_rbitcoin_posts_to_btc_only(linked):
    # "Me holding on to my Solana long..." is r/solana; r/bitcoin posts link to BTC by subreddit.
    btc_sub = linked.filter((pl.col("subreddit") == "bitcoin") & (pl.col("kind") == "post"))
    assert btc_sub.height > 0
    assert set(btc_sub["symbol"]) == {"BTC-USDT"} | set(btc_sub.filter(pl.col("link_rule").str.starts_with("mention:"))["symbol"])
    assert (btc_sub.filter(pl.col("symbol") == "BTC-USDT")["link_rule"] == "subreddit:r/bitcoin").all()
    assert links_of(linked, "1nz655f") == {"SOL-USDT": ("symbol", "subreddit:r/solana")}


def test_cashtag_mention_links_a_general_subreddit_comment(linked):
    # "RIP to those who bought the dip. and to those who went full fomo during $BTC ath."
    assert links_of(linked, "niuqmqt") == {"BTC-USDT": ("symbol", r"mention:\$btc\b")}


def test_mentions_link_one_text_to_two_symbols(linked):
    # An r/ethereum comment that also says "btc" belongs to both.
    links = links_of(linked, "nik1wqz")
    assert links == {"BTC-USDT": ("symbol", r"mention:\bbtc\b"), "ETH-USDT": ("symbol", "subreddit:r/ethereum")}


def test_comment_inherits_its_posts_link(linked):
    # "Once again giving away borrowed money..." names no coin; its r/cryptocurrency post says bitcoin.
    assert links_of(linked, "niiqu82") == {"BTC-USDT": ("symbol", r"post:mention:\bbitcoin(?:s|ers?)?\b")}


def test_market_wide_text_is_kept_and_marked_in_every_symbol(linked):
    # "Crypto bros can be so delusional", r/cryptocurrency, names no coin.
    links = links_of(linked, "1nwx073")
    assert links == {s: ("market", "market:r/cryptocurrency") for s in ("BTC-USDT", "ETH-USDT", "SOL-USDT")}
    market = linked.filter(pl.col("scope") == "market")
    assert market.height > 0 and set(market["subreddit"]) <= {
        "cryptocurrency",
        "cryptomarkets",
        "altcoin",
        "buttcoin",
        "cryptotechnology",
        "defi",
        "cryptomoonshots",
        "satoshistreetbets",
        "binance",
        "cryptocurrencytrading",
    }


def test_text_about_another_coin_is_neither_linked_nor_market(linked):
    # "BNB isnt an altcoin?" in r/cryptocurrency names a coin outside the universe.
    assert links_of(linked, "nis7nz3") == {}


def test_bitcoiners_counts_as_a_bitcoin_mention(linked):
    assert links_of(linked, "1nwznvy") == {"BTC-USDT": ("symbol", r"mention:\bbitcoin(?:s|ers?)?\b")}


def test_rules_are_configurable():
    mentions = {k: list(v) for k, v in DEFAULT_MENTIONS.items()}
    mentions["BTC"] = mentions["BTC"] + [r"\bsatoshi'?s?\b"]
    custom = SocialLinking(mention_patterns=mentions, market_subreddits=[], comments_inherit_post_link=False)
    linked = linked_fixture(custom)
    # "Satoshi's wallet is now worth over $135B..." was market-wide; now it names BTC.
    assert links_of(linked, "1nyy09z") == {"BTC-USDT": ("symbol", r"mention:\bsatoshi'?s?\b")}
    # No general subreddits: market-wide text is no longer anyone's.
    assert links_of(linked, "1nwx073") == {}
    assert linked.filter(pl.col("scope") == "market").is_empty()
    # No inheritance: a comment naming no coin is not linked through its post.
    assert links_of(linked, "niiqu82") == {}
    assert custom.rules().sha256 != SocialLinking().rules().sha256


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="not a valid regex"):
        LinkRules(mentions={"BTC": ["(unclosed"]}, subreddit_symbols={})
    with pytest.raises(ValueError, match="no mention rules"):
        LinkRules(mentions={"BTC": [r"\bbtc\b"]}, subreddit_symbols={"dogecoin": "DOGE"})
