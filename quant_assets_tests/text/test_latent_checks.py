"""text_latents' own blocking checks trust no stamp the latents wrote: they recount buckets
from social_text, re-derive engagement from when it was observed, and refit the projection
on the window a partition records. Each leak is planted where it would really happen, in
the latents code, and is caught: its check fails and nothing downstream runs."""

import dataclasses
from datetime import timedelta

import polars as pl
import pytest
from dagster import AssetCheckSeverity, DagsterInstance, asset, load_asset_checks_from_modules, materialize

from quant_assets.assets import social, social_checks
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets.runs import PartitionRange
from quant_assets.text import latents, rederive
from quant_assets.text.latents import bucket_latents
from quant_assets.text.rederive import count_problems, engagement_problems
from quant_assets_tests.checkresults import checks_by_name
from quant_assets_tests.social.reddit_fixture import DAY1, DAY2, NOW, REDDIT_FIXTURES
from quant_assets_tests.text.test_latents import PART, SPEC, WINDOW, projections, rows, t, vectors_for
from quant_assets_tests.text.test_pipeline import FakeEmbeddingModel, resources

CHECKS = load_asset_checks_from_modules([social_checks])
BTC = "BTC-USDT"
RECT = PartitionRange(DaySymbol(DAY1, BTC), DaySymbol(DAY2, BTC))
NEW_CHECKS = {"text_latents_counts_match_text", "text_latents_engagement_observed", "text_latents_projection_refit"}


@asset(partitions_def=social.PARTITIONS, deps=[social.text_latents])
def latents_consumer() -> None:
    """Stands in for feature_matrix: it must never run after a failed blocking check."""


def run(tmp_path, folder=REDDIT_FIXTURES):
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [social.social_text, social.text_embeddings, social.text_latents, *CHECKS, latents_consumer],
            resources=resources(tmp_path, FakeEmbeddingModel, folder),
            instance=instance,
            tags=RECT.tags,
            raise_on_error=False,
        )
        checks = checks_by_name(result, instance)
    failed = {n for n, e in checks.items() if not e.passed and e.severity == AssetCheckSeverity.ERROR}
    return checks, failed, len(result.asset_materializations_for_node("latents_consumer"))


def stored(tmp_path, asset_name, day=DAY2, quarantined=False):
    """A partition's rows: published, or (``quarantined``) held back by its failed checks,
    which write-audit-publish keeps out of the lake."""
    store, part = ParquetLake(str(tmp_path / "lake")), DaySymbol(day, BTC)
    if not quarantined:
        return store.read(asset_name, part)
    assert not store.exists(asset_name, part) and part in store.quarantined(asset_name)
    return pl.read_parquet(store.quarantine_dir(asset_name, part) / "part-0.parquet")


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("honest")
    return tmp_path, *run(tmp_path)


def test_honest_latents_pass_the_rederiving_checks(honest):
    tmp_path, checks, failed, consumed = honest
    assert NEW_CHECKS <= set(checks)
    assert not failed, {n: checks[n].description for n in failed}
    assert consumed == 2
    # The refit had something to reproduce: day 2's comment tower, fitted on day 1.
    assert (~stored(tmp_path, "text_latents")["comment_latent_missing"]).sum() > 0
    assert refit_problems_of(tmp_path).is_empty()


def test_engagement_leaked_inside_the_latents_code_is_caught(tmp_path, monkeypatch):
    # The bug: the scrape-time score is averaged in whenever the post is in the bucket.
    def leaky(bucketed):
        return (
            bucketed.filter(pl.col("kind") == "post")
            .group_by("ts")
            .agg(
                post_score_observed_mean=pl.col("score").cast(pl.Float64).mean(),
                post_num_comments_observed_mean=pl.col("num_comments").cast(pl.Float64).mean(),
            )
        )

    monkeypatch.setattr(latents, "observed_engagement", leaky)
    checks, failed, consumed = run(tmp_path)
    assert failed == {"text_latents_engagement_observed"}, {n: checks[n].description for n in failed}
    # Every post of 2025-10-10 was scraped weeks later; the leak put its score in its bucket.
    leaked = stored(tmp_path, "text_latents", quarantined=True)["post_score_observed_mean"].is_not_null().sum()
    assert checks["text_latents_engagement_observed"].metadata["offending_rows"].value >= leaked > 0
    assert consumed == 0


