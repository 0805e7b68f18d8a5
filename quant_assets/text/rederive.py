"""Re-derive what a text_latents row claims from social_text and text_embeddings.

The feature checks compare a latent's recorded stamps (``available_at``, the projection's
fit end) with the decision time; they cannot see a stamp that lies. These rules trust no
stamp of text_latents and recompute from its inputs:

- counts: every bucket's post, comment and market-post counts, and its comment/post
  ratio, equal the social_text rows knowable in the bucket (``latents.bucketed_texts``: by
  ``available_at``; deleted text included);
- engagement: a bucket's engagement is the mean over its posts whose engagement was
  observed by the row's own ``available_at``; a value where none was observed is a leak;
- projection: a projection refitted on the text created in the partition's *recorded* fit
  window gives the stored latents. A projection fitted on the day's own text while
  recording an earlier fit end gives other latents, and is caught.

Every rule takes frames with ``symbol`` and ``partition_day`` and returns the offending
buckets as ``symbol, ts, problem``.
"""

from __future__ import annotations

import polars as pl

from quant_assets.partitions import DaySymbol, days_between
from quant_assets.social.items import COMMENT, POST
from quant_assets.social.linking import SCOPE_MARKET
from quant_assets.text.latents import (
    TOWERS,
    LatentSpec,
    bucket_latents,
    bucketed_texts,
    created_in,
    fit_towers,
    latent_columns,
    offending_buckets,
)

KEYS = ["symbol", "partition_day", "ts"]
# Stored latents are Float32; a refit on the same inputs reproduces them to rounding.
RTOL, ATOL = 1e-4, 1e-5


def _differs(stored: pl.Expr, expected: pl.Expr) -> pl.Expr:
    """Null-aware: one null and not the other, or both set and apart beyond rounding."""
    apart = (stored - expected).abs() > ATOL + RTOL * expected.abs()
    return (stored.is_null() != expected.is_null()) | apart.fill_null(False)


def count_problems(latents: pl.DataFrame, texts: pl.DataFrame) -> pl.DataFrame:
    """Bucket counts that are not the social_text rows knowable in the bucket."""
    is_post = pl.col("kind") == POST
    counted = (
        bucketed_texts(texts)
        .group_by(KEYS)
        .agg(
            _posts=is_post.sum().cast(pl.Int64),
            _comments=(pl.col("kind") == COMMENT).sum().cast(pl.Int64),
            _market_posts=(is_post & (pl.col("scope") == SCOPE_MARKET)).sum().cast(pl.Int64),
        )
    )
    merged = latents.join(counted, on=KEYS, how="left").with_columns(pl.col("_posts", "_comments", "_market_posts").fill_null(0))
    ratio = pl.when(pl.col("_posts") > 0).then(pl.col("_comments") / pl.col("_posts"))
    return pl.concat(
        [
            offending_buckets(merged, pl.col("post_count") != pl.col("_posts"), "post_count is not the bucket's social_text posts"),
            offending_buckets(merged, pl.col("comment_count") != pl.col("_comments"), "comment_count is not the bucket's social_text comments"),
            offending_buckets(
                merged, pl.col("market_post_count") != pl.col("_market_posts"), "market_post_count is not the bucket's market-wide posts"
            ),
            offending_buckets(merged, _differs(pl.col("comment_post_ratio"), ratio), "comment_post_ratio is not comments / posts"),
        ],
        how="vertical",
    )


def engagement_problems(latents: pl.DataFrame, texts: pl.DataFrame) -> pl.DataFrame:
    """Engagement a bucket could not have known at its ``available_at``, or that is not its posts'."""
    posts = bucketed_texts(texts).filter(pl.col("kind") == POST).select(*KEYS, "score", "num_comments", "observed_at")
    known = pl.col("observed_at") <= pl.col("available_at")  # null observed_at: never known
    expected = (
        latents.select(*KEYS, "available_at")
        .join(posts, on=KEYS, how="left")
        .group_by(KEYS)
        .agg(
            _score=pl.col("score").filter(known).cast(pl.Float64).mean(),
            _num_comments=pl.col("num_comments").filter(known).cast(pl.Float64).mean(),
        )
    )
    merged = latents.join(expected, on=KEYS, how="left")
    out = []
    for stored, derived in (("post_score_observed_mean", "_score"), ("post_num_comments_observed_mean", "_num_comments")):
        unseen = pl.col(stored).is_not_null() & pl.col(derived).is_null()
        out.append(offending_buckets(merged, unseen, f"{stored} used engagement not observed by the bucket's end"))
        out.append(
            offending_buckets(
                merged, ~unseen & _differs(pl.col(stored), pl.col(derived)), f"{stored} is not the mean over posts observed by the bucket's end"
            )
        )
    return pl.concat(out, how="vertical")


