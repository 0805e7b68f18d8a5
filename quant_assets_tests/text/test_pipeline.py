"""social_text -> text_embeddings -> text_latents through Dagster, on real text and the real model."""

from datetime import timedelta

import polars as pl
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, load_asset_checks_from_modules, materialize

from quant_assets.assets import social, social_checks
from quant_assets.catalog import schema_for
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets.resources.embedding import EmbeddingModel
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.social_data import FileDropSocialText, SocialLinking
from quant_assets.runs import PartitionRange
from quant_assets.text.model import load_encoder
from quant_assets_tests.checkresults import checks_by_name
from quant_assets_tests.social.reddit_fixture import DAY1, DAY2, REDDIT_FIXTURES

ASSETS = [social.social_text, social.text_embeddings, social.text_latents]
CHECKS = load_asset_checks_from_modules([social_checks])
# Two real days of BTC and ETH (a rectangle of the universe, as a single-run backfill sees it).
RECT = PartitionRange(DaySymbol(DAY1, "BTC-USDT"), DaySymbol(DAY2, "ETH-USDT"))
PARTS = [DaySymbol(d, s) for d in (DAY1, DAY2) for s in ("BTC-USDT", "ETH-USDT")]


def resources(tmp_path, embedding_model=EmbeddingModel, folder=REDDIT_FIXTURES) -> dict:
    """The social assets' resources over a Reddit file drop, with a lake and cache under ``tmp_path``."""
    return {
        "lake": LakeResource(root=str(tmp_path / "lake")),
        "social_source": FileDropSocialText(folder=str(folder)),
        "social_linking": SocialLinking(),
        "embedding_model": embedding_model(cache_root=str(tmp_path / "cache")),
    }


def run(tmp_path, instance):
    return materialize(
        [*ASSETS, *CHECKS],
        resources=resources(tmp_path),
        instance=instance,
        tags=RECT.tags,
        raise_on_error=False,
    )


def meta(result, node):
    return {m.partition: {k: v.value for k, v in m.metadata.items()} for m in result.asset_materializations_for_node(node)}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, real_encoder):
    tmp_path = tmp_path_factory.mktemp("pipeline")
    encoder = load_encoder()
    with DagsterInstance.ephemeral() as instance:
        before = encoder.texts_encoded
        first = run(tmp_path, instance)
        middle = encoder.texts_encoded
        second = run(tmp_path, instance)
        after = encoder.texts_encoded
    return tmp_path, first, second, (before, middle, after)


def test_every_asset_and_check_succeeds_on_two_real_days(two_runs):
    _, first, second, _ = two_runs
    for result in (first, second):
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == sum(len(c.check_specs) for c in CHECKS)
        failed = {e.check_name: e.description for e in evaluations if not e.passed and e.severity == AssetCheckSeverity.ERROR}
        assert not failed, failed
        for node in ("social_text", "text_embeddings", "text_latents"):
            assert set(meta(result, node)) == {str(p) for p in PARTS}


def test_assets_show_description_group_kinds_rows_and_time_span(two_runs):
    _, first, _, _ = two_runs
    for asset_def, kinds in zip(ASSETS, ({"reddit", "polars", "parquet"}, {"pytorch", "polars", "parquet"}, {"numpy", "polars", "parquet"})):
        spec = next(iter(asset_def.specs))
        assert spec.group_name == "social" and spec.description and len(spec.description) > 80
        assert set(spec.kinds) == kinds
    texts = meta(first, "social_text")["2025-10-10|BTC-USDT"]
    assert texts["rows"] > 0 and texts["first_ts"].startswith("2025-10-10") and texts["last_ts"].startswith("2025-10-10")
    assert texts["posts"] + texts["comments"] == texts["rows"] and texts["market_rows"] > 0
    vectors = meta(first, "text_embeddings")["2025-10-10|BTC-USDT"]
    # Comments deleted after they were written are rows of social_text, but have no vector.
    assert texts["text_unavailable"] > 0 and vectors["rows"] == texts["rows"] - texts["text_unavailable"]
    assert vectors["model_name"] == "sentence-transformers/all-MiniLM-L6-v2" and vectors["dimensions"] == 384
    assert len(vectors["weights_sha256"]) == 64
    latents = meta(first, "text_latents")["2025-10-10|BTC-USDT"]
    assert latents["rows"] == 288 and latents["first_ts"] == "2025-10-10 00:00:00+00:00"
    assert latents["last_ts"] == "2025-10-10 23:55:00+00:00"


