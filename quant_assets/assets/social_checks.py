"""Checks on social_text, text_embeddings and text_latents.

Integrity and leakage checks are blocking: a failure stops every downstream asset and keeps
the failing partitions out of the lake. The comment/post ratio is a warning: thin comment
coverage is worth knowing, not a reason to stop the pipeline. Each asset's checks run in one
op on one read of the run's staged partitions, which publishes those that pass
(``quant_assets.assets.checks``).
"""

from datetime import timedelta

import polars as pl

from quant_assets.assets.checks import (
    AuditCheck,
    Batch,
    Verdict,
    audit_checks,
    offending_verdict,
    row_rule,
    schema_verdict,
)
from quant_assets.assets.metadata import preview
from quant_assets.assets.social import read_embeddings
from quant_assets.social import quality
from quant_assets.social.text import SOCIAL_TEXT_ASSET
from quant_assets.text import embeddings as emb
from quant_assets.text import rederive
from quant_assets.text.latents import TEXT_LATENTS_ASSET, grid_problems, latent_spec, missing_problems, projection_problems
from quant_assets.timegrid import utc_now


def _rule(rule, what: str):
    # The social and text rules compare rows with the day of the partition they are stored in.
    return row_rule(rule, what, with_partition_day=True)


# ---- social_text ------------------------------------------------------------------------


