"""text_latents per 5m bucket: engagement only once observed, empty buckets explicit."""

from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from quant_assets.partitions import DaySymbol
from quant_assets.social.text import SOCIAL_TEXT_SCHEMA
from quant_assets.text.latents import (
    LatentSpec,
    bucket_latents,
    latent_columns,
    latent_schema,
    missing_problems,
    projection_problems,
)
from quant_assets.text.projection import fit_projection
from quant_assets_tests.social.reddit_fixture import DAY2, NOW, fixture_items, social_rows

PART = DaySymbol(date(2025, 10, 10), "BTC-USDT")
SPEC = LatentSpec(post_dims=4, comment_dims=3, lookback_days=30, min_fit_texts=20)
WINDOW = (PART.start - timedelta(days=30), PART.start)


def t(hour, minute, second=0):
    return datetime(2025, 10, 10, hour, minute, second, tzinfo=timezone.utc)


def rows(specs):
    """(item_id, kind, created_at, score, num_comments, observed_at) -> social_text rows,
    collected the instant they were written (lag 0: each test below is about one other thing)."""
    frame = pl.DataFrame(
        [
            {
                "item_id": i,
                "kind": k,
                "post_id": i if k == "post" else "p0",
                "subreddit": "bitcoin",
                "created_at": c,
                "available_at": c,
                "collection_lag_s": 0,
                "text": f"text {i}",
                "author": "u_x",
                "score": s,
                "num_comments": n,
                "upvote_ratio": 0.9 if k == "post" else None,
                "observed_at": o,
                "first_seen_at": None,
                "post_created_at": c,
                "scope": "symbol",
                "link_rule": "subreddit:r/bitcoin",
                "source": "test",
            }
            for i, k, c, s, n, o in specs
        ]
    )
    return frame.with_columns([pl.col(n).cast(t) for n, t in SOCIAL_TEXT_SCHEMA.items()]).select(list(SOCIAL_TEXT_SCHEMA))


def vectors_for(frame, seed=1):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(frame.height, 384)).astype(np.float32)
    return frame.select("item_id").with_columns(embedding=pl.Series(v, dtype=pl.Array(pl.Float32, 384)))


def projections(seed=2):
    rng = np.random.default_rng(seed)
    out = {}
    for tower, dims in (("post", SPEC.post_dims), ("comment", SPEC.comment_dims)):
        v = rng.normal(size=(50, 384))
        created = pl.Series([WINDOW[0] + timedelta(hours=i) for i in range(50)], dtype=pl.Datetime("us", "UTC"))
        out[tower] = fit_projection(v, created, *WINDOW, PART.day, dims, tower=tower, min_texts=SPEC.min_fit_texts)
    return out


def by_ts(frame, moment):
    return frame.filter(pl.col("ts") == moment).row(0, named=True)


def test_engagement_is_invisible_before_it_was_observed():
    texts = rows(
        [
            ("a", "post", t(10, 2), 100, 7, t(10, 7)),  # bucket 10:00 ends 10:05: scraped later
            ("b", "post", t(11, 1), 40, 3, t(11, 3)),  # bucket 11:00 ends 11:05: scraped inside
            ("c", "post", t(12, 0), 60, 9, t(12, 5)),  # observed exactly at the bucket's end
            ("d", "post", t(12, 4), 10, 1, t(13, 0)),  # same bucket, observed later: not averaged in
        ]
    )
    out = bucket_latents(texts, vectors_for(texts), projections(), PART, SPEC, WINDOW, NOW)
    hidden = by_ts(out, t(10, 0))
    assert hidden["post_count"] == 1 and texts.filter(pl.col("item_id") == "a")["score"][0] == 100
    assert hidden["post_score_observed_mean"] is None and hidden["post_num_comments_observed_mean"] is None
    seen = by_ts(out, t(11, 0))
    assert seen["post_score_observed_mean"] == 40.0 and seen["post_num_comments_observed_mean"] == 3.0
    edge = by_ts(out, t(12, 0))
    assert edge["post_count"] == 2 and edge["post_score_observed_mean"] == 60.0


def test_a_text_counts_in_the_bucket_it_could_be_collected_in_not_the_one_it_was_written_in():
    written = rows([("a", "post", t(10, 3), 1, 0, NOW), ("b", "post", t(10, 4), 1, 0, NOW)])
    texts = written.with_columns(collection_lag_s=pl.lit(600, pl.Int64), available_at=pl.col("created_at") + timedelta(minutes=10))
    out = bucket_latents(texts, vectors_for(texts), projections(), PART, SPEC, WINDOW, NOW)
    assert by_ts(out, t(10, 0))["post_count"] == 0, "written at 10:03, nobody could have read it by 10:05"
    assert by_ts(out, t(10, 10))["post_count"] == 2


def test_real_reddit_engagement_scraped_weeks_later_is_never_in_a_bucket():
    items = fixture_items()
    texts = social_rows(items).filter((pl.col("symbol") == "BTC-USDT") & (pl.col("created_at").dt.date() == DAY2)).drop("symbol")
    assert texts["score"].null_count() == 0  # the scores are there...
    out = bucket_latents(texts, vectors_for(texts), projections(), PART, SPEC, WINDOW, NOW)
    # Every text knowable within the day, i.e. written before 23:50 (the 10-minute collection lag).
    in_day = texts.filter(pl.col("available_at") < PART.end)
    assert in_day.height < texts.height and (texts["available_at"] == texts["created_at"] + timedelta(minutes=10)).all()
    assert out["post_count"].sum() == in_day.filter(pl.col("kind") == "post").height
    assert out["comment_count"].sum() == in_day.filter(pl.col("kind") == "comment").height
    # ...but were observed on 2025-10-29 or later, after every bucket of 2025-10-10 ended.
    assert out["post_score_observed_mean"].null_count() == out.height
    assert out["post_num_comments_observed_mean"].null_count() == out.height