def test_a_projection_fitted_on_the_days_own_text_recording_an_earlier_fit_end_is_caught(tmp_path, monkeypatch):
    honest_fit = latents.fit_towers

    def fitted_through_the_day(history, day_vectors, part, window, spec):
        # The bug: "more data" — the day's own text joins the fit (as tomorrow's projection
        # would), and the projection is stamped with the window the day is allowed.
        tomorrow = DaySymbol(part.day + timedelta(days=1), part.symbol)
        projections, meta = honest_fit(pl.concat([history, day_vectors]), day_vectors, tomorrow, (window[0], part.end), spec)
        stamped = {tower: dataclasses.replace(p, fit_end=window[1]) if p else None for tower, p in projections.items()}
        return stamped, meta

    monkeypatch.setattr(social, "fit_towers", fitted_through_the_day)
    checks, failed, consumed = run(tmp_path)
    # The stamps say "fitted before the day": the timestamp check is fooled, the refit is not.
    assert checks["text_latents_projection_before_day"].passed
    assert failed == {"text_latents_projection_refit"}, {n: checks[n].description for n in failed}
    assert (stored(tmp_path, "text_latents", quarantined=True)["projection_fit_end"] == DaySymbol(DAY2, BTC).start).all()
    assert consumed == 0
    # Day 1 had no history: a comment tower at all is the leak. Day 2 had one: its values differ.
    problems = refit_problems_of(tmp_path, quarantined=True)
    day1 = set(problems.filter(pl.col("ts").dt.date() == DAY1)["problem"])
    day2 = set(problems.filter(pl.col("ts").dt.date() == DAY2)["problem"])
    assert day1 == {"comment latent present or missing unlike a projection refitted on the recorded fit window"}
    assert "comment latent differs from a projection refitted on the text of the recorded fit window" in day2


def refit_problems_of(tmp_path, quarantined=False) -> pl.DataFrame:
    """The refit rule run directly on the stored latents (published or quarantined), partition by partition."""
    store, spec = ParquetLake(str(tmp_path / "lake")), latents.latent_spec()
    parts = [DaySymbol(DAY1, BTC), DaySymbol(DAY2, BTC)]
    rows = pl.concat(
        [stored(tmp_path, "text_latents", p.day, quarantined).with_columns(symbol=pl.lit(p.symbol), partition_day=pl.lit(p.day)) for p in parts]
    )
    texts = store.read_many("social_text", parts, with_partition_day=True)
    # Day 1's recorded window starts 30 days before it: that is where the refit reads from.
    assert rederive.refit_reads(rows, parts) == [DaySymbol(DAY1 - timedelta(days=30 - i), BTC) for i in range(32)]
    vectors = social.read_embeddings(store, rederive.refit_reads(rows, parts))
    return rederive.refit_problems(parts, rows, texts, vectors, spec)


def test_latents_that_count_only_surviving_text_are_caught(tmp_path, monkeypatch):
    # The survivorship bug, moved into the latents: deleted comments dropped before counting.
    honest_buckets = social.bucket_latents

    def surviving_only(texts, *args):
        return honest_buckets(texts.filter(pl.col("text").is_not_null()), *args)

    monkeypatch.setattr(social, "bucket_latents", surviving_only)
    checks, failed, consumed = run(tmp_path)
    assert failed == {"text_latents_counts_match_text"}, {n: checks[n].description for n in failed}
    deleted = stored(tmp_path, "social_text")["text"].null_count() + stored(tmp_path, "social_text", DAY1)["text"].null_count()
    assert deleted > 0 and checks["text_latents_counts_match_text"].metadata["offending_rows"].value > 0
    assert consumed == 0


def test_count_rule_names_a_comment_counted_a_bucket_early(honest):
    tmp_path = honest[0]
    texts = stored(tmp_path, "social_text").with_columns(symbol=pl.lit(BTC), partition_day=pl.lit(DAY2))
    rows = stored(tmp_path, "text_latents").with_columns(symbol=pl.lit(BTC), partition_day=pl.lit(DAY2))
    assert count_problems(rows, texts).is_empty()
    busy = rows.filter(pl.col("comment_count") > 0)["ts"][1]
    early = busy - timedelta(minutes=5)
    moved = rows.with_columns(
        comment_count=pl.when(pl.col("ts") == early)
        .then(pl.col("comment_count") + 1)
        .when(pl.col("ts") == busy)
        .then(pl.col("comment_count") - 1)
        .otherwise(pl.col("comment_count"))
    )
    found = count_problems(moved, texts)
    assert set(found["ts"]) == {early, busy}
    assert "comment_count is not the bucket's social_text comments" in found["problem"].to_list()


