"""text_latents partitions: per 5m bucket of one UTC day of one symbol, pooled text towers
and robust statistics, each row knowable at its bucket's end.

A bucket ``[ts, ts + 5m)`` holds the texts created in it; its row is available at
``ts + 5m``. Posts and comments are separate towers: their embeddings are projected by a
projection fitted only on text before the day (see ``projection.py``), then mean-pooled.
Engagement enters only where it was observed by the bucket's end (``observed_at <= ts + 5m``);
a score scraped days later is invisible here, whatever its value.

Counts are of every social_text row, text deleted or removed later included (it existed);
only texts with an embedding are pooled, so a bucket whose texts are all gone has counts and
a missing latent.

An empty bucket is explicit: counts are 0 and the latents are null with
``*_latent_missing = true``; a zero vector is never passed off as text. When there is no
projection (too little history before the day), the tower is missing in every bucket.

The latent sizes, the fit lookback and the minimum fit size are platform settings (like the
universe), because the sizes are part of the schema and the lookback is the partition
mapping that Dagster tracks:
``QUANT_ASSETS_TEXT_LATENT_DIMS`` (``post,comment``, default ``32,32``),
``QUANT_ASSETS_TEXT_FIT_LOOKBACK_DAYS`` (default 30) and ``QUANT_ASSETS_TEXT_MIN_FIT_TEXTS``
(default 64).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from quant_assets import settings
from quant_assets.partitions import DaySymbol
from quant_assets.social.items import COMMENT, POST
from quant_assets.social.linking import SCOPE_MARKET
from quant_assets.text.projection import InsufficientHistory, Projection, day_start, fit_projection
from quant_assets.timegrid import BAR, BARS_PER_DAY, TS_DTYPE

TEXT_LATENTS_ASSET = "text_latents"
TOWERS = (POST, COMMENT)


@dataclass(frozen=True)
class LatentSpec:
    post_dims: int = 32
    comment_dims: int = 32
    lookback_days: int = 30
    min_fit_texts: int = 64

    def dims(self, tower: str) -> int:
        return self.post_dims if tower == POST else self.comment_dims

    def fit_window(self, day) -> tuple[datetime, datetime]:
        """``[day - lookback, day)``: strictly before the partition's day."""
        end = day_start(day)
        return end - timedelta(days=self.lookback_days), end


def latent_spec() -> LatentSpec:
    text = settings.current().text
    post, comment = text.latent_dims
    return LatentSpec(post_dims=post, comment_dims=comment, lookback_days=text.fit_lookback_days, min_fit_texts=text.min_fit_texts)


def latent_columns(tower: str, dims: int) -> list[str]:
    return [f"{tower}_z_{i:02d}" for i in range(dims)]


def latent_schema(spec: LatentSpec) -> dict[str, pl.DataType]:
    return {
        "ts": TS_DTYPE,
        "available_at": TS_DTYPE,
        "post_count": pl.Int64(),
        "comment_count": pl.Int64(),
        "market_post_count": pl.Int64(),
        "comment_post_ratio": pl.Float64(),
        "post_score_observed_mean": pl.Float64(),
        "post_num_comments_observed_mean": pl.Float64(),
        "post_latent_missing": pl.Boolean(),
        "comment_latent_missing": pl.Boolean(),
        **{c: pl.Float32() for c in latent_columns(POST, spec.post_dims)},
        **{c: pl.Float32() for c in latent_columns(COMMENT, spec.comment_dims)},
        "projection_id": pl.String(),
        "projection_fit_start": TS_DTYPE,
        "projection_fit_end": TS_DTYPE,
    }


TEXT_LATENTS_SCHEMA = latent_schema(latent_spec())


def bucket_grid(part: DaySymbol, now: datetime) -> pl.DataFrame:
    """The day's 5m buckets whose end has passed by ``now`` (all 288 for a past day)."""
    ts = [part.start + i * BAR for i in range(BARS_PER_DAY)]
    grid = pl.DataFrame({"ts": pl.Series(ts, dtype=TS_DTYPE)}).with_columns(available_at=pl.col("ts") + BAR)
    return grid.filter(pl.col("available_at") <= now)