def test_second_materialization_embeds_nothing(two_runs):
    _, first, second, (before, middle, after) = two_runs
    run1 = next(m for m in first.asset_materializations_for_node("text_embeddings")).metadata
    run2 = next(m for m in second.asset_materializations_for_node("text_embeddings")).metadata
    unique = run1["run_unique_texts"].value
    assert run1["run_texts_embedded"].value == unique == middle - before
    # Market text sits in both symbols' partitions but was embedded once.
    assert unique < run1["run_rows"].value
    assert run2["run_texts_embedded"].value == 0 and run2["run_cache_hits"].value == unique
    assert after == middle  # the model was not called at all
    assert sum(m["texts_embedded"] for m in meta(second, "text_embeddings").values()) == 0


def test_latents_use_only_the_past_and_mark_what_is_missing(two_runs):
    tmp_path, first, _, _ = two_runs
    lake = ParquetLake(str(tmp_path / "lake"))
    day1 = lake.read("text_latents", DaySymbol(DAY1, "BTC-USDT"))
    day2 = lake.read("text_latents", DaySymbol(DAY2, "BTC-USDT"))
    assert not schema_for("text_latents").problems(day2.schema)
    # Day 1 has no stored history: both towers missing everywhere, counts still there.
    assert day1["post_latent_missing"].all() and day1["comment_latent_missing"].all()
    assert day1["projection_id"].null_count() == 288 and day1["comment_count"].sum() > 0
    # Day 2: the comment tower is fitted on day 1's comments only; too few posts for the post tower.
    m = meta(first, "text_latents")["2025-10-10|BTC-USDT"]
    assert m["comment_fit_texts"] > 64 and m["post_fit_texts"] < 64 and "post tower missing" in m["note"]
    present = day2.filter(~pl.col("comment_latent_missing"))
    assert present.height > 0 and (present["comment_count"] > 0).all()
    assert present["comment_z_00"].null_count() == 0 and day2["post_z_00"].null_count() == 288
    assert (day2["projection_fit_end"] == DaySymbol(DAY2, "BTC-USDT").start).all()
    assert (day2["projection_fit_start"] == DaySymbol(DAY2, "BTC-USDT").start - timedelta(days=30)).all()
    # Engagement was scraped weeks later: invisible in every bucket.
    assert day2["post_score_observed_mean"].null_count() == 288


def test_latents_depend_on_thirty_days_of_embeddings(two_runs):
    deps = social.text_latents.asset_deps[AssetKey("text_latents")]
    assert deps == {AssetKey("social_text"), AssetKey("text_embeddings")}
    mapping = social.text_latents.get_partition_mapping(AssetKey("text_embeddings"))
    window = mapping.downstream_mappings_by_upstream_dimension["date"].partition_mapping
    assert (window.start_offset, window.end_offset) == (-30, 0)


class FakeEmbeddingModel(EmbeddingModel):
    """The embedding resource with the counting stand-in model (no torch work)."""

    def encoder(self):
        from quant_assets_tests.text.conftest import CountingEncoder

        return CountingEncoder()


def test_a_day_read_before_it_ended_yields_only_the_buckets_known_then(tmp_path, monkeypatch):
    one = PartitionRange(DaySymbol(DAY2, "BTC-USDT"), DaySymbol(DAY2, "BTC-USDT"))
    fake = resources(tmp_path, FakeEmbeddingModel)
    noon = DaySymbol(DAY2, "BTC-USDT").start + timedelta(hours=12)
    with DagsterInstance.ephemeral() as instance:
        # social_text is read at noon of 2025-10-10 ...
        monkeypatch.setattr(social, "utc_now", lambda: noon)
        first = materialize([social.social_text, social_checks.social_text_checks], resources=fake, instance=instance, tags=one.tags)
        assert meta(first, "social_text")["2025-10-10|BTC-USDT"]["last_ts"] < "2025-10-10 12:00:00"
        # ... and the latents are computed later, on today's clock.
        monkeypatch.undo()
        later = materialize(
            [social.social_text, social.text_embeddings, social.text_latents, *CHECKS],
            selection=[social.text_embeddings, social.text_latents],
            resources=fake,
            instance=instance,
            tags=one.tags,
            raise_on_error=False,
        )
        grid = checks_by_name(later, instance)["text_latents_grid"]
    # The short grid fails its blocking check: the partition is quarantined, not published.
    lake = ParquetLake(str(tmp_path / "lake"))
    assert lake.partitions("text_latents") == [] and lake.quarantined("text_latents") == [DaySymbol(DAY2, "BTC-USDT")]
    latents = pl.read_parquet(lake.quarantine_dir("text_latents", DaySymbol(DAY2, "BTC-USDT")) / "part-0.parquet")
    # Buckets after noon are unknown, not empty: they are not written at all.
    assert latents.height == 144 and latents["available_at"].max() == noon
    # Held back, so never shown materialized: the step's failure names it and why.
    assert "text_latents" not in {m.asset_key.to_user_string() for m in later.get_asset_materialization_events()}
    assert not grid.passed and grid.metadata["offending_rows"].value == 144