def social_text_comment_post_ratio(batch: Batch) -> Verdict:
    report = quality.comment_post_ratio(batch.rows(with_partition_day=True), batch.parts)
    low = report.low
    ratio = report.ratio
    return Verdict(
        passed=report.ok,
        description=(f"comment/post ratio {ratio:.2f} over the run" if ratio is not None else "no posts in the run")
        + (f"; {low.height} partitions below {report.threshold:g}" if low.height else ""),
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


SOCIAL_TEXT_CHECKS = {
    "social_text_schema": AuditCheck("Columns and dtypes match the social_text schema.", schema_verdict),
    "social_text_unique_ids": AuditCheck("No item_id appears twice for a symbol.", _rule(quality.duplicate_items, "unique item_id")),
    "social_text_timestamps_in_day": AuditCheck(
        "created_at lies inside the partition's UTC day, available_at = max(created_at + collection_lag_s, first_seen_at) "
        "re-derived, and "
        "engagement is never observed before the text existed.",
        _rule(quality.outside_day, "timestamps inside the day"),
    ),
    "social_text_unavailable_marked": AuditCheck(
        "Text that is gone is marked: null (the item is kept and counted), never a blank or "
        "a [deleted] / [removed] placeholder that would be embedded as words.",
        _rule(quality.unmarked_unavailable_text, "unavailable text marked null"),
    ),
    "social_text_comments_have_posts": AuditCheck(
        "Every comment's post is known to the source and was created before the comment.",
        _rule(quality.orphan_comments, "every comment's post known"),
    ),
    "social_text_comment_post_ratio": AuditCheck(
        f"Comments per post, per partition and over the run; warns when below {quality.MIN_COMMENT_POST_RATIO:g} (the old system's threshold).",
        social_text_comment_post_ratio,
        blocking=False,
    ),
}


social_text_checks = audit_checks(
    SOCIAL_TEXT_ASSET,
    SOCIAL_TEXT_CHECKS,
    description="The social_text checks on one read of the run's staged texts; publishes the partitions that pass.",
)


# ---- text_embeddings --------------------------------------------------------------------


def text_embeddings_cover_text(batch: Batch) -> Verdict:
    texts = batch.store.read_many(SOCIAL_TEXT_ASSET, batch.parts, with_partition_day=True)  # published
    vectors = batch.rows(with_partition_day=True)
    offending = pl.concat(
        [
            emb.coverage_problems(texts, vectors),
            quality.duplicate_items(vectors).with_columns(problem=pl.lit("two embeddings for one item")),
        ],
        how="vertical",
    )
    return offending_verdict(offending, "one embedding per text", batch)


TEXT_EMBEDDINGS_CHECKS = {
    "text_embeddings_schema": AuditCheck("Columns and dtypes match the text_embeddings schema (384-dim Float32 arrays).", schema_verdict),
    "text_embeddings_cover_text": AuditCheck(
        "Exactly one embedding per social_text row with text, none for text marked unavailable; "
        "each row's text_sha256 is the hash of its text and its created_at is its text's.",
        text_embeddings_cover_text,
    ),
    "text_embeddings_vectors_sane": AuditCheck(
        "Vectors are finite, unit length (the model normalises) and from one model version per run.",
        _rule(emb.vector_problems, "vectors sane"),
    ),
}


text_embeddings_checks = audit_checks(
    emb.TEXT_EMBEDDINGS_ASSET,
    TEXT_EMBEDDINGS_CHECKS,
    description="The text_embeddings checks on one read of the run's staged vectors; publishes the partitions that pass.",
)


# ---- text_latents -----------------------------------------------------------------------


def text_latents_grid(batch: Batch) -> Verdict:
    offending = grid_problems(batch.rows(with_partition_day=True), batch.parts, utc_now(), slack=timedelta(hours=1))
    return offending_verdict(offending, "complete 5m grid", batch)


# Re-derived from social_text and text_embeddings (published, checked): these trust no stamp
# text_latents wrote.


def _published_text(batch: Batch) -> pl.DataFrame:
    return batch.store.read_many(SOCIAL_TEXT_ASSET, batch.parts, with_partition_day=True)


def _rederived_from_text(rule, what: str):
    """A text_latents check that applies ``rule(latents, social_text)``."""

    def check(batch: Batch) -> Verdict:
        return offending_verdict(rule(batch.rows(with_partition_day=True), _published_text(batch)), what, batch)

    return check


def text_latents_projection_refit(batch: Batch) -> Verdict:
    latents = batch.rows(with_partition_day=True)
    vectors = read_embeddings(batch.store, rederive.refit_reads(latents, batch.parts))
    offending = rederive.refit_problems(batch.parts, latents, _published_text(batch), vectors, latent_spec())
    return offending_verdict(offending, "latents reproduced by a refit on the recorded fit window", batch)


TEXT_LATENTS_CHECKS = {
    "text_latents_schema": AuditCheck("Columns and dtypes match the text_latents schema.", schema_verdict),
    "text_latents_grid": AuditCheck(
        "One row per 5m bucket of the day (288; today only ended buckets), on the grid, available_at = ts + 5m.",
        text_latents_grid,
    ),
    "text_latents_projection_before_day": AuditCheck(
        "The projection was fitted only on text before the partition's day: fit_end <= day start, always.",
        _rule(projection_problems, "projection fitted before the day"),
    ),
    "text_latents_missing_explicit": AuditCheck(
        "Empty buckets are explicit: counts 0 and latents null with *_latent_missing; present latents are complete.",
        _rule(lambda rows: missing_problems(rows, latent_spec()), "missing is explicit"),
    ),
    "text_latents_counts_match_text": AuditCheck(
        "Recounted from social_text: every bucket's post, comment and market-post counts and its "
        "comment/post ratio are the social_text rows created in it, deleted text included.",
        _rederived_from_text(rederive.count_problems, "bucket counts are social_text's"),
    ),
    "text_latents_engagement_observed": AuditCheck(
        "Re-derived from social_text: a bucket's engagement is the mean over its posts whose "
        "engagement was observed by the bucket's available_at; none where none was observed.",
        _rederived_from_text(rederive.engagement_problems, "engagement observed by the bucket's end"),
    ),
    "text_latents_projection_refit": AuditCheck(
        "Refits each partition's projections on the text created in the fit window its rows "
        "record and recomputes the latents: a projection fitted on other text (the day's own) "
        "while recording an earlier window gives other latents and fails.",
        text_latents_projection_refit,
    ),
}


text_latents_checks = audit_checks(
    TEXT_LATENTS_ASSET,
    TEXT_LATENTS_CHECKS,
    description="The text_latents checks on one read of the run's staged buckets; publishes the partitions that pass.",
)
