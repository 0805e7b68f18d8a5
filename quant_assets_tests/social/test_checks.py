"""social_text's checks through Dagster: each planted defect fails its own check and blocks
everything downstream; a thin comment/post ratio only warns."""

from datetime import timedelta

import polars as pl
import pytest
from dagster import AssetCheckSeverity, DagsterInstance, asset, materialize

from quant_assets.assets import social_checks
from quant_assets.assets.social import PARTITIONS, social_text
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.social_data import FileDropSocialText, SocialLinking
from quant_assets.runs import PartitionRange
from quant_assets.social.text import SOCIAL_TEXT_ASSET
from quant_assets_tests.checkresults import checks_by_name
from quant_assets_tests.social.reddit_fixture import DAY1, DAY2, REDDIT_FIXTURES

CHECKS = [social_checks.social_text_checks]
RECT = PartitionRange(DaySymbol(DAY1, "BTC-USDT"), DaySymbol(DAY2, "SOL-USDT"))
BTC_DAY1 = DaySymbol(DAY1, "BTC-USDT")


@asset(partitions_def=PARTITIONS, deps=[social_text])
def social_consumer() -> None:
    """Stands in for text_embeddings: it must never run after a failed blocking check."""


class PlantedSource(FileDropSocialText):
    """The fixture, with one defect planted by a buggy source."""

    defect: str = "none"

    def fetch(self, parts, now):
        frame, meta = super().fetch(parts, now)
        comments = frame.filter((pl.col("kind") == "comment") & (pl.col("subreddit") == "bitcoin"))
        if self.defect == "duplicate":
            frame = pl.concat([frame, comments.head(1)])
        elif self.defect in ("blank_text", "placeholder_text"):
            # A source that forgot to mark gone text: the words "[removed]" would be embedded.
            victim = comments["item_id"][0]
            gone = "   " if self.defect == "blank_text" else "[removed]"
            frame = frame.with_columns(text=pl.when(pl.col("item_id") == victim).then(pl.lit(gone)).otherwise(pl.col("text")))
        elif self.defect == "orphan":
            lost_post = comments["post_id"][0]
            frame = frame.filter(~((pl.col("kind") == "post") & (pl.col("post_id") == lost_post)))
        elif self.defect == "few_comments":
            frame = frame.filter((pl.col("kind") == "post") | (pl.col("item_id").hash() % 20 == 0))
        return frame, meta


def misfiling_split(real_split):
    """A buggy writer: it files a row of 2025-10-10 in BTC's 2025-10-09 partition."""

    def split(frame, parts):
        out = []
        for part, texts in real_split(frame, parts):
            if part == BTC_DAY1 and texts.height:
                stray = texts.head(1).with_columns(
                    created_at=pl.col("created_at") + timedelta(days=1),
                    available_at=pl.col("available_at") + timedelta(days=1),
                )
                texts = pl.concat([texts, stray.with_columns(item_id=pl.lit("stray"))])
            out.append((part, texts))
        return out

    return split


def blocking_failures(checks) -> set[str]:
    return {n for n, e in checks.items() if not e.passed and e.severity == AssetCheckSeverity.ERROR}


def run(tmp_path, source):
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [social_text, *CHECKS, social_consumer],
            resources={
                "lake": LakeResource(root=str(tmp_path / "lake")),
                "social_source": source,
                "social_linking": SocialLinking(),
            },
            instance=instance,
            tags=RECT.tags,
            raise_on_error=False,
        )
        checks = checks_by_name(result, instance)
    consumed = len(result.asset_materializations_for_node("social_consumer"))
    return result, checks, consumed


def test_clean_fixture_passes_every_check_and_reaches_downstream(tmp_path):
    _, checks, consumed = run(tmp_path, PlantedSource(folder=str(REDDIT_FIXTURES)))
    assert set(checks) == set(social_checks.SOCIAL_TEXT_CHECKS)
    assert not blocking_failures(checks), {n: e.description for n, e in checks.items()}
    # The real fixture is above the old threshold over the run; one thin partition is reported.
    ratio = checks["social_text_comment_post_ratio"].metadata
    assert ratio["comment_post_ratio"].value > 10 and ratio["threshold"].value == 10.0
    assert ratio["posts"].value > 0 and ratio["comments"].value > 10 * ratio["posts"].value
    assert consumed == 6


