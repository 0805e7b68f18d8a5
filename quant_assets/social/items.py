"""Raw social items: one normalised row per post or comment, before any symbol linking.

Every source (a file drop of scraped Reddit files, a future Reddit or RSS connector)
produces this frame; linking and partitioning are the same for all of them.

- ``created_at``: when the text was written; the text is knowable from then.
- ``text``: null when the scrape saw it gone (``[deleted]``, ``[removed]``, blank). The item
  still existed from ``created_at``: its removal happened later, so it is kept and counted,
  only its words are unavailable (never embedded, never in a latent).
- ``observed_at``: when the engagement fields were observed (the scrape time). Engagement is
  never knowable before it, however early the text was written.
- ``first_seen_at``: when a collector first saw the item, where the source records it (a
  live collector that stamps each item as it polls); null otherwise (a file drop of scrapes,
  whose ``scraped_at`` is when engagement was observed, not when the text could be read).
  The text is knowable from ``social.text.available_at``: the later of ``created_at`` plus
  the collection lag, and this.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from quant_assets.timegrid import TS_DTYPE

POST = "post"
COMMENT = "comment"

ITEM_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "kind": pl.String(),
    "post_id": pl.String(),
    "subreddit": pl.String(),
    "created_at": TS_DTYPE,
    "text": pl.String(),
    "author": pl.String(),
    "score": pl.Int64(),
    "num_comments": pl.Int64(),
    "upvote_ratio": pl.Float64(),
    "observed_at": TS_DTYPE,
    "first_seen_at": TS_DTYPE,
}

# Reddit's stand-ins for text that is gone: the item existed but carries no text.
PLACEHOLDER_TEXTS = ("[deleted]", "[removed]", "[deleted by user]", "[removed by reddit]")

FIRST_SEEN = "first_seen_at"  # an optional column of a source's posts and comments
POST_COLUMNS = ("post_id", "subreddit", "created_utc", "title", "author", "score", "num_comments", "upvote_ratio", "scraped_at")
COMMENT_COLUMNS = ("comment_id", "post_id", "subreddit", "created_utc", "body", "author", "score", "scraped_at")


def empty_items() -> pl.DataFrame:
    return pl.DataFrame(schema=ITEM_SCHEMA)


def as_utc(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Coerce a time column to ``Datetime(us, UTC)``.

    Accepts datetimes (naive ones are taken as UTC), epoch seconds (Reddit's API) and ISO
    strings, so parquet and JSONL drops read the same.
    """
    dtype = frame.schema[column]
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        expr = col.dt.replace_time_zone("UTC") if dtype.time_zone is None else col.dt.convert_time_zone("UTC")
    elif dtype.is_numeric():
        expr = pl.from_epoch((col.cast(pl.Float64) * 1_000_000).round().cast(pl.Int64), time_unit="us").dt.replace_time_zone("UTC")
    elif dtype == pl.String:
        parsed = col.str.to_datetime(time_unit="us", time_zone="UTC")
        expr = parsed
    else:
        raise TypeError(f"column {column!r} has dtype {dtype}; expected a datetime, epoch seconds or an ISO string")
    return frame.with_columns(expr.cast(TS_DTYPE).alias(column))


