"""Quality rules for social_text, as pure functions over stored partitions.

Input frames carry ``symbol`` and ``partition_day`` (the day of the partition a row was
stored in) next to the lake columns. Each rule returns the offending rows (empty when clean)
as ``symbol, ts, item_id, problem`` with ``ts`` the row's ``created_at``.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from quant_assets.partitions import DaySymbol
from quant_assets.social.items import COMMENT, PLACEHOLDER_TEXTS, POST
from quant_assets.social.text import available_at

# The old system refused a day whose comments were fewer than ten per post.
MIN_COMMENT_POST_RATIO = 10.0

OFFENDING_SCHEMA = {"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "item_id": pl.String, "problem": pl.String}


def _offending(frame: pl.DataFrame, mask: pl.Expr, problem: str) -> pl.DataFrame:
    if frame.is_empty():
        return pl.DataFrame(schema=OFFENDING_SCHEMA)
    return frame.filter(mask).select("symbol", pl.col("created_at").alias("ts"), "item_id", problem=pl.lit(problem)).cast(OFFENDING_SCHEMA)


def duplicate_items(frame: pl.DataFrame) -> pl.DataFrame:
    """The same item twice for one symbol (in one partition or in two)."""
    return _offending(frame, pl.struct("symbol", "item_id").is_duplicated(), "duplicate item_id")


def outside_day(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps that contradict the partition or each other."""
    created = pl.col("created_at")
    return pl.concat(
        [
            _offending(frame, created.is_null() | (created.dt.date() != pl.col("partition_day")), "created_at outside the partition's day"),
            _offending(
                frame,
                pl.col("collection_lag_s").is_null() | (pl.col("collection_lag_s") < 0) | (pl.col("available_at") != available_at()),
                "available_at != max(created_at + collection_lag_s, first_seen_at)",
            ),
            _offending(frame, pl.col("observed_at") < created, "engagement observed before the text was created"),
            _offending(
                frame,
                pl.col("observed_at").is_null() & pl.any_horizontal(pl.col(c).is_not_null() for c in ("score", "num_comments", "upvote_ratio")),
                "engagement without observed_at",
            ),
        ]
    )


def unmarked_unavailable_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Text that is gone but not marked so: blank, or a placeholder stored as if it were words.

    Unavailable text is null (the item is kept and counted); a blank or ``[deleted]`` string
    would be embedded as if someone had written it.
    """
    stripped = pl.col("text").str.strip_chars()
    return _offending(frame, (stripped == "") | stripped.is_in(PLACEHOLDER_TEXTS), "unavailable text not marked null (blank or placeholder)")


def orphan_comments(frame: pl.DataFrame) -> pl.DataFrame:
    """Comments whose post the source did not know, or that predate their post.

    A comment's post is usually on an earlier day, and may not be linked to the same symbol
    (the comment names the coin, the post does not), so the proof that it is known is
    ``post_created_at``, resolved by the source against every post it delivered. A post
    stored in the same partition must agree with it.
    """
    comments = pl.col("kind") == COMMENT
    posts_here = frame.filter(pl.col("kind") == POST).select("symbol", "partition_day", "post_id", _here_created_at=pl.col("created_at"))
    joined = frame.join(posts_here, on=["symbol", "partition_day", "post_id"], how="left", maintain_order="left")
    return pl.concat(
        [
            _offending(joined, comments & pl.col("post_created_at").is_null(), "comment's post unknown"),
            _offending(joined, comments & (pl.col("post_created_at") > pl.col("created_at")), "comment created before its post"),
            _offending(
                joined,
                comments & pl.col("_here_created_at").is_not_null() & (pl.col("_here_created_at") != pl.col("post_created_at")),
                "comment's post_created_at disagrees with the stored post",
            ),
            _offending(joined, ~pl.col("kind").is_in([POST, COMMENT]), "kind is neither post nor comment"),
        ]
    )


@dataclass(frozen=True)
class RatioReport:
    per_partition: pl.DataFrame  # symbol, day, posts, comments, ratio (null without posts)
    posts: int
    comments: int
    threshold: float

    @property
    def ratio(self) -> float | None:
        return self.comments / self.posts if self.posts else None

    @property
    def low(self) -> pl.DataFrame:
        """Partitions with posts whose ratio is below the threshold."""
        return self.per_partition.filter(pl.col("ratio") < self.threshold)

    @property
    def ok(self) -> bool:
        return self.low.is_empty() and (self.ratio is None or self.ratio >= self.threshold)


def comment_post_ratio(frame: pl.DataFrame, parts: list[DaySymbol], threshold: float = MIN_COMMENT_POST_RATIO) -> RatioReport:
    grid = pl.DataFrame(
        {"symbol": [p.symbol for p in parts], "day": [p.day for p in parts]},
        schema={"symbol": pl.String, "day": pl.Date},
    )
    if frame.is_empty():
        counts = grid.with_columns(posts=pl.lit(0, pl.Int64), comments=pl.lit(0, pl.Int64))
    else:
        counted = frame.group_by("symbol", pl.col("partition_day").alias("day")).agg(
            posts=(pl.col("kind") == POST).sum().cast(pl.Int64),
            comments=(pl.col("kind") == COMMENT).sum().cast(pl.Int64),
        )
        counts = grid.join(counted, on=["symbol", "day"], how="left").with_columns(pl.col("posts").fill_null(0), pl.col("comments").fill_null(0))
    per_partition = counts.with_columns(ratio=pl.when(pl.col("posts") > 0).then(pl.col("comments") / pl.col("posts")).otherwise(None)).sort(
        "symbol", "day"
    )
    return RatioReport(per_partition, int(counts["posts"].sum()), int(counts["comments"].sum()), threshold)