@pytest.mark.parametrize(
    "defect, failing",
    [
        ("duplicate", "social_text_unique_ids"),
        ("blank_text", "social_text_unavailable_marked"),
        ("placeholder_text", "social_text_unavailable_marked"),
        ("orphan", "social_text_comments_have_posts"),
    ],
)
def test_each_planted_defect_fails_its_check_and_blocks_downstream(tmp_path, defect, failing):
    _, checks, consumed = run(tmp_path, PlantedSource(folder=str(REDDIT_FIXTURES), defect=defect))
    assert blocking_failures(checks) == {failing}, {n: e.description for n, e in checks.items()}
    assert checks[failing].severity == AssetCheckSeverity.ERROR
    assert checks[failing].metadata["offending_rows"].value >= 1
    assert consumed == 0


def test_a_row_filed_under_the_wrong_day_fails_the_timestamp_check(tmp_path, monkeypatch):
    from quant_assets.assets import social

    monkeypatch.setattr(social, "split_partitions", misfiling_split(social.split_partitions))
    _, checks, consumed = run(tmp_path, PlantedSource(folder=str(REDDIT_FIXTURES)))
    assert blocking_failures(checks) == {"social_text_timestamps_in_day"}, {n: e.description for n, e in checks.items()}
    assert checks["social_text_timestamps_in_day"].metadata["offending_rows"].value == 1
    assert consumed == 0
    # The file that holds the stray row is held back, not the day its timestamp names.
    lake = ParquetLake(str(tmp_path / "lake"))
    assert lake.quarantined(SOCIAL_TEXT_ASSET) == [BTC_DAY1]
    assert DaySymbol(DAY2, "BTC-USDT") in lake.partitions(SOCIAL_TEXT_ASSET)


def test_text_taken_as_seen_the_instant_it_was_written_fails_the_timestamp_check(tmp_path, monkeypatch):
    """A writer on the old rule (available_at = created_at) claims text before any collector
    could have read it; the check re-derives available_at from created_at, the row's recorded
    collection lag and first sighting, and holds every such partition back."""
    from quant_assets.assets import social

    real = social.social_text_rows
    monkeypatch.setattr(social, "social_text_rows", lambda *a: real(*a).with_columns(available_at=pl.col("created_at")))
    _, checks, consumed = run(tmp_path, PlantedSource(folder=str(REDDIT_FIXTURES)))
    assert blocking_failures(checks) == {"social_text_timestamps_in_day"}, {n: e.description for n, e in checks.items()}
    assert (
        "available_at != max(created_at + collection_lag_s, first_seen_at)"
        in checks["social_text_timestamps_in_day"].metadata["offending_preview"].value
    )
    assert consumed == 0


def test_the_collection_lag_is_a_setting_recorded_per_row_and_in_metadata(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_TEXT_COLLECTION_LAG", "90s")
    result, checks, _ = run(tmp_path, PlantedSource(folder=str(REDDIT_FIXTURES)))
    assert not blocking_failures(checks)
    rows = ParquetLake(str(tmp_path / "lake")).read(SOCIAL_TEXT_ASSET, BTC_DAY1)
    assert (rows["collection_lag_s"] == 90).all() and (rows["available_at"] == rows["created_at"] + timedelta(seconds=90)).all()
    [meta] = [m.metadata for m in result.asset_materializations_for_node("social_text") if m.partition == BTC_DAY1.dagster_key]
    assert meta["text_collection_lag_s"].value == 90


def test_thin_comments_warn_but_do_not_block(tmp_path):
    _, checks, consumed = run(tmp_path, PlantedSource(folder=str(REDDIT_FIXTURES), defect="few_comments"))
    ratio = checks["social_text_comment_post_ratio"]
    assert not ratio.passed and ratio.severity == AssetCheckSeverity.WARN
    assert ratio.metadata["comment_post_ratio"].value < 10
    assert ratio.metadata["partitions_below"].value >= 1
    assert not blocking_failures(checks)
    assert consumed == 6