def recorded_window(stored: pl.DataFrame) -> tuple | None:
    """The one fit window a partition's rows record, or None when they record none or several."""
    windows = stored.select("projection_fit_start", "projection_fit_end").unique()
    if windows.height != 1 or windows.null_count().sum_horizontal()[0]:
        return None
    return windows.row(0)


def refit_latents(part: DaySymbol, stored: pl.DataFrame, texts: pl.DataFrame, vectors: pl.DataFrame, spec: LatentSpec) -> pl.DataFrame | None:
    """The partition's latents recomputed with projections refitted on the text created in the
    window its rows record (``vectors``: the symbol's text_embeddings covering that window and
    the day). None when the rows record no single window (``projection_problems`` names that).
    """
    window = recorded_window(stored)
    if window is None:
        return None
    day_vectors = created_in(vectors, part.symbol, part.start, part.end)
    projections, _ = fit_towers(created_in(vectors, part.symbol, *window), day_vectors, part, window, spec)
    day_texts = created_in(texts, part.symbol, part.start, part.end)
    refit = bucket_latents(day_texts, day_vectors, projections, part, spec, window, part.end)
    return refit.with_columns(symbol=pl.lit(part.symbol), partition_day=pl.lit(part.day))


def refit_reads(latents: pl.DataFrame, parts: list[DaySymbol]) -> list[DaySymbol]:
    """The text_embeddings partitions a refit reads: per symbol, from the earliest fit start
    its rows record (the window they claim, not the settings') to its last day."""
    out = []
    for symbol in sorted({p.symbol for p in parts}):
        days = [p.day for p in parts if p.symbol == symbol]
        starts = latents.filter(pl.col("symbol") == symbol)["projection_fit_start"].drop_nulls()
        first = min(days + ([starts.min().date()] if len(starts) else []))
        out += [DaySymbol(d, symbol) for d in days_between(first, max(days))]
    return out


def refit_problems(parts: list[DaySymbol], latents: pl.DataFrame, texts: pl.DataFrame, vectors: pl.DataFrame, spec: LatentSpec) -> pl.DataFrame:
    """Stored latents that projections refitted on each partition's recorded fit window do not give."""
    refits = []
    # Split once: each partition then reads its symbol's rows, where a window of days is one
    # contiguous run (``created_in`` slices it instead of copying every vector in it).
    by_part = latents.partition_by("symbol", "partition_day", as_dict=True)
    texts_of, vectors_of = _by_symbol(texts), _by_symbol(vectors)
    for part in parts:
        mine = by_part.get((part.symbol, part.day), latents.clear())
        refit = refit_latents(part, mine, texts_of.get(part.symbol, texts.clear()), vectors_of.get(part.symbol, vectors.clear()), spec)
        if refit is not None:
            refits.append(refit)
    return compare_refit(latents, pl.concat(refits) if refits else latents.clear(), spec)


def _by_symbol(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """``frame`` split per symbol, rows in their order."""
    if frame.is_empty():
        return {}
    return {symbol: rows for (symbol,), rows in frame.partition_by("symbol", as_dict=True, maintain_order=True).items()}


def compare_refit(latents: pl.DataFrame, refits: pl.DataFrame, spec: LatentSpec) -> pl.DataFrame:
    """Stored latents that the refitted ones (same keys) do not reproduce."""
    out = []
    for tower in TOWERS:
        names = [f"{tower}_latent_missing", *latent_columns(tower, spec.dims(tower))]
        merged = latents.select(*KEYS, *names).join(refits.select(*KEYS, *names), on=KEYS, how="left", suffix="_refit")
        flag = f"{tower}_latent_missing"
        out.append(
            offending_buckets(
                merged,
                pl.col(flag) != pl.col(f"{flag}_refit").fill_null(True),
                f"{tower} latent present or missing unlike a projection refitted on the recorded fit window",
            )
        )
        apart = pl.any_horizontal(_differs(pl.col(c), pl.col(f"{c}_refit")) for c in names[1:])
        out.append(
            offending_buckets(
                merged,
                (pl.col(flag) == pl.col(f"{flag}_refit")) & apart,
                f"{tower} latent differs from a projection refitted on the text of the recorded fit window",
            )
        )
    return pl.concat(out, how="vertical")
