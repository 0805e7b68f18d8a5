"""Embeddings: the real offline model, and a cache that never embeds a text twice."""

import hashlib

import numpy as np
import polars as pl
import pytest

from quant_assets.resources.embedding import EmbeddingModel
from quant_assets.text import cache as cache_module
from quant_assets.text.cache import EmbeddingCache
from quant_assets.text.embeddings import embed_rows, sha256_text, split_partitions, vector_problems
from quant_assets.text.model import packaged_model_path
from quant_assets_tests.social.reddit_fixture import DAY1, DAY2, fixture_items, parts_for, social_rows


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    """Linked social_text rows of the fixture for BTC and ETH (market text in both)."""
    linked = social_rows(fixture_items(), ["BTC-USDT", "ETH-USDT"])
    return linked.filter(pl.col("created_at").dt.date().is_in([DAY1, DAY2])).select("symbol", "item_id", "kind", "created_at", "text")


def test_text_marked_unavailable_is_counted_but_never_embedded(tmp_path, rows, counting_encoder):
    gone = rows.filter(pl.col("text").is_null())
    assert gone.height == 13  # the fixture's deleted and removed comments linked to BTC or ETH
    out, stats = embed_rows(rows, counting_encoder, EmbeddingCache(str(tmp_path), counting_encoder.model_version, 384))
    assert stats.rows == out.height == rows.height - gone.height
    assert out.join(gone, on=["symbol", "item_id"], how="semi").is_empty()
    assert None not in counting_encoder.seen and "[deleted]" not in counting_encoder.seen


def test_second_materialization_embeds_nothing(tmp_path, rows, counting_encoder):
    cache = EmbeddingCache(str(tmp_path), counting_encoder.model_version, 384)
    first, stats = embed_rows(rows, counting_encoder, cache)
    unique = rows["text"].drop_nulls().n_unique()
    assert stats.texts_embedded == unique == counting_encoder.texts_encoded and counting_encoder.calls == 1
    assert stats.cache_hits == 0 and (~first["cached"]).all()
    # A new cache object, with the per-process shard memo dropped, as in another process.
    cache_module._SHARDS.clear()
    again, stats2 = embed_rows(rows, counting_encoder, EmbeddingCache(str(tmp_path), counting_encoder.model_version, 384))
    assert stats2.texts_embedded == 0 and stats2.cache_hits == unique
    assert counting_encoder.texts_encoded == unique and counting_encoder.calls == 1  # no model call at all
    assert again["cached"].all()
    assert again.drop("cached").equals(first.drop("cached"))


def test_market_text_shared_by_two_symbols_is_embedded_once(tmp_path, rows, counting_encoder):
    market = rows.group_by("item_id").agg(pl.col("symbol").n_unique().alias("n")).filter(pl.col("n") == 2)
    assert market.height > 100  # market-wide text (and cross-mentions) sit in both partitions
    out, stats = embed_rows(rows, counting_encoder, EmbeddingCache(str(tmp_path), counting_encoder.model_version, 384))
    written = rows.filter(pl.col("text").is_not_null())
    assert out.height == written.height and stats.texts_embedded == written["text"].n_unique() < written.height
    assert len(counting_encoder.seen) == len(set(counting_encoder.seen))
    # The same texts across two runs (BTC first, then ETH) are embedded once too.
    other = EmbeddingCache(str(tmp_path / "two_runs"), counting_encoder.model_version, 384)
    _, btc = embed_rows(rows.filter(pl.col("symbol") == "BTC-USDT"), counting_encoder, other)
    _, eth = embed_rows(rows.filter(pl.col("symbol") == "ETH-USDT"), counting_encoder, other)
    eth_texts = set(written.filter(pl.col("symbol") == "ETH-USDT")["text"])
    btc_texts = set(written.filter(pl.col("symbol") == "BTC-USDT")["text"])
    assert eth.cache_hits == len(eth_texts & btc_texts) > 100
    assert eth.texts_embedded == len(eth_texts - btc_texts)
    # Partitions get their own rows back, with the hash of their own text.
    for part, frame in split_partitions(out, parts_for([DAY1, DAY2], ["BTC-USDT", "ETH-USDT"])):
        expected = written.filter((pl.col("symbol") == part.symbol) & (pl.col("created_at").dt.date() == part.day))
        assert frame["item_id"].to_list() == expected["item_id"].to_list()
        assert frame["text_sha256"].to_list() == [sha256_text(x) for x in expected["text"]]


def test_cache_is_keyed_by_model_version(tmp_path, rows, counting_encoder):
    sample = rows.drop_nulls("text").head(20)
    embed_rows(sample, counting_encoder, EmbeddingCache(str(tmp_path), counting_encoder.model_version, 384))
    from quant_assets_tests.text.conftest import CountingEncoder

    other = CountingEncoder(version="fake-model@2")
    _, stats = embed_rows(sample, other, EmbeddingCache(str(tmp_path), other.model_version, 384))
    assert stats.cache_hits == 0 and stats.texts_embedded == sample["text"].n_unique()


def test_real_model_matches_a_bare_sentence_transformer_offline(tmp_path, rows, real_encoder, monkeypatch):
    from sentence_transformers import SentenceTransformer

    sample = rows.drop_nulls("text").unique("text", keep="first").head(48)
    out, stats = embed_rows(sample, real_encoder, EmbeddingCache(str(tmp_path), real_encoder.model_version, real_encoder.dimensions))
    assert stats.texts_embedded == 48
    bare = SentenceTransformer(str(packaged_model_path()), device="cpu")
    expected = bare.encode(sample["text"].to_list(), convert_to_numpy=True)
    got = out["embedding"].to_numpy()
    assert got.shape == (48, 384) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert vector_problems(out).is_empty()  # finite, unit length, one model version
    # Identity recorded in the metadata: name, weights hash, dimensions.
    weights = (packaged_model_path() / "model.safetensors").read_bytes()
    assert real_encoder.weights_sha256 == hashlib.sha256(weights).hexdigest()
    described = EmbeddingModel(cache_root=str(tmp_path)).describe(real_encoder)
    assert described["model_name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert described["dimensions"] == 384 and described["weights_sha256"] == real_encoder.weights_sha256
    assert real_encoder.weights_sha256[:16] in real_encoder.model_version
