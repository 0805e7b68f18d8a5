"""Sources' time semantics: text knowable from creation, engagement only from observation."""

from datetime import timedelta

import polars as pl
import pytest

from quant_assets.bundles.export import write_bundle
from quant_assets.bundles.importer import verify_and_unpack
from quant_assets.lake.store import parquet_bytes
from quant_assets.partitions import DaySymbol
from quant_assets.resources.social_data import BundleSocialText, FileDropSocialText
from quant_assets.social.items import posts_to_items
from quant_assets.social.text import SOCIAL_TEXT_ASSET, split_partitions
from quant_assets_tests.social.reddit_fixture import DAY1, DAY2, NOW, REDDIT_FIXTURES, SYMBOLS, at, parts_for, social_rows


def source(folder=REDDIT_FIXTURES) -> FileDropSocialText:
    return FileDropSocialText(folder=str(folder))


def test_file_drop_keeps_only_text_created_by_now_and_hides_unobserved_engagement():
    now = at(2025, 10, 10, 12)
    frame, _ = source().fetch(parts_for([DAY2]), now)
    assert frame.height > 0
    assert frame["created_at"].max() <= now
    # Everything was scraped on 2025-10-29 or later: at noon on 10-10 no engagement was known.
    assert frame["observed_at"].null_count() == frame.height
    assert frame["score"].null_count() == frame.height
    later, _ = source().fetch(parts_for([DAY2]), NOW)
    assert later.filter(pl.col("created_at") > now).height > 0
    assert later["score"].null_count() == 0 and later["observed_at"].min() >= at(2025, 10, 29)


def test_comments_bring_their_older_posts_for_linking_but_not_into_partitions():
    frame, _ = source().fetch(parts_for([DAY2]), NOW)
    comment_posts = set(frame.filter(pl.col("kind") == "comment")["post_id"])
    older = frame.filter((pl.col("kind") == "post") & (pl.col("created_at") < at(2025, 10, 10)))
    assert older.height > 0 and set(older["post_id"]) <= comment_posts
    rows = social_rows(frame)
    for part, texts in split_partitions(rows, parts_for([DAY2])):
        assert texts["created_at"].dt.date().unique().to_list() in ([DAY2], [])
        comments = texts.filter(pl.col("kind") == "comment")
        assert comments["post_created_at"].null_count() == 0, part


def test_deleted_and_removed_comments_are_kept_with_their_text_unavailable():
    # They existed when written; the scrape, weeks later, saw them gone.
    frame, meta = source().fetch(parts_for([DAY1, DAY2]), NOW)
    raw = pl.read_parquet(REDDIT_FIXTURES / "reddit_crypto_comments.parquet")
    gone = raw.filter(pl.col("body").is_in(["[deleted]", "[removed]"]))
    assert gone.height == 22
    kept = frame.filter(pl.col("item_id").is_in(gone["comment_id"].implode()))
    assert kept.height == 22 and kept["text"].null_count() == 22
    assert kept.sort("item_id")["created_at"].to_list() == gone.sort("comment_id")["created_utc"].to_list()
    assert frame.filter(~pl.col("item_id").is_in(gone["comment_id"].implode()))["text"].null_count() == 0
    assert meta[DaySymbol(DAY1, "BTC-USDT")]["source_text_unavailable"] == 22


def test_jsonl_drop_with_epoch_and_iso_times_reads_like_parquet(tmp_path):
    posts = pl.read_parquet(REDDIT_FIXTURES / "reddit_crypto_posts.parquet")
    comments = pl.read_parquet(REDDIT_FIXTURES / "reddit_crypto_comments.parquet")
    posts.with_columns(
        created_utc=pl.col("created_utc").dt.epoch("s"),  # Reddit API style
        scraped_at=pl.col("scraped_at").dt.strftime("%Y-%m-%dT%H:%M:%S%z"),
    ).write_ndjson(tmp_path / "reddit_posts.jsonl")
    comments.with_columns(
        created_utc=pl.col("created_utc").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        scraped_at=pl.col("scraped_at").dt.epoch("s"),
    ).write_ndjson(tmp_path / "reddit_comments.jsonl")
    parts = parts_for([DAY1, DAY2])
    from_jsonl, _ = source(tmp_path).fetch(parts, NOW)
    from_parquet, _ = source().fetch(parts, NOW)
    key = ["kind", "item_id"]
    assert from_jsonl.sort(key).equals(from_parquet.sort(key))


def test_engagement_without_an_observation_time_is_refused():
    posts = pl.read_parquet(REDDIT_FIXTURES / "reddit_crypto_posts.parquet").drop("scraped_at")
    with pytest.raises(ValueError, match="observation time"):
        posts_to_items(posts)


def test_a_post_scraped_twice_keeps_its_earliest_observation(tmp_path):
    posts = pl.read_parquet(REDDIT_FIXTURES / "reddit_crypto_posts.parquet")
    again = posts.head(5).with_columns(scraped_at=pl.col("scraped_at") + timedelta(days=3), score=pl.col("score") * 10)
    posts.write_parquet(tmp_path / "a_posts.parquet")
    again.write_parquet(tmp_path / "b_posts.parquet")
    items, info = source(tmp_path).read_items()
    assert info["repeat_observations_dropped"] == 5
    assert items["item_id"].is_unique().all()
    first = items.filter(pl.col("item_id").is_in(posts.head(5)["post_id"].implode())).sort("item_id")
    expected = posts.head(5).sort("post_id")
    assert first["observed_at"].to_list() == expected["scraped_at"].to_list()
    assert first["score"].to_list() == expected["score"].to_list()


def test_bundle_source_serves_unpacked_social_text_as_exported(tmp_path):
    frame, _ = source().fetch(parts_for([DAY1]), NOW)
    parts = parts_for([DAY1])
    stored = dict(split_partitions(social_rows(frame), parts))
    bundle = tmp_path / "social.tar.gz"
    write_bundle(bundle, [(SOCIAL_TEXT_ASSET, part, parquet_bytes(texts)) for part, texts in stored.items()])
    verify_and_unpack(bundle, tmp_path / "bundles")
    served, meta = BundleSocialText(bundles_root=str(tmp_path / "bundles")).fetch(parts, NOW)
    assert BundleSocialText.linked
    for part in parts:
        got = served.filter(pl.col("symbol") == part.symbol).drop("symbol")
        assert got.equals(stored[part]), part
        assert meta[part]["source"] == "bundle"
    # On an earlier clock the same bundle shows less: text and engagement as of then.
    early, _ = BundleSocialText(bundles_root=str(tmp_path / "bundles")).fetch(parts, at(2025, 10, 9, 12))
    assert early["created_at"].max() <= at(2025, 10, 9, 12) and early["score"].null_count() == early.height
    assert set(served["symbol"]) == set(SYMBOLS)
