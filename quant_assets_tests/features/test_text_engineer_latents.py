"""Latents built by the text engineer's own code (quant_assets.text: PCA projection fitted
before the day, per-bucket pooling, engagement only once observed) flow through the feature
matrix and its checks. Embeddings are deterministic stand-ins (the sentence model is too
slow for this suite); everything after them is the real text_latents code."""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import polars as pl
import pytest

latents_mod = pytest.importorskip("quant_assets.text.latents")
projection_mod = pytest.importorskip("quant_assets.text.projection")

from quant_assets.features import contract  # noqa: E402
from quant_assets.features.audit import audit_frames  # noqa: E402
from quant_assets.features.compute import features_for_partitions  # noqa: E402
from quant_assets.features.inputs import Inputs, all_mapped_days  # noqa: E402
from quant_assets.partitions import DaySymbol  # noqa: E402
from quant_assets.social.text import collection_lag  # noqa: E402
from quant_assets.timegrid import TS_DTYPE  # noqa: E402
from quant_assets_tests.features import realdata  # noqa: E402

SYMBOL = "BTC-USDT"
DAYS = [date(2025, 10, 6), date(2025, 10, 7)]


def _texts() -> pl.DataFrame:
    """The fixture's BTC-linked posts and comments as social_text-like rows."""
    posts, comments = realdata._read("reddit_posts.parquet"), realdata._read("reddit_comments.parquet")
    linked = posts.filter(realdata._linked(posts, "BTC"))
    market = posts.filter(~realdata._linked(posts, "BTC"))
    post = {"item_id": "post_id", "kind": pl.lit("post"), "created_at": "created_utc", "observed_at": "scraped_at",
            "score": "score", "num_comments": "num_comments"}  # fmt: skip
    rows = [
        linked.select(**post, scope=pl.lit("symbol")),
        market.select(**post, scope=pl.lit("market")),
        comments.filter(pl.col("post_id").is_in(linked["post_id"].implode())).select(
            item_id="comment_id", kind=pl.lit("comment"), created_at="created_utc", observed_at="scraped_at", score="score",
            num_comments=pl.lit(None, pl.Int64), scope=pl.lit("symbol"),
        ),
    ]  # fmt: skip
    texts = pl.concat(rows).with_columns(pl.col("created_at", "observed_at").cast(TS_DTYPE))
    return texts.with_columns(available_at=pl.col("created_at") + collection_lag())  # social_text's rule (social.text)


def _embeddings(texts: pl.DataFrame) -> pl.DataFrame:
    vectors = []
    for item in texts["item_id"].to_list():
        v = np.resize(realdata._embedding(item), 384)
        vectors.append((v / np.linalg.norm(v)).astype(np.float32).tolist())
    return pl.DataFrame({"item_id": texts["item_id"], "embedding": vectors}, schema={"item_id": pl.String, "embedding": pl.Array(pl.Float32, 384)})


def test_feature_matrix_on_text_engineer_latents():
    texts = _texts()
    embeddings = _embeddings(texts)
    spec = latents_mod.LatentSpec(post_dims=contract.LATENT_DIM, comment_dims=contract.LATENT_DIM, lookback_days=7, min_fit_texts=16)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    frames = []
    for day in DAYS:
        part = DaySymbol(day, SYMBOL)
        fit_start, fit_end = spec.fit_window(day)
        projections = {}
        for tower in latents_mod.TOWERS:
            window = texts.filter(pl.col("kind") == tower, pl.col("created_at") >= fit_start, pl.col("created_at") < fit_end)
            matrix = window.join(embeddings, on="item_id", how="left")["embedding"].to_numpy().astype(np.float64)
            projections[tower] = projection_mod.fit_projection(
                matrix, window["created_at"], fit_start, fit_end, day, spec.dims(tower), tower=tower, min_texts=spec.min_fit_texts
            )
        day_texts = texts.filter(pl.col("created_at") >= part.start, pl.col("created_at") < part.end)
        rows = latents_mod.bucket_latents(day_texts, embeddings, projections, part, spec, (fit_start, fit_end), now)
        assert rows.height == 288
        frames.append(rows.with_columns(symbol=pl.lit(SYMBOL)))
    latents = pl.concat(frames)

    part = DaySymbol(DAYS[1], SYMBOL)
    inputs = Inputs(realdata.bars([SYMBOL]), realdata.derivatives([SYMBOL]), latents)
    upstream = {part: all_mapped_days(part.day)}
    out = features_for_partitions(inputs, [part], upstream)
    assert out.height == 288
    assert out["text_post_count_24h"].null_count() == 0
    assert out["text_comment_z_00"].null_count() < 288  # real pooled latents reach the matrix
    assert (out["text_projection_fit_end"].drop_nulls() <= part.start).all()
    reports = audit_frames({part: out.drop("partition")}, inputs, upstream, sample=20)
    assert reports[part].ok, [v.line() for v in reports[part].violations[:5]]