def combined_projection_id(projections: dict[str, Projection | None]) -> str | None:
    ids = [p.projection_id if p is not None else "none" for p in (projections.get(t) for t in TOWERS)]
    if all(i == "none" for i in ids):
        return None
    dims = "+".join(str(p.dims) if p is not None else "0" for p in (projections.get(t) for t in TOWERS))
    return f"pca-{dims}-" + hashlib.sha256("|".join(ids).encode()).hexdigest()[:16]


def _pool(
    texts: pl.DataFrame, embeddings: pl.DataFrame, tower: str, projection: Projection | None, part: DaySymbol, n_buckets: int, dims: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of projected embeddings per bucket (n_buckets x dims, NaN where none) and counts."""
    pooled = np.full((n_buckets, dims), np.nan, dtype=np.float32)
    counts = np.zeros(n_buckets, dtype=np.int64)
    if projection is None:
        return pooled, counts
    rows = texts.filter(pl.col("kind") == tower).join(embeddings.select("item_id", "embedding"), on="item_id", how="inner")
    rows = rows.filter(pl.col("embedding").is_not_null())
    if rows.is_empty():
        return pooled, counts
    # The bucket a text is knowable in (``bucketed``): by when it could be collected, not written.
    index = ((rows["available_at"] - part.start).dt.total_microseconds() // int(BAR.total_seconds() * 1_000_000)).to_numpy()
    keep = (index >= 0) & (index < n_buckets)
    matrix = np.asarray(rows["embedding"].to_numpy(), dtype=np.float32).reshape(rows.height, -1)[keep]
    index = index[keep].astype(np.int64)
    projected = projection.apply(matrix, part.day).astype(np.float64)
    sums = np.zeros((n_buckets, dims), dtype=np.float64)
    np.add.at(sums, index, projected)
    counts = np.bincount(index, minlength=n_buckets)[:n_buckets]
    has = counts > 0
    pooled[has] = (sums[has] / counts[has, None]).astype(np.float32)
    return pooled, counts


def bucketed_texts(texts: pl.DataFrame) -> pl.DataFrame:
    """social_text rows with ``ts``, the 5m bucket each is knowable in: that of its
    ``available_at`` (created_at + the collection lag at the earliest), not its ``created_at``.
    A text written late on D and collectable only after midnight falls in no bucket of D."""
    return texts.with_columns(ts=pl.col("available_at").dt.truncate("5m"))


def observed_engagement(bucketed: pl.DataFrame) -> pl.DataFrame:
    """Per bucket ``ts``, the mean engagement of its posts observed by the bucket's end."""
    seen = pl.col("observed_at").is_not_null() & (pl.col("observed_at") <= pl.col("ts") + BAR)
    return (
        bucketed.filter((pl.col("kind") == POST) & seen)
        .group_by("ts")
        .agg(
            post_score_observed_mean=pl.col("score").cast(pl.Float64).mean(),
            post_num_comments_observed_mean=pl.col("num_comments").cast(pl.Float64).mean(),
        )
    )


def created_in(frame: pl.DataFrame, symbol: str, start: datetime, end: datetime) -> pl.DataFrame:
    """The symbol's rows created in ``[start, end)``."""
    if frame.is_empty():
        return frame
    return rows_where(frame, (pl.col("symbol") == symbol) & (pl.col("created_at") >= start) & (pl.col("created_at") < end))


def rows_where(frame: pl.DataFrame, predicate: pl.Expr) -> pl.DataFrame:
    """``frame.filter(predicate)``, as a zero-copy slice when the rows it keeps are one
    contiguous run: embeddings are read day by day, so a window of days usually is, and a
    filter would copy every 384-float vector of it for each partition (same rows, same order)."""
    keep = frame.select(predicate.fill_null(False)).to_series().to_numpy()
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        return frame.clear()
    first, last = int(rows[0]), int(rows[-1])
    if last - first + 1 == rows.size:
        return frame.slice(first, rows.size)
    return frame.filter(pl.Series(keep))


def fit_towers(
    history: pl.DataFrame, day_vectors: pl.DataFrame, part: DaySymbol, window: tuple[datetime, datetime], spec: LatentSpec
) -> tuple[dict[str, Projection | None], dict]:
    """Per tower, the projection for ``part``'s day, fitted on ``history`` (text_embeddings rows
    created in ``window``), or None when there is too little history; plus metadata.

    Only vectors of the day's model version count (the most common one in the history when
    the day has no text), so a projection never maps vectors of another model.
    """
    fit_start, fit_end = window
    versions = day_vectors["model_version"].unique().to_list() if not day_vectors.is_empty() else []
    if not versions and not history.is_empty():
        versions = [history["model_version"].mode().sort()[0]]
    projections, meta, notes = {}, {}, []
    for tower in TOWERS:
        rows = rows_where(history, (pl.col("kind") == tower) & pl.col("model_version").is_in(versions)) if not history.is_empty() else history
        try:
            if rows.is_empty():
                raise InsufficientHistory(f"no {tower} texts in [{fit_start.date()}, {fit_end.date()})")
            projection = fit_projection(
                rows["embedding"].to_numpy().reshape(rows.height, -1),
                rows["created_at"],
                fit_start,
                fit_end,
                part.day,
                spec.dims(tower),
                tower=tower,
                model_version=versions[0],
                min_texts=spec.min_fit_texts,
            )
            meta[f"{tower}_projection_id"] = projection.projection_id
            meta[f"{tower}_explained_variance"] = round(float(projection.explained_variance_ratio.sum()), 4)
        except InsufficientHistory as why:
            projection = None
            notes.append(f"{tower} tower missing: {why}")
            meta[f"{tower}_projection_id"] = "none"
        meta[f"{tower}_fit_texts"] = rows.height
        projections[tower] = projection
    meta["note"] = "; ".join(notes) if notes else "both towers projected"
    return projections, meta


def bucket_latents(
    texts: pl.DataFrame,
    embeddings: pl.DataFrame,
    projections: dict[str, Projection | None],
    part: DaySymbol,
    spec: LatentSpec,
    fit_window: tuple[datetime, datetime],
    now: datetime,
) -> pl.DataFrame:
    """One partition's rows in the text_latents schema.

    ``texts``: the partition's social_text rows; ``embeddings``: its text_embeddings rows;
    ``projections``: per tower, a projection fitted before the day, or None (tower missing).
    """
    for tower, projection in projections.items():
        if projection is not None and projection.fit_end > part.start:
            # Projection.apply refuses too; this names the partition.
            raise ValueError(f"{part}: {tower} projection fitted up to {projection.fit_end}, after the day's start")
    grid = bucket_grid(part, now)
    n = grid.height
    bucketed = bucketed_texts(texts)
    counts = bucketed.group_by("ts").agg(
        post_count=(pl.col("kind") == POST).sum().cast(pl.Int64),
        comment_count=(pl.col("kind") == COMMENT).sum().cast(pl.Int64),
        market_post_count=((pl.col("kind") == POST) & (pl.col("scope") == SCOPE_MARKET)).sum().cast(pl.Int64),
    )
    engagement = observed_engagement(bucketed)
    out = (
        grid.join(counts, on="ts", how="left", maintain_order="left")
        .join(engagement, on="ts", how="left", maintain_order="left")
        .with_columns(pl.col("post_count", "comment_count", "market_post_count").fill_null(0))
        .with_columns(comment_post_ratio=pl.when(pl.col("post_count") > 0).then(pl.col("comment_count") / pl.col("post_count")).otherwise(None))
    )
    latent_frames = []
    for tower in TOWERS:
        dims = spec.dims(tower)
        pooled, pooled_counts = _pool(texts, embeddings, tower, projections.get(tower), part, BARS_PER_DAY, dims)
        pooled, pooled_counts = pooled[:n], pooled_counts[:n]
        missing = pooled_counts == 0
        names = latent_columns(tower, dims)
        empty = np.flatnonzero(missing)  # an empty bucket's latent is null, never a number
        frame = pl.DataFrame([pl.Series(name, pooled[:, i], dtype=pl.Float32).scatter(empty, None) for i, name in enumerate(names)])
        latent_frames.append(frame.with_columns(pl.Series(f"{tower}_latent_missing", missing, dtype=pl.Boolean)))
    fit_start, fit_end = fit_window
    out = pl.concat([out, *latent_frames], how="horizontal").with_columns(
        projection_id=pl.lit(combined_projection_id(projections), dtype=pl.String),
        projection_fit_start=pl.lit(fit_start, dtype=TS_DTYPE),
        projection_fit_end=pl.lit(fit_end, dtype=TS_DTYPE),
    )
    schema = latent_schema(spec)
    return out.select([pl.col(c).cast(t) for c, t in schema.items()])


# ---- quality rules ----------------------------------------------------------------------

_OFFENDING = {"symbol": pl.String, "ts": TS_DTYPE, "problem": pl.String}


def offending_buckets(frame: pl.DataFrame, mask: pl.Expr, problem: str) -> pl.DataFrame:
    """``symbol, ts, problem`` for the rows of ``frame`` where ``mask`` holds."""
    if frame.is_empty():
        return pl.DataFrame(schema=_OFFENDING)
    return frame.filter(mask).select("symbol", "ts", problem=pl.lit(problem)).cast(_OFFENDING)


def grid_problems(frame: pl.DataFrame, parts: list[DaySymbol], now: datetime, slack: timedelta = timedelta(0)) -> pl.DataFrame:
    """Every bucket of the day that has ended, once, on the grid, ``available_at = ts + 5m``.

    A bucket is expected when it ended by ``now - slack`` (all 288 for a past day): the slack
    covers buckets that ended between the asset's clock and the checker's.
    """
    expected_by = now - slack
    frames = [bucket_grid(p, expected_by).select("ts").with_columns(symbol=pl.lit(p.symbol), partition_day=pl.lit(p.day)) for p in parts]
    expected = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema={"ts": TS_DTYPE, "symbol": pl.String, "partition_day": pl.Date})
    keys = ["symbol", "partition_day", "ts"]
    present = frame.select(keys) if not frame.is_empty() else expected.clear()
    missing = expected.join(present, on=keys, how="anti").select("symbol", "ts", problem=pl.lit("bucket missing")).cast(_OFFENDING)
    return pl.concat(
        [
            missing,
            offending_buckets(frame, pl.struct(keys).is_duplicated(), "bucket twice"),
            offending_buckets(frame, pl.col("ts").dt.truncate("5m") != pl.col("ts"), "ts not on the 5m grid"),
            offending_buckets(frame, pl.col("ts").dt.date() != pl.col("partition_day"), "ts outside the partition's day"),
            offending_buckets(frame, pl.col("available_at") != pl.col("ts") + BAR, "available_at != ts + 5m"),
            offending_buckets(frame, pl.col("available_at") > now, "bucket not ended yet"),
        ],
        how="vertical",
    )


