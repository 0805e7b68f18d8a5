"""social_text partitions: linked posts and comments of one UTC day of one symbol.

A text belongs to the UTC day of its ``created_at``. ``available_at = created_at`` is when the
text could first be known; the engagement fields carry their own ``observed_at``. An item the
scrape saw deleted or removed is still a row (it existed at ``created_at``; it went later),
with ``text`` null: counted in every volume, never embedded.
"""

from __future__ import annotations

import polars as pl

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
    "available_at": TS_DTYPE,
    "text": pl.String(),  # null: unavailable (deleted or removed after it was written)
    "author": pl.String(),  # a salted hash in the source data; never a real user name
    "score": pl.Int64(),
    "num_comments": pl.Int64(),
    "upvote_ratio": pl.Float64(),
    "observed_at": TS_DTYPE,  # when score / num_comments / upvote_ratio were observed
    "post_created_at": TS_DTYPE,  # a comment's post; null when the source does not know it
    "scope": pl.String(),  # "symbol" or "market"
    "link_rule": pl.String(),
    "source": pl.String(),
}

ENGAGEMENT_COLUMNS = ("score", "num_comments", "upvote_ratio")
assert set(ITEM_SCHEMA) <= set(SOCIAL_TEXT_SCHEMA)


def empty_social_text() -> pl.DataFrame:
    return pl.DataFrame(schema=SOCIAL_TEXT_SCHEMA)


def social_text_rows(linked: pl.DataFrame, source: str) -> pl.DataFrame:
    """Linked items -> rows in the lake schema (plus ``symbol``), in a deterministic order."""
    out = linked.with_columns(available_at=pl.col("created_at"), source=pl.lit(source))
    out = out.with_columns([pl.col(n).cast(t) for n, t in SOCIAL_TEXT_SCHEMA.items()])
    return out.select(["symbol"] + list(SOCIAL_TEXT_SCHEMA)).sort("symbol", "created_at", "kind", "item_id", maintain_order=True)


def split_partitions(frame: pl.DataFrame, parts: list[DaySymbol]) -> list[tuple[DaySymbol, pl.DataFrame]]:
    """Cut linked rows into the requested (day, symbol) partitions by ``created_at``'s UTC day.

    Every requested partition gets a frame, empty when no text was linked to it; rows of
    other days (a comment's older post, brought along for linking) are dropped. Nothing is
    de-duplicated here: a bad source is for the checks to see.
    """
    return split_by_partition(frame, parts, "created_at", empty_social_text())