def test_empty_buckets_are_explicit_not_zero_vectors():
    texts = rows([("a", "post", t(9, 1), 5, 1, t(9, 2)), ("x", "comment", t(9, 3), 1, None, t(9, 4))])
    out = bucket_latents(texts, vectors_for(texts), projections(), PART, SPEC, WINDOW, NOW)
    assert out.height == 288 and out.columns == list(latent_schema(SPEC))
    assert out["ts"].to_list() == [PART.start + timedelta(minutes=5 * i) for i in range(288)]
    assert (out["available_at"] - out["ts"]).unique().to_list() == [timedelta(minutes=5)]
    empty = out.filter(pl.col("ts") != t(9, 0))
    assert (empty["post_count"] == 0).all() and (empty["comment_count"] == 0).all()
    assert empty["post_latent_missing"].all() and empty["comment_latent_missing"].all()
    assert empty["comment_post_ratio"].null_count() == empty.height
    for c in latent_columns("post", 4) + latent_columns("comment", 3):
        assert empty[c].null_count() == empty.height, c  # null, never 0.0
    busy = by_ts(out, t(9, 0))
    assert busy["post_count"] == 1 and busy["comment_count"] == 1 and busy["comment_post_ratio"] == 1.0
    assert not busy["post_latent_missing"] and not busy["comment_latent_missing"]
    assert missing_problems(out.with_columns(symbol=pl.lit("BTC-USDT")), SPEC).is_empty()


def test_pooling_is_the_mean_of_projected_embeddings_per_tower():
    texts = rows([("a", "post", t(9, 1), 5, 1, NOW), ("b", "post", t(9, 4), 5, 1, NOW), ("x", "comment", t(9, 2), 1, None, NOW)])
    vectors = vectors_for(texts)
    proj = projections()
    out = by_ts(bucket_latents(texts, vectors, proj, PART, SPEC, WINDOW, NOW), t(9, 0))
    matrix = vectors["embedding"].to_numpy()
    expected_post = proj["post"].apply(matrix[:2], PART.day).mean(axis=0)
    got_post = np.array([out[c] for c in latent_columns("post", 4)])
    np.testing.assert_allclose(got_post, expected_post, rtol=1e-5, atol=1e-6)
    expected_comment = proj["comment"].apply(matrix[2:], PART.day)[0]
    np.testing.assert_allclose([out[c] for c in latent_columns("comment", 3)], expected_comment, rtol=1e-5, atol=1e-6)
    assert out["projection_id"].startswith("pca-4+3-")
    assert (out["projection_fit_start"], out["projection_fit_end"]) == WINDOW


def test_without_a_projection_the_tower_is_missing_but_counts_stay():
    texts = rows([("a", "post", t(9, 1), 5, 1, NOW), ("x", "comment", t(9, 2), 1, None, NOW)])
    out = bucket_latents(texts, vectors_for(texts), {"post": None, "comment": projections()["comment"]}, PART, SPEC, WINDOW, NOW)
    busy = by_ts(out, t(9, 0))
    assert busy["post_count"] == 1 and busy["post_latent_missing"] and busy["post_z_00"] is None
    assert not busy["comment_latent_missing"] and busy["comment_z_00"] is not None
    none = bucket_latents(texts, vectors_for(texts), {"post": None, "comment": None}, PART, SPEC, WINDOW, NOW)
    assert none["projection_id"].null_count() == 288 and none["post_latent_missing"].all()
    assert (none["projection_fit_end"] <= PART.start).all()


def test_a_projection_fitted_on_the_day_cannot_pool_it():
    texts = rows([("a", "post", t(9, 1), 5, 1, NOW)])
    rng = np.random.default_rng(0)
    created = pl.Series([PART.start + timedelta(minutes=20 * i) for i in range(50)], dtype=pl.Datetime("us", "UTC"))
    tomorrow = fit_projection(rng.normal(size=(50, 384)), created, PART.start, PART.end, PART.day + timedelta(days=1), 4, min_texts=20)
    with pytest.raises(ValueError, match="after the day's start"):
        bucket_latents(texts, vectors_for(texts), {"post": tomorrow, "comment": None}, PART, SPEC, WINDOW, NOW)


def test_todays_partition_has_only_the_buckets_that_ended():
    texts = rows([("a", "post", t(9, 1), 5, 1, NOW)])
    out = bucket_latents(texts, vectors_for(texts), projections(), PART, SPEC, WINDOW, t(9, 7))
    assert out["ts"].max() == t(9, 0) and out.height == 9 * 12 + 1


def test_the_checks_rules_catch_a_zero_vector_and_a_late_fit_window():
    texts = rows([("a", "post", t(9, 1), 5, 1, NOW)])
    out = bucket_latents(texts, vectors_for(texts), projections(), PART, SPEC, WINDOW, NOW).with_columns(
        symbol=pl.lit("BTC-USDT"), partition_day=pl.lit(PART.day)
    )
    assert missing_problems(out, SPEC).is_empty() and projection_problems(out).is_empty()
    zeroed = out.with_columns(post_latent_missing=pl.lit(False), **{c: pl.lit(0.0, dtype=pl.Float32) for c in latent_columns("post", 4)})
    problems = missing_problems(zeroed, SPEC)
    assert "post latent present in an empty bucket" in problems["problem"].to_list()
    late = out.with_columns(projection_fit_end=pl.col("projection_fit_end") + timedelta(hours=1))
    assert projection_problems(late)["problem"].unique().to_list() == ["projection fitted on text from the partition's day or later"]