def test_engagement_rule_judges_each_bucket_by_its_own_available_at():
    texts = rows(
        [
            ("a", "post", t(10, 2), 100, 7, t(10, 7)),  # scraped after its bucket ended
            ("b", "post", t(11, 1), 40, 3, t(11, 3)),  # scraped inside its bucket
        ]
    )
    out = bucket_latents(texts, vectors_for(texts), projections(), PART, SPEC, WINDOW, NOW)

    def keyed(frame):
        return frame.with_columns(symbol=pl.lit(PART.symbol), partition_day=pl.lit(PART.day))

    assert engagement_problems(keyed(out), keyed(texts)).is_empty()
    leaked = out.with_columns(post_score_observed_mean=pl.when(pl.col("ts") == t(10, 0)).then(100.0).otherwise(pl.col("post_score_observed_mean")))
    found = engagement_problems(keyed(leaked), keyed(texts))
    assert found.select("ts", "problem").rows() == [(t(10, 0), "post_score_observed_mean used engagement not observed by the bucket's end")]
    wrong = out.with_columns(
        post_num_comments_observed_mean=pl.when(pl.col("ts") == t(11, 0)).then(4.0).otherwise(pl.col("post_num_comments_observed_mean"))
    )
    found = engagement_problems(keyed(wrong), keyed(texts))
    assert found.select("ts", "problem").rows() == [
        (t(11, 0), "post_num_comments_observed_mean is not the mean over posts observed by the bucket's end")
    ]


def deleted_later(folder):
    """The fixture as a later scrape would see it: 2025-10-10's r/bitcoin posts deleted by
    their authors and their comments removed by moderators, weeks after they were written."""
    posts = pl.read_parquet(REDDIT_FIXTURES / "reddit_crypto_posts.parquet")
    comments = pl.read_parquet(REDDIT_FIXTURES / "reddit_crypto_comments.parquet")
    victims = (pl.col("subreddit") == "bitcoin") & (pl.col("created_utc").dt.date() == DAY2)
    posts.with_columns(
        title=pl.when(victims).then(pl.lit("[deleted by user]")).otherwise(pl.col("title")),
        selftext=pl.when(victims).then(pl.lit("[deleted]")).otherwise(pl.col("selftext")),
    ).write_parquet(folder / "reddit_crypto_posts.parquet")
    comments.with_columns(body=pl.when(victims).then(pl.lit("[removed]")).otherwise(pl.col("body"))).write_parquet(
        folder / "reddit_crypto_comments.parquet"
    )
    return posts.filter(victims).height, comments.filter(victims).height


def test_posts_deleted_after_t_still_count_at_t(honest, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    deleted_posts, removed_comments = deleted_later(drop)
    assert deleted_posts >= 3 and removed_comments >= 30
    checks, failed, consumed = run(tmp_path, folder=drop)
    assert not failed and consumed == 2, {n: checks[n].description for n in failed}
    before, after = stored(honest[0], "social_text"), stored(tmp_path, "social_text")
    # Every item that existed is still a row, at the time it was written; only its words are gone.
    assert after.select("item_id", "kind", "created_at").equals(before.select("item_id", "kind", "created_at"))
    gone = after.filter(pl.col("text").is_null())
    assert gone.filter(pl.col("kind") == "post").height == deleted_posts
    assert stored(tmp_path, "text_embeddings").join(gone, on="item_id", how="semi").is_empty()
    # Volumes and the comment/post ratio at every t are what they were before the deletions.
    volumes = ["ts", "post_count", "comment_count", "market_post_count", "comment_post_ratio"]
    was, now = stored(honest[0], "text_latents").select(volumes), stored(tmp_path, "text_latents").select(volumes)
    assert now.equals(was)
    knowable = gone.filter(pl.col("kind") == "post").select(ts=pl.col("available_at").dt.truncate("5m"))
    assert (now.join(knowable, on="ts", how="semi")["post_count"] >= 1).all()
