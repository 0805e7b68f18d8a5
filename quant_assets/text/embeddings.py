"""text_embeddings partitions: one vector per social_text row with text, computed once per text.

A row whose text is unavailable (null: deleted or removed later) has no vector: its words
are unknown, so nothing about it may enter a latent.

Every row carries the SHA-256 of its text and the model version; the (model version, hash)
pair keys the embedding cache, so a re-materialization, or the same market-wide text in
three symbols' partitions, is embedded once.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from quant_assets.partitions import split_by_partition
from quant_assets.text.cache import EmbeddingCache
from quant_assets.text.model import Encoder
from quant_assets.timegrid import TS_DTYPE

TEXT_EMBEDDINGS_ASSET = "text_embeddings"
EMBEDDING_DIM = 384  # all-MiniLM-L6-v2

TEXT_EMBEDDINGS_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "kind": pl.String(),
    "created_at": TS_DTYPE,
    "text_sha256": pl.String(),
    "embedding": pl.Array(pl.Float32, EMBEDDING_DIM),
    "model_version": pl.String(),
}


def empty_embeddings(dimensions: int = EMBEDDING_DIM) -> pl.DataFrame:
    return pl.DataFrame(schema={**TEXT_EMBEDDINGS_SCHEMA, "embedding": pl.Array(pl.Float32, dimensions)})


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def text_sha256(texts: pl.Series) -> pl.Series:
    return pl.Series("text_sha256", [sha256_text(t) for t in texts.to_list()], dtype=pl.String)


@dataclass(frozen=True)
class EmbedStats:
    rows: int
    unique_texts: int
    cache_hits: int  # unique texts found in the cache
    texts_embedded: int  # unique texts the model encoded
    encode_seconds: float

    @property
    def texts_per_s(self) -> float | None:
        return self.texts_embedded / self.encode_seconds if self.encode_seconds > 0 else None


def embed_rows(rows: pl.DataFrame, encoder: Encoder, cache: EmbeddingCache) -> tuple[pl.DataFrame, EmbedStats]:
    """Embed social_text rows (``symbol, item_id, kind, created_at, text``) of a whole run.

    Unique texts are looked up in the cache; only those missing are encoded, in one batched
    call across every partition of the run, then stored. Returns ``symbol`` + the
    text_embeddings schema + ``cached`` (whether the text came from the cache rather than
    from this run's encoding), in the input order, for the rows that have text.
    """
    dims = encoder.dimensions
    rows = rows.filter(pl.col("text").is_not_null())
    if rows.is_empty():
        empty = empty_embeddings(dims).with_columns(symbol=pl.lit(None, pl.String), cached=pl.lit(None, pl.Boolean))
        return empty.select(["symbol", *TEXT_EMBEDDINGS_SCHEMA, "cached"]), EmbedStats(0, 0, 0, 0, 0.0)
    hashed = rows.with_columns(text_sha256=text_sha256(rows["text"]))
    unique = hashed.select("text_sha256", "text").unique("text_sha256", keep="first", maintain_order=True)
    found = cache.lookup(unique["text_sha256"])
    missing = unique.join(found.select("text_sha256"), on="text_sha256", how="anti", maintain_order="left")
    started = time.perf_counter()
    vectors = encoder.encode(missing["text"].to_list())
    seconds = time.perf_counter() - started
    if len(missing):
        cache.put(missing["text_sha256"].to_list(), vectors)
    fresh = pl.DataFrame(
        {
            "text_sha256": missing["text_sha256"],
            "embedding": pl.Series(np.asarray(vectors, dtype=np.float32).reshape(len(missing), dims), dtype=pl.Array(pl.Float32, dims)),
        }
    ).with_columns(cached=pl.lit(False))
    vectors_by_hash = pl.concat([found.with_columns(cached=pl.lit(True)), fresh], how="vertical")
    out = hashed.join(vectors_by_hash, on="text_sha256", how="left", maintain_order="left").with_columns(model_version=pl.lit(encoder.model_version))
    stats = EmbedStats(rows.height, unique.height, found.height, missing.height, seconds)
    return out.select(["symbol", *TEXT_EMBEDDINGS_SCHEMA, "cached"]), stats


def split_partitions(frame: pl.DataFrame, parts) -> list:
    """Per requested partition, its rows (without ``symbol``); empty when it has none."""
    return split_by_partition(frame, parts, "created_at", frame.drop("symbol").clear())


# ---- quality rules ----------------------------------------------------------------------


def coverage_problems(texts: pl.DataFrame, embeddings: pl.DataFrame) -> pl.DataFrame:
    """Rows of social_text with text but no embedding, embeddings of no text or of text marked
    unavailable, hashes that do not match, and embeddings stamped with another creation time
    than their text (text_latents fits its projection by that stamp).

    Both frames carry ``symbol`` and ``partition_day``; returns ``symbol, ts, item_id, problem``.
    """
    schema = {"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "item_id": pl.String, "problem": pl.String}
    keys = ["symbol", "partition_day", "item_id"]
    left = texts.select(*keys, "created_at", "text")
    right = embeddings.select(*keys, "text_sha256", _emb_created=pl.col("created_at"))
    out = []
    no_vector = left.filter(pl.col("text").is_not_null()).join(right, on=keys, how="anti")
    out.append(no_vector.select("symbol", ts="created_at", item_id="item_id", problem=pl.lit("text without embedding")))
    no_text = right.join(left, on=keys, how="anti")
    out.append(no_text.select("symbol", ts="_emb_created", item_id="item_id", problem=pl.lit("embedding of no stored text")))
    both = left.join(right, on=keys, how="inner")
    out.append(
        both.filter(pl.col("text").is_null()).select(
            "symbol", ts="created_at", item_id="item_id", problem=pl.lit("embedding of a text marked unavailable")
        )
    )
    out.append(
        both.filter(pl.col("_emb_created") != pl.col("created_at")).select(
            "symbol", ts="_emb_created", item_id="item_id", problem=pl.lit("embedding's created_at differs from its text's")
        )
    )
    both = both.filter(pl.col("text").is_not_null())
    if not both.is_empty():
        wrong = both.with_columns(_expected=text_sha256(both["text"])).filter(pl.col("_expected") != pl.col("text_sha256"))
        out.append(wrong.select("symbol", ts="created_at", item_id="item_id", problem=pl.lit("text_sha256 does not match the text")))
    return pl.concat([f.cast(schema) for f in out], how="vertical")


def vector_problems(embeddings: pl.DataFrame, dimensions: int = EMBEDDING_DIM, normalized: bool = True) -> pl.DataFrame:
    """Vectors that are null, non-finite, of the wrong size or (for a normalising model) not unit length."""
    schema = {"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "item_id": pl.String, "problem": pl.String}
    if embeddings.is_empty():
        return pl.DataFrame(schema=schema)
    nulls = embeddings.filter(pl.col("embedding").is_null())
    ok = embeddings.filter(pl.col("embedding").is_not_null())
    problems = [nulls.with_columns(problem=pl.lit("null embedding"))]
    if not ok.is_empty():
        matrix = np.asarray(ok["embedding"].to_numpy(), dtype=np.float64).reshape(ok.height, -1)
        bad = ~np.isfinite(matrix).all(axis=1)
        if matrix.shape[1] != dimensions:
            bad[:] = True
        if normalized:
            norms = np.linalg.norm(np.nan_to_num(matrix), axis=1)
            bad |= np.abs(norms - 1.0) > 1e-3
        problems.append(ok.filter(pl.Series(bad)).with_columns(problem=pl.lit("embedding not finite, wrong size or not unit length")))
    versions = embeddings["model_version"].unique()
    if versions.len() > 1:
        problems.append(embeddings.with_columns(problem=pl.lit(f"{versions.len()} model versions in one run")).head(1))
    return pl.concat(
        [p.select("symbol", ts="created_at", item_id="item_id", problem="problem").cast(schema) for p in problems],
        how="vertical",
    )
