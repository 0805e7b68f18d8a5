"""social_text partitions: linked posts and comments of one UTC day of one symbol.

A text belongs to the UTC day of its ``created_at``. It could first be known once a collector
could have read it: ``available_at = max(created_at + collection lag, first_seen_at)``, the lag
``QUANT_ASSETS_TEXT_COLLECTION_LAG`` (default 10 minutes: a poller's interval plus the API's
delay; recorded per item as ``collection_lag_s``), ``first_seen_at`` where the source records
when its collector first saw the item (null otherwise). Writing is not publishing: text is
never taken as seen the instant it was written. The engagement fields carry their own
``observed_at``. An item the
scrape saw deleted or removed is still a row (it existed at ``created_at``; it went later),
with ``text`` null: counted in every volume, never embedded.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from quant_assets import settings
from quant_assets.partitions import DaySymbol, split_by_partition
from quant_assets.social.items import ITEM_SCHEMA
from quant_assets.timegrid import TS_DTYPE

SOCIAL_TEXT_ASSET = "social_text"

SOCIAL_TEXT_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "kind": pl.String(),
    "post_id": pl.String(),
    "subreddit": pl.String(),
    "created_at": TS_DTYPE,
    "available_at": TS_DTYPE,  # max(created_at + collection_lag_s, first_seen_at)
    "collection_lag_s": pl.Int64(),  # the collection lag this row's available_at was derived with
    "text": pl.String(),  # null: unavailable (deleted or removed after it was written)
    "author": pl.String(),  # a salted hash in the source data; never a real user name
    "score": pl.Int64(),
    "num_comments": pl.Int64(),
    "upvote_ratio": pl.Float64(),
    "observed_at": TS_DTYPE,  # when score / num_comments / upvote_ratio were observed
    "first_seen_at": TS_DTYPE,  # when a collector first saw the item, where the source records it
    "post_created_at": TS_DTYPE,  # a comment's post; null when the source does not know it
    "scope": pl.String(),  # "symbol" or "market"
    "link_rule": pl.String(),
    "source": pl.String(),
}

ENGAGEMENT_COLUMNS = ("score", "num_comments", "upvote_ratio")


def collection_lag() -> timedelta:
    """How long after it is written a text can first have been collected (``QUANT_ASSETS_TEXT_COLLECTION_LAG``)."""
    return settings.current().text.collection_lag


def available_at() -> pl.Expr:
    """The one rule: the later of ``created_at`` + ``collection_lag_s`` and ``first_seen_at``."""
    lagged = pl.col("created_at") + pl.duration(seconds=pl.col("collection_lag_s"))
    return pl.max_horizontal(lagged, pl.col("first_seen_at")).cast(TS_DTYPE)


assert set(ITEM_SCHEMA) <= set(SOCIAL_TEXT_SCHEMA)


def empty_social_text() -> pl.DataFrame:
    return pl.DataFrame(schema=SOCIAL_TEXT_SCHEMA)


def social_text_rows(linked: pl.DataFrame, source: str, lag: timedelta) -> pl.DataFrame:
    """Linked items -> rows in the lake schema (plus ``symbol``), in a deterministic order,
    each knowable from ``available_at`` (collected ``lag`` after creation at the earliest)."""
    out = linked.with_columns(collection_lag_s=pl.lit(int(lag.total_seconds()), pl.Int64), source=pl.lit(source))
    out = out.with_columns(available_at=available_at())
    out = out.with_columns([pl.col(n).cast(t) for n, t in SOCIAL_TEXT_SCHEMA.items()])
    return out.select(["symbol"] + list(SOCIAL_TEXT_SCHEMA)).sort("symbol", "created_at", "kind", "item_id", maintain_order=True)


def split_partitions(frame: pl.DataFrame, parts: list[DaySymbol]) -> list[tuple[DaySymbol, pl.DataFrame]]:
    """Cut linked rows into the requested (day, symbol) partitions by ``created_at``'s UTC day.

    Every requested partition gets a frame, empty when no text was linked to it; rows of
    other days (a comment's older post, brought along for linking) are dropped. Nothing is
    de-duplicated here: a bad source is for the checks to see.
    """
    return split_by_partition(frame, parts, "created_at", empty_social_text())