def _require(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hint = " (engagement without an observation time is refused)" if "scraped_at" in missing else ""
        raise ValueError(f"{what} lack columns {missing}{hint}")


def _clean(expr: pl.Expr) -> pl.Expr:
    """Null for absent, blank or placeholder text."""
    stripped = expr.str.strip_chars()
    return pl.when(stripped.is_null() | (stripped == "") | stripped.is_in(PLACEHOLDER_TEXTS)).then(None).otherwise(expr)


def _first_seen(frame: pl.DataFrame) -> pl.DataFrame:
    """``first_seen_at`` as UTC where the source has the column, else null."""
    if FIRST_SEEN in frame.columns:
        return as_utc(frame, FIRST_SEEN)
    return frame.with_columns(pl.lit(None, TS_DTYPE).alias(FIRST_SEEN))


def posts_to_items(posts: pl.DataFrame) -> pl.DataFrame:
    """Reddit posts (``post_id, subreddit, created_utc, title, selftext, ...``) -> items.

    The text is the title, then the self text when there is one.
    """
    _require(posts, POST_COLUMNS, "posts")
    if "selftext" not in posts.columns:
        posts = posts.with_columns(selftext=pl.lit(None, dtype=pl.String))
    posts = _first_seen(as_utc(as_utc(posts, "created_utc"), "scraped_at"))
    title, body = _clean(pl.col("title")), _clean(pl.col("selftext"))
    text = pl.when(body.is_null()).then(title).when(title.is_null()).then(body).otherwise(pl.concat_str([title, body], separator="\n\n"))
    return posts.select(
        item_id=pl.col("post_id").cast(pl.String),
        kind=pl.lit(POST),
        post_id=pl.col("post_id").cast(pl.String),
        subreddit=pl.col("subreddit").str.to_lowercase(),
        created_at=pl.col("created_utc"),
        text=text,
        author=pl.col("author").cast(pl.String),
        score=pl.col("score").cast(pl.Int64),
        num_comments=pl.col("num_comments").cast(pl.Int64),
        upvote_ratio=pl.col("upvote_ratio").cast(pl.Float64),
        observed_at=pl.col("scraped_at"),
        first_seen_at=pl.col(FIRST_SEEN),
    )


def comments_to_items(comments: pl.DataFrame) -> pl.DataFrame:
    """Reddit comments (``comment_id, post_id, subreddit, created_utc, body, ...``) -> items."""
    _require(comments, COMMENT_COLUMNS, "comments")
    comments = _first_seen(as_utc(as_utc(comments, "created_utc"), "scraped_at"))
    return comments.select(
        item_id=pl.col("comment_id").cast(pl.String),
        kind=pl.lit(COMMENT),
        post_id=pl.col("post_id").cast(pl.String),
        subreddit=pl.col("subreddit").str.to_lowercase(),
        created_at=pl.col("created_utc"),
        text=_clean(pl.col("body")),
        author=pl.col("author").cast(pl.String),
        score=pl.col("score").cast(pl.Int64),
        num_comments=pl.lit(None, dtype=pl.Int64),
        upvote_ratio=pl.lit(None, dtype=pl.Float64),
        observed_at=pl.col("scraped_at"),
        first_seen_at=pl.col(FIRST_SEEN),
    )


def first_observation(items: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """One row per item: the earliest observation, whose engagement is knowable soonest.

    The same post scraped twice is one text with two engagement observations; the lake keeps
    one row per item, so the earlier one wins (a later one would hide the text's engagement
    until its later ``observed_at``). Returns the number of extra observations dropped.
    """
    kept = items.sort("observed_at", "item_id", nulls_last=True, maintain_order=True).unique("item_id", keep="first", maintain_order=True)
    return kept, items.height - kept.height


def as_of(items: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """What was knowable at ``now``: text created by then, engagement observed by then."""
    created = items.filter(pl.col("created_at") <= now)
    unseen = pl.col("observed_at").is_null() | (pl.col("observed_at") > now)
    return created.with_columns(
        [pl.when(unseen).then(None).otherwise(pl.col(c)).alias(c) for c in ("score", "num_comments", "upvote_ratio", "observed_at")]
    )


def in_span_with_parents(items: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """Items created in ``[start, end)``, plus the (older) posts their comments reply to.

    The parent posts never land in a partition outside their own day; they are here so that
    comments can inherit their post's link and prove their post is known.
    """
    in_span = (pl.col("created_at") >= start) & (pl.col("created_at") < end)
    parents = items.filter(in_span & (pl.col("kind") == COMMENT)).get_column("post_id").unique()
    is_parent = (pl.col("kind") == POST) & pl.col("post_id").is_in(parents.implode()) & (pl.col("created_at") < start)
    return items.filter(in_span | is_parent)
