"""Checks on social_text, text_embeddings and text_latents.

Integrity and leakage checks are blocking: a failure stops every downstream asset. The
comment/post ratio is a warning: thin comment coverage is worth knowing, not a reason to
stop the pipeline.
"""


from datetime import timedelta

import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from quant_assets.assets.checks import result_from_offending, run_partitions, schema_check, stored_run
from quant_assets.assets.metadata import preview
from quant_assets.assets.social import read_embeddings
from quant_assets.partitions import DaySymbol
from quant_assets.resources.lake import LakeResource
from quant_assets.social import quality
from quant_assets.social.text import SOCIAL_TEXT_ASSET
from quant_assets.text import embeddings as emb
from quant_assets.text import rederive
from quant_assets.text.latents import TEXT_LATENTS_ASSET, grid_problems, latent_spec, missing_problems, projection_problems
from quant_assets.timegrid import utc_now


def _stored(context: AssetCheckExecutionContext, lake: LakeResource, asset_name: str) -> tuple[list[DaySymbol], pl.DataFrame]:
    # The quality rules compare rows with the day of the partition they were stored in.
    return stored_run(context, lake, asset_name, with_partition_day=True)


# ---- social_text ------------------------------------------------------------------------

@asset_check(asset=SOCIAL_TEXT_ASSET, blocking=True, description="Columns and dtypes match the social_text schema.")
def social_text_schema(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    return schema_check(context, lake, SOCIAL_TEXT_ASSET)


@asset_check(asset=SOCIAL_TEXT_ASSET, blocking=True, description="No item_id appears twice for a symbol.")
def social_text_unique_ids(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, texts = _stored(context, lake, SOCIAL_TEXT_ASSET)
    return result_from_offending(quality.duplicate_items(texts), "unique item_id", texts.height)


@asset_check(
    asset=SOCIAL_TEXT_ASSET,
    blocking=True,
    description=(
        "created_at lies inside the partition's UTC day, available_at = created_at, and "
        "engagement is never observed before the text existed."
    ),
)
def social_text_timestamps_in_day(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, texts = _stored(context, lake, SOCIAL_TEXT_ASSET)
    return result_from_offending(quality.outside_day(texts), "timestamps inside the day", texts.height)


@asset_check(
    asset=SOCIAL_TEXT_ASSET,
    blocking=True,
    description=(
        "Text that is gone is marked: null (the item is kept and counted), never a blank or "
        "a [deleted] / [removed] placeholder that would be embedded as words."
    ),
)
def social_text_unavailable_marked(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, texts = _stored(context, lake, SOCIAL_TEXT_ASSET)
    return result_from_offending(quality.unmarked_unavailable_text(texts), "unavailable text marked null", texts.height)


@asset_check(
    asset=SOCIAL_TEXT_ASSET,
    blocking=True,
    description="Every comment's post is known to the source and was created before the comment.",
)
def social_text_comments_have_posts(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, texts = _stored(context, lake, SOCIAL_TEXT_ASSET)
    return result_from_offending(quality.orphan_comments(texts), "every comment's post known", texts.height)


@asset_check(
    asset=SOCIAL_TEXT_ASSET,
    blocking=False,
    description=(
        f"Comments per post, per partition and over the run; warns when below "
        f"{quality.MIN_COMMENT_POST_RATIO:g} (the old system's gate)."
    ),
)
def social_text_comment_post_ratio(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    parts, texts = _stored(context, lake, SOCIAL_TEXT_ASSET)
    report = quality.comment_post_ratio(texts, parts)
    low = report.low
    ratio = report.ratio
    return AssetCheckResult(
        passed=report.ok,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"comment/post ratio {ratio:.2f} over the run" if ratio is not None else "no posts in the run"
        ) + (f"; {low.height} partitions below {report.threshold:g}" if low.height else ""),
        metadata={
            "comment_post_ratio": round(ratio, 3) if ratio is not None else "no posts",
            "threshold": report.threshold,
            "posts": report.posts,
            "comments": report.comments,
            "partitions_below": low.height,
            "partitions_without_posts": int(report.per_partition["posts"].eq(0).sum()),
            "per_partition": preview(report.per_partition.with_columns(pl.col("ratio").round(2)), rows=20),
        },
    )


# ---- text_embeddings --------------------------------------------------------------------

@asset_check(asset=emb.TEXT_EMBEDDINGS_ASSET, blocking=True, description="Columns and dtypes match the text_embeddings schema (384-dim Float32 arrays).")
def text_embeddings_schema(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    return schema_check(context, lake, emb.TEXT_EMBEDDINGS_ASSET)


@asset_check(
    asset=emb.TEXT_EMBEDDINGS_ASSET,
    blocking=True,
    description=(
        "Exactly one embedding per social_text row with text, none for text marked unavailable; "
        "each row's text_sha256 is the hash of its text and its created_at is its text's."
    ),
)
def text_embeddings_cover_text(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    parts = run_partitions(context)
    store = lake.lake()
    texts = store.read_many(SOCIAL_TEXT_ASSET, parts, with_partition_day=True)
    vectors = store.read_many(emb.TEXT_EMBEDDINGS_ASSET, parts, with_partition_day=True)
    offending = pl.concat(
        [
            emb.coverage_problems(texts, vectors),
            quality.duplicate_items(vectors).with_columns(problem=pl.lit("two embeddings for one item")),
        ],
        how="vertical",
    )
    return result_from_offending(offending, "one embedding per text", vectors.height)


@asset_check(
    asset=emb.TEXT_EMBEDDINGS_ASSET,
    blocking=True,
    description="Vectors are finite, unit length (the model normalises) and from one model version per run.",
)
def text_embeddings_vectors_sane(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, vectors = _stored(context, lake, emb.TEXT_EMBEDDINGS_ASSET)
    return result_from_offending(emb.vector_problems(vectors), "vectors sane", vectors.height)


# ---- text_latents -----------------------------------------------------------------------

@asset_check(asset=TEXT_LATENTS_ASSET, blocking=True, description="Columns and dtypes match the text_latents schema.")
def text_latents_schema(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    return schema_check(context, lake, TEXT_LATENTS_ASSET)


@asset_check(
    asset=TEXT_LATENTS_ASSET,
    blocking=True,
    description="One row per 5m bucket of the day (288; today only ended buckets), on the grid, available_at = ts + 5m.",
)
def text_latents_grid(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    parts, latents = _stored(context, lake, TEXT_LATENTS_ASSET)
    offending = grid_problems(latents, parts, utc_now(), slack=timedelta(hours=1))
    return result_from_offending(offending, "complete 5m grid", latents.height)


@asset_check(
    asset=TEXT_LATENTS_ASSET,
    blocking=True,
    description="The projection was fitted only on text before the partition's day: fit_end <= day start, always.",
)
def text_latents_projection_before_day(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, latents = _stored(context, lake, TEXT_LATENTS_ASSET)
    return result_from_offending(projection_problems(latents), "projection fitted before the day", latents.height)


@asset_check(
    asset=TEXT_LATENTS_ASSET,
    blocking=True,
    description="Empty buckets are explicit: counts 0 and latents null with *_latent_missing; present latents are complete.",
)
def text_latents_missing_explicit(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    _, latents = _stored(context, lake, TEXT_LATENTS_ASSET)
    return result_from_offending(missing_problems(latents, latent_spec()), "missing is explicit", latents.height)


# Re-derived from social_text and text_embeddings: these trust no stamp text_latents wrote.

def _stored_with_text(context: AssetCheckExecutionContext, lake: LakeResource) -> tuple[list[DaySymbol], pl.DataFrame, pl.DataFrame]:
    parts, latents = _stored(context, lake, TEXT_LATENTS_ASSET)
    return parts, latents, lake.lake().read_many(SOCIAL_TEXT_ASSET, parts, with_partition_day=True)


def _rederived_from_text(name: str, rule, what: str, description: str):
    """A blocking check on text_latents that applies ``rule(latents, social_text)``."""

    @asset_check(asset=TEXT_LATENTS_ASSET, name=name, blocking=True, description=description)
    def _check(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
        _, latents, texts = _stored_with_text(context, lake)
        return result_from_offending(rule(latents, texts), what, latents.height)

    return _check


text_latents_counts_match_text = _rederived_from_text(
    "text_latents_counts_match_text",
    rederive.count_problems,
    "bucket counts are social_text's",
    "Recounted from social_text: every bucket's post, comment and market-post counts and its "
    "comment/post ratio are the social_text rows created in it, deleted text included.",
)

text_latents_engagement_observed = _rederived_from_text(
    "text_latents_engagement_observed",
    rederive.engagement_problems,
    "engagement observed by the bucket's end",
    "Re-derived from social_text: a bucket's engagement is the mean over its posts whose "
    "engagement was observed by the bucket's available_at; none where none was observed.",
)


@asset_check(
    asset=TEXT_LATENTS_ASSET,
    blocking=True,
    description=(
        "Refits each partition's projections on the text created in the fit window its rows "
        "record and recomputes the latents: a projection fitted on other text (the day's own) "
        "while recording an earlier window gives other latents and fails."
    ),
)
def text_latents_projection_refit(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    parts, latents, texts = _stored_with_text(context, lake)
    vectors = read_embeddings(lake.lake(), rederive.refit_reads(latents, parts))
    offending = rederive.refit_problems(parts, latents, texts, vectors, latent_spec())
    return result_from_offending(offending, "latents reproduced by a refit on the recorded fit window", latents.height)
