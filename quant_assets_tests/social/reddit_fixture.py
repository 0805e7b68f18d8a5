"""Shared helpers for the social and text tests: the real Reddit fixture and small builders."""

from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from quant_assets.partitions import DaySymbol
from quant_assets.resources.social_data import FileDropSocialText, SocialLinking
from quant_assets.social.linking import link_items
from quant_assets.social.text import collection_lag, social_text_rows

REDDIT_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reddit"
SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
DAY1, DAY2 = date(2025, 10, 9), date(2025, 10, 10)
NOW = datetime(2025, 12, 1, tzinfo=timezone.utc)


def at(year, month, day, hour=0, minute=0, second=0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


def fixture_items() -> pl.DataFrame:
    items, _ = FileDropSocialText(folder=str(REDDIT_FIXTURES)).read_items()
    return items


def linked_fixture(linking: SocialLinking | None = None, symbols=SYMBOLS) -> pl.DataFrame:
    return link_items(fixture_items(), (linking or SocialLinking()).rules(), list(symbols))


def parts_for(days, symbols=SYMBOLS) -> list[DaySymbol]:
    return [DaySymbol(d, s) for d in days for s in symbols]


def social_rows(items: pl.DataFrame, symbols=SYMBOLS) -> pl.DataFrame:
    """Raw items -> linked social_text rows (with ``symbol``), default rules."""
    return social_text_rows(link_items(items, SocialLinking().rules(), list(symbols)), "test", collection_lag())
