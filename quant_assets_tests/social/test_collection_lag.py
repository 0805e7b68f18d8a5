"""A text is knowable once a collector could have read it: created_at plus the collection lag,
or the collector's own first sighting where the source records it, whichever is later."""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from quant_assets import settings
from quant_assets.resources.social_data import SocialLinking
from quant_assets.social.items import posts_to_items
from quant_assets.social.linking import link_items
from quant_assets.social.text import collection_lag, social_text_rows

T = datetime(2025, 10, 9, 12, 0, tzinfo=timezone.utc)


def _posts(first_seen=None) -> pl.DataFrame:
    posts = pl.DataFrame(
        {
            "post_id": ["a", "b"],
            "subreddit": ["Bitcoin", "Bitcoin"],
            "created_utc": [T, T],
            "title": ["btc up", "btc down"],
            "author": ["x", "y"],
            "score": [1, 2],
            "num_comments": [0, 0],
            "upvote_ratio": [1.0, 1.0],
            "scraped_at": [T + timedelta(days=3)] * 2,
        }
    )
    return posts if first_seen is None else posts.with_columns(first_seen_at=pl.Series(first_seen, dtype=pl.Datetime("us", "UTC")))


def _rows(posts, lag=timedelta(minutes=10)):
    linked = link_items(posts_to_items(posts), SocialLinking().rules(), ["BTC-USDT"])
    return social_text_rows(linked, "test", lag).sort("item_id")


def test_default_lag_is_ten_minutes_and_a_scrape_time_is_not_a_first_sighting(monkeypatch):
    monkeypatch.delenv("QUANT_ASSETS_TEXT_COLLECTION_LAG", raising=False)
    assert collection_lag() == timedelta(minutes=10)
    rows = _rows(_posts())
    assert rows["available_at"].to_list() == [T + timedelta(minutes=10)] * 2 and rows["collection_lag_s"].to_list() == [600, 600]
    assert rows["first_seen_at"].null_count() == 2, "scraped_at dates the engagement, not when the text could be read"


def test_a_later_first_sighting_wins_an_earlier_one_does_not():
    rows = _rows(_posts(first_seen=[T + timedelta(minutes=45), T + timedelta(minutes=2)]))
    assert rows["available_at"].to_list() == [T + timedelta(minutes=45), T + timedelta(minutes=10)]


def test_a_bad_lag_is_one_settings_line(monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_TEXT_COLLECTION_LAG", "-5m")
    with pytest.raises(settings.SettingsError, match="QUANT_ASSETS_TEXT_COLLECTION_LAG='-5m' is not usable"):
        collection_lag()
    monkeypatch.setenv("QUANT_ASSETS_TEXT_COLLECTION_LAG", "1h")
    assert collection_lag() == timedelta(hours=1)