def projection_problems(frame: pl.DataFrame) -> pl.DataFrame:
    """The projection's fit window must end by the partition day's start."""
    day_start = pl.col("partition_day").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return pl.concat(
        [
            offending_buckets(frame, pl.col("projection_fit_end").is_null() | pl.col("projection_fit_start").is_null(), "no fit window recorded"),
            offending_buckets(frame, pl.col("projection_fit_end") > day_start, "projection fitted on text from the partition's day or later"),
            offending_buckets(frame, pl.col("projection_fit_start") >= pl.col("projection_fit_end"), "empty fit window"),
            offending_buckets(
                frame,
                pl.col("projection_id").is_null() & ~(pl.col("post_latent_missing") & pl.col("comment_latent_missing")),
                "latents without a projection id",
            ),
        ],
        how="vertical",
    )


def missing_problems(frame: pl.DataFrame, spec: LatentSpec) -> pl.DataFrame:
    """Empty and missing are explicit: a flagged tower is all null, an unflagged one all set."""
    out = []
    for tower in TOWERS:
        names = latent_columns(tower, spec.dims(tower))
        flag, count = pl.col(f"{tower}_latent_missing"), pl.col(f"{tower}_count")
        any_null = pl.any_horizontal(pl.col(c).is_null() | pl.col(c).is_nan() for c in names)
        any_set = pl.any_horizontal(pl.col(c).is_not_null() for c in names)
        out += [
            offending_buckets(frame, flag.is_null(), f"{tower}_latent_missing is null"),
            offending_buckets(frame, flag & any_set, f"{tower} latent flagged missing but has values"),
            offending_buckets(frame, ~flag & any_null, f"{tower} latent present but has null or NaN values"),
            offending_buckets(frame, (count == 0) & ~flag, f"{tower} latent present in an empty bucket"),
            offending_buckets(frame, count.is_null() | (count < 0), f"{tower}_count null or negative"),
        ]
    out.append(
        offending_buckets(
            frame,
            (pl.col("post_count") == 0) & pl.col("comment_post_ratio").is_not_null(),
            "comment_post_ratio without posts",
        )
    )
    out.append(
        offending_buckets(
            frame,
            (pl.col("market_post_count") > pl.col("post_count")),
            "more market posts than posts",
        )
    )
    return pl.concat(out, how="vertical")
